"""Where an invoice becomes a Kleer invoice: the whole mapping to
``kleer_api.types.Invoice`` (currency, credit link, customer, references,
delivery, period, notes, files and PDF, rows, VAT, categories, addresses)
and its refusals. The exact row arithmetic is in ``kleer_api.rowplan``."""

import logging
from decimal import Decimal

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext

from ..kleer_api import KleerNotFound, ocr, rowplan
from ..kleer_api import types as kt
from ..kleer_api.money import to_decimal, to_ore
from .account_move import KLEER_MOVE_TYPES
from .errors import KleerMappingError, KleerWaitForOriginal
from .tools import customer_env, reader_env

_logger = logging.getLogger(__name__)

# Odoo's "invoice sending" → names of Kleer delivery types to look for.
DELIVERY_TYPES = {
    "email": ("Email", "E-post", "Epost"),
    "snailmail": ("Mail", "Brev", "Post"),
    "peppol": ("Efaktura", "E-faktura", "Peppol"),
}
RATE_DIGITS = 6  # currency-rate decimals sent to Kleer
PDF_BATCH = 20  # invoices rendered in one call (one wkhtmltopdf run)


def _dec(value):
    return to_decimal(value or 0.0)


class AccountMove(models.Model):
    _inherit = "account.move"

    def _kleer_foreign_id(self):
        self.ensure_one()
        # Same scheme as partners ("odoo-partner-<id>"): the id never changes.
        return f"odoo-move-{self.id}"

    def _kleer_refuse(self, message):
        raise KleerMappingError(
            reader_env(self)._("%(move)s: %(msg)s", move=self.display_name, msg=message)
        )

    def _kleer_invoice_payload(self, company, run, job=None, warnings=None):
        """The ``kleer_api.types.Invoice`` for this move; refuses (nothing
        sent) whatever a person must fix first."""
        self.ensure_one()
        move = self
        if move.move_type not in KLEER_MOVE_TYPES or move.state != "posted":
            move._kleer_refuse(
                reader_env(self)._("only confirmed customer invoices and credit notes go to Kleer.")
            )
        partner = move.commercial_partner_id
        if not partner.country_id:
            move._kleer_refuse(
                reader_env(self)._(
                    "the customer %(p)s has no country; Kleer needs it for VAT. Set it and "
                    "reprocess.",
                    p=partner.display_name,
                )
            )
        currency, rate = move._kleer_currency(company, run)
        debit_nr = (
            move._kleer_debit_invoice_nr(company, run) if move.move_type == "out_refund" else None
        )
        rows = move._kleer_rows(company, run)
        client_id = move._kleer_client_id(company, run, job)
        invoice_partner = move.partner_id
        shipping = move.partner_shipping_id
        return kt.Invoice(
            client_id=client_id,
            invoice_date=move.invoice_date,
            due_date=move.invoice_date_due or move.invoice_date,
            delivery_date=move.delivery_date or move.invoice_date,
            currency=currency,
            currency_rate=rate,
            debit_invoice_nr=debit_nr,
            rows=rows,
            foreign_id=move._kleer_foreign_id(),
            your_reference=(move.ref or "")[:255],
            our_reference_id=move._kleer_our_reference(company, run),
            invoice_address=_address(invoice_partner, run),
            invoice_email=(invoice_partner.email or partner.email or "").strip(),
            delivery_name=shipping.display_name if shipping and shipping != invoice_partner else "",
            delivery_address=_address(shipping, run)
            if shipping and shipping != invoice_partner
            else kt.Address(),
            period=move._kleer_period(company),
            notes=move._kleer_notes(run),
            delivery_type=move._kleer_delivery_type(company, run),
            files=move._kleer_files(warnings if warnings is not None else [], run),
        )

    def _kleer_currency(self, company, run):
        """(ISO code, rate or None). The rate sent is Odoo's on the invoice
        date, as units of the accounting currency for ONE unit of the invoice
        currency (1 EUR = 11.4250 SEK -> 11.425), Kleer's exchange-rate
        direction; none is sent for the accounting currency itself."""
        currency = self.currency_id

        def name_of(cur):  # read once per batch
            return run.cached(company, ("currency", cur.id), lambda: (cur.name or "").strip())

        code = name_of(currency)
        if len(code) != 3 or not code.isalpha() or not code.isupper():
            self._kleer_refuse(
                reader_env(self)._(
                    "the currency %(c)s is not an ISO 4217 code that Kleer knows.", c=code
                )
            )
        accounting = run.cached(
            company, "company_info", lambda: run.client(company).company_info()
        ).accounting_currency
        if accounting and accounting != name_of(company.currency_id):
            self._kleer_refuse(
                reader_env(self)._(
                    "Kleer keeps its books in %(k)s but this Odoo company in %(o)s: the amounts "
                    "would be wrong.",
                    k=accounting,
                    o=company.currency_id.name,
                )
            )
        if currency == company.currency_id:
            return code, None
        date = self.invoice_date or fields.Date.context_today(self)
        has_rate = (
            self.env["res.currency.rate"]
            .sudo()
            .search_count(
                [
                    ("currency_id", "=", currency.id),
                    ("name", "<=", date),
                    # Odoo 18 keeps rates on the root company (branches share them).
                    ("company_id", "in", (False, company.root_id.id)),
                ],
                limit=1,
            )
        )
        if not has_rate:
            self._kleer_refuse(
                reader_env(self)._(
                    "Odoo has no exchange rate for %(c)s on %(d)s: add one, reset and confirm the "
                    "invoice again.",
                    c=code,
                    d=date,
                )
            )
        rate = self.invoice_currency_rate  # invoice currency per company currency
        if not rate:
            self._kleer_refuse(reader_env(self)._("the exchange rate of %(c)s is zero.", c=code))
        return code, round(Decimal(1) / _dec(rate), RATE_DIGITS).normalize()

    def _kleer_debit_invoice_nr(self, company, run):
        """Invoice number in Kleer of the invoice this credit note credits.
        Waits (account_move_credit_wait.py) while that invoice is a draft in
        Kleer or still on its way there; refuses when it is not, or no
        longer, there."""
        origin = self.reversed_entry_id
        if not origin:
            self._kleer_refuse(
                reader_env(self)._(
                    "Kleer needs the invoice a credit note credits, and this credit note has none. "
                    "Create it from the invoice (Credit Note button on the invoice) and send that "
                    "one."
                )
            )
        origin = origin.with_env(self.env)
        if not origin.kleer_invoice_id:
            if origin._kleer_open_post_job():
                raise KleerWaitForOriginal(origin, certify_only=False)
            self._kleer_refuse(
                reader_env(self)._(
                    "it credits %(inv)s, which is not in Kleer. Send %(inv)s to Kleer (Send to "
                    "Kleer "
                    "button) and have it certified there, then press Reprocess on this credit "
                    "note.",
                    inv=origin.display_name,
                )
            )
        if not origin.kleer_certified or not origin.kleer_invoice_nr:
            # Perhaps certified in Kleer since it was sent as a draft, or
            # its number not fetched yet.
            try:
                remote = run.client(company).invoice(origin.kleer_invoice_id)
            except KleerNotFound:
                remote = None
            if remote is None or remote.disabled:
                self._kleer_refuse(
                    reader_env(self)._(
                        "it credits %(inv)s, which was deleted in Kleer (Kleer id %(id)s): "
                        "there is nothing there to credit. Credit it in Kleer by hand if "
                        "needed, then press Ignore on this credit note.",
                        inv=origin.display_name,
                        id=origin.kleer_invoice_id,
                    )
                )
            if not (remote.certified and remote.invoice_nr):
                raise KleerWaitForOriginal(origin, certify_only=True)
            origin._kleer_store(origin.kleer_invoice_id, remote)
            origin.kleer_state = "certified"
        return origin.kleer_invoice_nr

    def _kleer_open_post_job(self):
        self.ensure_one()
        return (
            self.env["kleer.job"]
            .sudo()
            .search_count(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "=", self.id),
                    ("operation", "=", "post"),
                    ("state", "in", ("pending", "sending", "failed")),
                ],
                limit=1,
            )
        )

    def _kleer_client_id(self, company, run, job=None):
        partner = self.commercial_partner_id.with_company(company)
        # Checked (created or updated) once per batch; a job that may have
        # reached Kleer before looks again.
        if job is not None and job.check_remote:
            run.forget(company, ("kleer_client", partner.id))
        return run.cached(
            company,
            ("kleer_client", partner.id),
            lambda: partner._kleer_ensure_client(company, run, job=job),
        )

    def _kleer_our_reference(self, company, run):
        user = self.invoice_user_id
        if not user:
            return 0
        return run.cached(
            company,
            ("kleer_user_id", user.id),
            lambda: self.env["kleer.user"]._kleer_id_for_user(user, company, run),
        )

    def _kleer_delivery_type(self, company, run):
        """The customer's Kleer delivery type when set, else one matching
        Odoo's "invoice sending"; None lets Kleer choose its default. Looked
        up once per customer in a batch."""
        return run.cached(
            company,
            ("delivery_type", self.partner_id.id, self.commercial_partner_id.id),
            lambda: self._kleer_delivery_type_of(company, run),
        )

    def _kleer_delivery_type_of(self, company, run):
        partner = self.commercial_partner_id.with_company(company)
        if partner.kleer_delivery_type:
            return partner.kleer_delivery_type
        method = (
            self.partner_id.with_company(company).invoice_sending_method
            or partner.invoice_sending_method
        )
        wanted = DELIVERY_TYPES.get(method)
        if not wanted:
            return None
        # Same cache entry (DeliveryType objects) as the customer push.
        names = [
            d.name
            for d in run.cached(
                company, "delivery_types", lambda: run.client(company).delivery_types()
            )
        ]
        by_lower = {name.lower(): name for name in names}
        for name in wanted:
            if name.lower() in by_lower:
                return by_lower[name.lower()]
        return None

    def _kleer_period(self, company):
        if not company.kleer_accrual or not (self.kleer_period_start and self.kleer_period_end):
            return None
        return (self.kleer_period_start, self.kleer_period_end)

    def _kleer_notes(self, run=None):
        notes = html2plaintext(self.narration or "").strip() if self.narration else ""
        company = self.company_id
        # Kleer has no OCR element: the reference printed on the Odoo PDF
        # (attached) is repeated here so that Kleer users can match payments.
        if (
            self.payment_reference
            and ocr.is_valid(self.payment_reference)
            and (
                run.cached(company, "country_code", lambda: company.country_id.code)
                if run
                else company.country_id.code
            )
            == "SE"
        ):
            notes = "\n".join(
                filter(None, [notes, customer_env(self)._("OCR: %s", self.payment_reference)])
            )
        return notes or None

    def _kleer_files(self, warnings, run=None):
        files = []
        pdf = self._kleer_pdf(warnings, run)
        if pdf:
            files.append(pdf)
        for attachment in self.kleer_attachment_ids.sudo():
            # The invoice's own only (the field's domain binds the form, not
            # RPC): sent as superuser, anything else may be what its linker
            # cannot read.
            if attachment.res_model != self._name or attachment.res_id != self.id:
                continue
            if attachment.raw:
                files.append(kt.File(attachment.name, attachment.raw))
        return files or None

    def _kleer_pdf(self, warnings, run=None):
        """The invoice PDF: the one Odoo issued when there is one, else
        rendered now and stored as Odoo's "Send & Print" stores it (so a
        re-send, a print or Odoo's own sending reuse it). Tests render HTML,
        as Odoo does in test mode: that is sent, never stored. In a batch
        (``run``) the next queued invoices without a PDF are rendered in the
        same call, as Odoo's own sending renders several invoices at once;
        each is stored by its own job, only if the invoice is unchanged."""
        if self.invoice_pdf_report_id:
            return kt.File(self.invoice_pdf_report_id.name, self.invoice_pdf_report_id.raw)
        rendered = run and run.take(self.company_id, ("pdf", self.id))
        if not rendered or rendered[0] != self.write_date:
            try:
                rendered = self._kleer_render_pdfs(run)[self.id]
            except UserError as exc:  # e.g. wkhtmltopdf missing: send without it
                _logger.warning("Kleer: no PDF for %s: %s", self.display_name, exc)
                warnings.append(reader_env(self)._("No PDF attached: %(e)s", e=exc))
                return None
        _write_date, report_type, data = rendered
        name = self._get_invoice_report_filename(extension=report_type)
        if report_type == "pdf":
            # account.move.send._link_invoice_documents: the attachment of the
            # binary field is the invoice's PDF (detached on reset to draft).
            self.env["ir.attachment"].sudo().create(
                {
                    "name": name,
                    "raw": data,
                    "mimetype": "application/pdf",
                    "res_model": self._name,
                    "res_id": self.id,
                    "res_field": "invoice_pdf_report_file",
                }
            )
            self.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])
        return kt.File(name, data)

    def _kleer_render_pdfs(self, run=None):
        """{move id: (write date, report type, bytes)} for this invoice and,
        in a batch, the next queued ones of its company that have no PDF (one
        rendering); those are kept in ``run`` for their jobs."""
        self.ensure_one()
        moves = self
        if run is not None and not run.cached(self.company_id, "pdf_one_by_one", lambda: False):
            ahead = run.upcoming(self.env, self.company_id, self._name, "post", PDF_BATCH - 1)
            moves |= (
                self.browse(ahead)
                .exists()
                .filtered(lambda m: m.state == "posted" and not m.invoice_pdf_report_id)
            )
        if len(moves) > 1:
            try:
                with self.env.cr.savepoint():
                    rendered = self._kleer_render_pdf_of(moves)
            except Exception:  # noqa: BLE001 - one of the others may be the cause
                # (wkhtmltopdf renders several documents only when it reaches
                # Odoo's web server for the assets): one by one, this batch.
                _logger.info("Kleer: PDFs of %s rendered one by one", moves.ids, exc_info=True)
                run.keep(self.company_id, "pdf_one_by_one", True)
            else:
                for move in moves - self:
                    run.keep(self.company_id, ("pdf", move.id), rendered[move.id])
                return rendered
        return self._kleer_render_pdf_of(self)

    def _kleer_render_pdf_of(self, moves):
        # The report reads each invoice's line taxes and tags on their own:
        # read them for all the invoices at once.
        moves.line_ids.mapped("tax_ids")
        moves.line_ids.mapped("tax_tag_ids")
        Report = self.env["ir.actions.report"].sudo().with_company(self.company_id)
        content, report_type = Report._pre_render_qweb_pdf("account.account_invoices", moves.ids)
        by_id = Report._get_splitted_report("account.account_invoices", content, report_type)
        return {m.id: (m.write_date, report_type, by_id[m.id]) for m in moves}

    def _kleer_rows(self, company, run):
        """Rows whose amounts Kleer computes exactly as Odoo booked them
        (see kleer_api.rowplan for the technique)."""
        sign = self.direction_sign  # -1 on invoices: revenue is a credit
        lines, vat_targets, sources = [], {}, {}
        for line in self._kleer_lines():
            if line.display_type in ("line_section", "line_note", "payment_term"):
                continue
            if line.display_type == "rounding" and line.tax_repartition_line_id:
                self._kleer_refuse(
                    reader_env(self)._(
                        "its cash rounding changes the tax amount, which Kleer cannot take (Kleer "
                        "computes "
                        'VAT from the rows). Use the cash rounding strategy "Add a rounding line".'
                    )
                )
            amount = self._kleer_ore(line.amount_currency) * sign
            if line.display_type == "tax":
                rate, _included = self._kleer_tax(line.tax_line_id, run)
                vat_targets[rate] = vat_targets.get(rate, 0) + amount
                continue
            if line.display_type not in ("product", "rounding"):
                continue
            if line.display_type == "rounding":
                lines.append(
                    rowplan.Line(line.id, Decimal(1), Decimal(amount) / 100, amount, Decimal(0))
                )
                sources[line.id] = line
                continue
            taxes = line.tax_ids
            if len(taxes) > 1:
                self._kleer_refuse(
                    reader_env(self)._(
                        'the line "%(l)s" has %(n)s taxes (%(t)s); Kleer takes one VAT rate per '
                        "row. "
                        "Use one tax per line.",
                        l=line.name or line.product_id.display_name,
                        n=len(taxes),
                        t=", ".join(taxes.mapped("name")),
                    )
                )
            rate, included = self._kleer_tax(taxes, run) if taxes else (Decimal(0), False)
            lines.append(
                rowplan.Line(
                    line.id,
                    _dec(line.quantity),
                    _dec(line.price_unit),
                    amount,
                    rate,
                    _dec(line.discount),
                    price_is_net=not included,
                )
            )
            sources[line.id] = line
        try:
            planned = rowplan.plan_rows(lines, vat_targets)
        except rowplan.RowPlanError as exc:
            self._kleer_refuse(
                reader_env(self)._("its amounts cannot be sent exactly: %(e)s", e=exc)
            )
        if self.move_type == "out_refund":
            rowplan.negate(planned)
        if not company._kleer_vat_unit():
            # 10 could mean 10 % or 1,000 %: while Kleer's unit is unknown a
            # discount goes in öre ("in cent" in the XSD), never a percentage.
            for row in planned:
                if row.discount_percentage is not None:
                    row.discount_absolute = row.gross() - row.net()
                    row.discount_percentage = None
        categories = run.cached(
            company,
            ("kleer_entries", self.commercial_partner_id.id),
            lambda: self._kleer_category_entries(company),
        )
        return [self._kleer_row(row, sources[row.key], company, run, categories) for row in planned]

    def _kleer_lines(self):
        """``line_ids`` (same order) in one query: reading the One2many
        costs two, its ids then their fields."""
        Line = self.env["account.move.line"]
        fnames = [
            name
            for name, field in Line._fields.items()
            if field.store and field.column_type and field.prefetch is True
        ]
        return Line.search_fetch([("move_id", "=", self.id)], fnames)

    def _kleer_ore(self, amount):
        try:
            return to_ore(_dec(amount))
        except ValueError:
            self._kleer_refuse(
                reader_env(self)._(
                    "the amount %(a)s cannot be represented in öre (cents) in Kleer.", a=amount
                )
            )

    def _kleer_tax(self, tax, run=None):
        """(VAT rate, price includes tax) of ``tax``, read once per batch."""

        def read():
            return self._kleer_tax_rate(tax), bool(tax.price_include)

        return run.cached(self.company_id, ("tax", tax.id), read) if run else read()

    def _kleer_tax_rate(self, tax):
        if tax.amount_type != "percent" or tax.children_tax_ids or tax.amount < 0:
            self._kleer_refuse(
                reader_env(self)._(
                    "the tax %(t)s is not a plain VAT percentage; Kleer takes a VAT rate per row "
                    "only.",
                    t=tax.name,
                )
            )
        return _dec(tax.amount).normalize()

    def _kleer_row(self, row, line, company, run, categories):
        product = self._kleer_row_product(line, company, run)
        description = line.name or line.product_id.display_name or ""
        if row.adjustment:
            description = customer_env(self)._("VAT rounding (%(d)s)", d=description[:60])
        elif row.note:
            description = f"{description} ({row.note})"
        return kt.InvoiceRow(
            product_id=product,
            quantity=row.quantity,
            price=row.price,
            vat=row.vat,
            unit=self._kleer_unit(line, run) if line.display_type == "product" else "",
            description=description,
            discount_percentage=row.discount_percentage,
            discount_absolute=row.discount_absolute,
            period=line._kleer_period(company) if line.display_type == "product" else None,
            dimension_entry_ids=list(categories),
        )

    def _kleer_unit(self, line, run):
        uom = line.product_uom_id
        return run.cached(self.company_id, ("uom", uom.id), lambda: uom.name or "")

    def _kleer_row_product(self, line, company, run):
        if line.display_type == "product" and line.product_id:
            product = line.product_id.with_company(company)
            # Its Kleer id, once known, is the same for every invoice of the batch.
            return run.cached(
                company,
                ("kleer_product", product.id),
                lambda: product._kleer_ensure_product(company, run),
            )
        default = company.kleer_default_product_id
        if not default:
            self._kleer_refuse(
                reader_env(self)._(
                    'the line "%(l)s" has no product and no default Kleer product is set. '
                    "Set one in Settings › Kleer (Default Kleer product).",
                    l=line.name or "",
                )
            )
        default = default.with_company(company)
        return run.cached(
            company,
            ("kleer_product", default.id),
            lambda: default._kleer_ensure_product(company, run),
        )

    def _kleer_category_entries(self, company):
        """Kleer dimension entries of the customer's tags: one per Kleer
        dimension (the tag with the lowest id wins), each 100 %."""
        seen, entries = set(), []
        tags = self.commercial_partner_id.category_id.with_company(company).sorted("id")
        for tag in tags:
            dimension = tag.kleer_dimension_id
            if tag.kleer_entry_id and (not dimension or dimension not in seen):
                seen.add(dimension)
                entries.append(tag.kleer_entry_id)
        return entries


def _address(partner, run=None):
    if not partner:
        return kt.Address()
    country = partner.country_id
    if run is not None:  # country names read once per batch
        name = run.cached(partner.env.company, ("country", country.id), lambda: country.name or "")
    else:
        name = country.name or ""
    return kt.Address(
        address1=partner.street or "",
        address2=partner.street2 or "",
        zip_code=partner.zip or "",
        state=partner.city or "",  # Kleer has no city element
        country=name,
    )
