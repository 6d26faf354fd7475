"""Customer invoices and credit notes to Kleer.

Posting enqueues a ``post`` job (never a call to Kleer in the user's
transaction); the queue runs ``_kleer_job_post`` on a cursor of its own.
The mapping and its refusals live in ``_kleer_invoice_payload``; the exact
row arithmetic in ``kleer_api.rowplan``.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import html2plaintext

from ..kleer_api import KleerAmountMismatch, KleerError, KleerUnsupported, ocr, rowplan
from ..kleer_api import types as kt
from ..kleer_api.money import from_ore, to_decimal, to_ore
from .errors import CONCURRENCY_ERRORS, KleerMappingError
from .tools import (
    NUMBER_WINDOW_DAYS,
    NUMBER_WINDOW_PARAM,
    check_user_action,
    days_param,
    own_cursor,
)

_logger = logging.getLogger(__name__)

MOVE_STATES = [
    ("not_sent", "Not sent"),
    ("queued", "Queued"),
    ("draft", "Sent as draft"),
    ("certified", "Certified"),
    ("mismatch", "Draft: amounts differ"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
]
KLEER_MOVE_TYPES = ("out_invoice", "out_refund")
# Odoo's "invoice sending" → names of Kleer delivery types to look for.
DELIVERY_TYPES = {
    "email": ("Email", "E-post", "Epost"),
    "snailmail": ("Mail", "Brev", "Post"),
    "peppol": ("Efaktura", "E-faktura", "Peppol"),
}
RATE_DIGITS = 6  # currency-rate decimals sent to Kleer
NUMBER_ATTEMPTS = 3  # tries to store one Kleer invoice number
NUMBER_LOCK_TIMEOUT = 5.0  # seconds one try waits for a row lock


def _dec(value):
    return to_decimal(value or 0.0)


KLEER_STEERING_FIELDS = (
    "kleer_invoice_id",
    "kleer_invoice_nr",
    "kleer_certified",
    "kleer_certified_date",
    "kleer_check_remote",
)
# The connector's bookkeeping on an invoice: none of it touches the journal
# items, so such a write skips account's line sync and balance check and
# does not mark the invoice "manually modified".
KLEER_BOOKKEEPING_FIELDS = frozenset(KLEER_STEERING_FIELDS) | {"kleer_state", "kleer_last_error"}


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "kleer.history.mixin"]

    kleer_invoice_id = fields.Integer("Kleer invoice id", copy=False, readonly=True, index=True)
    kleer_invoice_nr = fields.Integer("Kleer invoice number", copy=False, readonly=True)
    kleer_certified = fields.Boolean("Certified in Kleer", copy=False, readonly=True)
    # When Odoo learnt it (set by write): bounds the invoice-number look-up.
    kleer_certified_date = fields.Datetime("Certified in Kleer on", copy=False, readonly=True)
    kleer_state = fields.Selection(
        MOVE_STATES, "Kleer state", copy=False, readonly=True, index=True, tracking=True
    )
    kleer_last_error = fields.Text("Last Kleer error", copy=False, readonly=True)
    kleer_check_remote = fields.Datetime(
        "May exist in Kleer since",
        copy=False,
        readonly=True,
        help="Kleer was asked to create this invoice and its answer is not known: it is "
        "looked up in Kleer before it is sent again, whichever job sends it.",
    )
    # The to-do of the person who must act on a refusal: one per invoice,
    # marked done when the invoice later reaches Kleer.
    kleer_activity_id = fields.Many2one("mail.activity", copy=False, readonly=True)
    kleer_retry_note = fields.Char(
        compute="_compute_kleer_retry_note", groups="kleer_connector.group_kleer_user"
    )
    # Odoo Community has no period on invoices: these are sent as Kleer
    # accrual periods when the company's accrual setting is on.
    kleer_period_start = fields.Date("Accrual period start", copy=False)
    kleer_period_end = fields.Date("Accrual period end", copy=False)
    kleer_attachment_ids = fields.Many2many(
        "ir.attachment",
        "account_move_kleer_attachment_rel",
        "move_id",
        "attachment_id",
        string="Also send to Kleer",
        copy=False,
        domain="[('res_model', '=', 'account.move'), ('res_id', '=', id)]",
        help="Attachments of this invoice sent to Kleer with its PDF.",
    )

    @api.constrains("kleer_period_start", "kleer_period_end")
    def _check_kleer_period(self):
        for move in self:
            if (
                move.kleer_period_start
                and move.kleer_period_end
                and move.kleer_period_start > move.kleer_period_end
            ):
                raise UserError(_("The accrual period ends before it starts."))

    # -- enqueueing ----------------------------------------------------------

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._kleer_enqueue(auto=True)
        return posted

    def _kleer_sendable(self):
        return self.filtered(
            lambda m: (
                m.state == "posted"
                and m.move_type in KLEER_MOVE_TYPES
                and m.company_id._kleer_is_configured()
            )
        )

    def _kleer_enqueue(self, auto=False):
        """Queue a ``post`` job per invoice (the queue is idempotent)."""
        moves = self._kleer_sendable()
        if auto:
            moves = moves.filtered(lambda m: m.kleer_state not in ("draft", "certified"))
        Job = self.env["kleer.job"].sudo()
        for company in moves.company_id:
            Job._enqueue(
                moves.filtered(lambda m, c=company: m.company_id == c), "post", company=company
            )
        return moves

    def action_kleer_send(self):
        """ "Send to Kleer" (button and list action): invoices posted before
        the connection existed, or a retry after a fix."""
        check_user_action(self)
        self.check_access("write")
        todo = self._kleer_sendable().filtered(lambda m: not m.kleer_certified)
        if not todo:
            raise UserError(
                _(
                    "Nothing to send: only confirmed customer invoices and credit notes of a "
                    "company connected to Kleer, not yet certified there, can be sent."
                )
            )
        todo._kleer_enqueue()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": _("%(n)s invoice(s) queued for Kleer.", n=len(todo)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def write(self, vals):
        # What the queue does with an invoice (update, certify, adopt) follows
        # these: only the connector's own code, as superuser, sets them.
        steering = sorted(set(vals) & set(KLEER_STEERING_FIELDS))
        if steering and not self.env.su:
            raise AccessError(
                _("Only the Kleer connector sets %(fields)s.", fields=", ".join(steering))
            )
        if vals.get("kleer_certified") and "kleer_certified_date" not in vals:
            vals = dict(vals, kleer_certified_date=fields.Datetime.now())
        if vals and set(vals) <= KLEER_BOOKKEEPING_FIELDS:
            self = self.with_context(  # noqa: PLW0642 - only this write
                check_move_validity=False,
                skip_invoice_sync=True,
                skip_account_move_synchronization=True,
                skip_is_manually_modified=True,
            )
        return super().write(vals)

    # -- reset to draft ---------------------------------------------------------

    def button_draft(self):
        """An invoice Kleer holds (or may hold) cannot be changed in Odoo
        alone: Odoo and Kleer would then disagree silently. One not sent yet
        may be reset; its waiting job is cancelled, and confirming it again
        queues a new one."""
        invoices = self.filtered(lambda m: m.move_type in KLEER_MOVE_TYPES)
        jobs = invoices._kleer_check_draftable()
        res = super().button_draft()
        if jobs:
            # Writing the job rows (not only reading them) makes this reset and
            # a worker's claim exclude each other: whichever commits second
            # fails on the row and retries, and then sees the other's state.
            jobs.log_ids.filtered(lambda log: log.state == "open").write({"state": "ignored"})
            jobs.write(
                {"state": "ignored", "last_error": _("The invoice was reset to draft in Odoo.")}
            )
            invoices.filtered("kleer_state").write({"kleer_state": "not_sent"})
        return res

    def _kleer_check_draftable(self):
        """Refuse a reset of invoices Kleer holds or may hold; returns their
        open ``post`` jobs, which nothing has sent yet."""
        jobs = (
            self.env["kleer.job"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", self.ids),
                    ("operation", "=", "post"),
                    ("state", "in", ("pending", "sending", "failed")),
                ]
            )
        )
        for move in self:
            if move.kleer_certified:
                raise UserError(
                    _(
                        "%(move)s is certified in Kleer (invoice number %(nr)s) and cannot be "
                        "changed there any more. Issue a credit note (Credit Note button) and, "
                        "if needed, a new invoice.",
                        move=move.display_name,
                        nr=move.kleer_invoice_nr or "-",
                    )
                )
            if move.kleer_invoice_id:
                raise UserError(
                    _(
                        "%(move)s is already in Kleer as a draft (Kleer id %(id)s). Changing it "
                        "in Odoo would not change Kleer's copy. Correct it in Kleer, or certify "
                        "it there and issue a credit note from Odoo.",
                        move=move.display_name,
                        id=move.kleer_invoice_id,
                    )
                )
            if jobs.filtered(
                lambda j, m=move: j.res_id == m.id and (j.state == "sending" or j.check_remote)
            ):
                raise UserError(
                    _(
                        "%(move)s is being sent to Kleer, or an attempt may have reached Kleer: "
                        "wait until the queue has checked (its Kleer state shows the outcome), "
                        "then try again.",
                        move=move.display_name,
                    )
                )
            if move.kleer_check_remote and not move.kleer_invoice_id:
                # No job waits (e.g. it was ignored), but the doubt stays.
                raise UserError(
                    _(
                        "An attempt to send %(move)s may have reached Kleer and its answer was "
                        "lost. Press Send to Kleer first: the queue looks for it in Kleer before "
                        "anything else.",
                        move=move.display_name,
                    )
                )
        return jobs

    def _compute_kleer_retry_note(self):
        """ "Kleer answered …; next try 14:05" while a job waits to retry,
        in the reader's time zone (computed per reader, not stored)."""
        jobs = (
            self.env["kleer.job"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self.ids),
                    ("state", "=", "pending"),
                    ("next_try", "!=", False),
                    ("last_error", "!=", False),
                ]
            )
        )
        by_move = {job.res_id: job for job in jobs}
        for move in self:
            job = by_move.get(move.id)
            if not job:
                move.kleer_retry_note = False
                continue
            when = fields.Datetime.context_timestamp(move, job.next_try)
            today = fields.Datetime.context_timestamp(move, fields.Datetime.now()).date()
            fmt = "%H:%M" if when.date() == today else "%Y-%m-%d %H:%M"
            move.kleer_retry_note = self.env._(
                "%(error)s; next try %(when)s", error=job.last_error, when=when.strftime(fmt)
            )

    def _kleer_schedule_activity(self, message):
        """A to-do for the Kleer responsible (else the invoice's creator),
        once per invoice: a later failure updates its note."""
        for move in self:
            activity = move.kleer_activity_id.exists().filtered("active")
            if activity:
                activity.note = message
                continue
            user = move.company_id.kleer_responsible_id or move.create_uid
            if not user.active or user.share:
                user = move.company_id.kleer_responsible_id or self.env.ref("base.user_admin")
            move.kleer_activity_id = move.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Kleer did not take this invoice"),
                note=message,
                user_id=user.id,
            )

    def _kleer_on_job_state(self, job, state, message=None):
        for move in self:
            vals = {}
            if state == "failed":
                # A draft whose amounts Kleer computes otherwise says so.
                failed = "mismatch" if job.error_kind == "amount_mismatch" else "failed"
                vals = {"kleer_state": failed, "kleer_last_error": message}
            elif state in ("queued", "ignored"):
                vals = {"kleer_state": state}
            elif state in ("draft", "certified", "done"):
                vals = {
                    "kleer_state": "certified" if move.kleer_certified else "draft",
                    "kleer_last_error": False,
                }
            if vals:
                move.write(vals)
            if state == "failed":
                move._kleer_schedule_activity(message or job.last_error or "")
            elif state in ("draft", "certified", "done") and move.kleer_activity_id.exists().active:
                move.kleer_activity_id.action_feedback(feedback=self.env._("Sent to Kleer."))
                move.kleer_activity_id = False
            if state == "failed" and message:
                move.message_post(
                    body=_("Kleer: sending failed: %(msg)s", msg=message),
                    subtype_xmlid="mail.mt_note",
                )
            elif state in ("draft", "certified") and message:
                move.message_post(body=message, subtype_xmlid="mail.mt_note")

    # -- OCR -----------------------------------------------------------------

    def _kleer_wants_ocr(self):
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.company_id.country_id.code == "SE"
            and self.company_id._kleer_is_configured()
        )

    def _get_invoice_computed_reference(self):
        """Swedish invoices of a Kleer company get a valid OCR reference:
        l10n_se's own models are kept when the journal chooses one (its
        level-3 length digit corrected), anything else becomes an OCR with
        length digit and Luhn check digit."""
        ref = super()._get_invoice_computed_reference()
        if not ref or not self._kleer_wants_ocr():
            return ref
        model = self.journal_id.invoice_reference_model
        if model == "se_ocr3":
            if not ocr.is_valid(ref, length_digit=True):
                ref = ocr.with_length_digit(ref[:-2])
            return ref
        if model in ("se_ocr2", "se_ocr4") and ocr.is_valid(ref):
            return ref
        if self.journal_id.invoice_reference_type == "partner":
            partner = self.partner_id.commercial_partner_id
            base = partner.ref if (partner.ref or "").isdigit() else str(partner.id)
        else:
            base = str(self.id)
        return ocr.with_length_digit(base)

    # -- the job -------------------------------------------------------------

    def _kleer_foreign_id(self):
        self.ensure_one()
        # Same scheme as partners ("odoo-partner-<id>"): the id never changes.
        return f"odoo-move-{self.id}"

    def _kleer_job_post(self, job, run):
        """Create the invoice in Kleer (once), certify it when the settings
        say so. Every Kleer id is committed the moment Kleer gives it. The
        messages use ``job``'s language, the reader's (see kleer.job)."""
        self.ensure_one()
        move = self
        company = job.company_id
        client = run.client(company)
        certify = company.kleer_invoice_mode == "certified"
        if not move.kleer_invoice_id and (job.check_remote or move.kleer_check_remote):
            found = client.find_invoices_by_foreign_id(move._kleer_foreign_id(), move.invoice_date)
            # One a user deleted in Kleer is not this invoice's home.
            found = [invoice for invoice in found if not invoice.disabled]
            if found:
                move._kleer_store(found[0].id, found[0])
                job._commit()
        created, warnings = False, []
        if not move.kleer_invoice_id:
            invoice = move._kleer_invoice_payload(company, run, job, warnings)
            kleer_id = job._create_in_kleer(move, lambda: client.create_invoice(invoice))
            move._kleer_store(kleer_id)
            job._commit()
            created = True
        not_certified = None
        if certify and not move.kleer_certified:
            # Read back: certified meanwhile (or a certify whose answer was
            # lost)? Else Kleer's own amounts are checked before certifying.
            remote = client.invoice(move.kleer_invoice_id)
            move._kleer_store(move.kleer_invoice_id, remote)
            job._commit()
            if not move.kleer_certified:
                move._kleer_check_before_certify(remote, client)
                try:
                    client.certify_invoice(move.kleer_invoice_id)
                except KleerUnsupported as exc:
                    # No such call: one draft, one message, no retry loop.
                    not_certified = job.env._(
                        "Not certified: %(e)s. Certify it in Kleer; it was stored as a draft "
                        "(or choose another certify call in the Kleer settings).",
                        e=exc,
                    )
                else:
                    move._kleer_store_certified(client)
                    job._commit()
        if move.kleer_certified:
            message = job.env._(
                "Certified in Kleer (Kleer id %(id)s); its Kleer invoice number follows shortly.",
                id=move.kleer_invoice_id,
            )
            if move.kleer_invoice_nr:
                message = job.env._(
                    "Certified in Kleer as invoice number %(nr)s (Kleer id %(id)s).",
                    nr=move.kleer_invoice_nr,
                    id=move.kleer_invoice_id,
                )
            state = "certified"
        else:
            message = job.env._(
                "Sent to Kleer as a draft (Kleer id %(id)s): certify it in Kleer. Changes "
                "made there later are not reflected back in Odoo.",
                id=move.kleer_invoice_id,
            )
            state = "draft"
        if not created and not job.check_remote and state == "draft" and not not_certified:
            message = job.env._(
                "Already in Kleer (id %(id)s); nothing sent.", id=move.kleer_invoice_id
            )
        if not_certified:
            message = "\n".join([message, not_certified])
        if warnings:
            message = "\n".join([message, *warnings])
        return {"kleer_id": move.kleer_invoice_id, "state": state, "message": message}

    @api.model
    def _cron_kleer_invoice_numbers(self):
        for company in self.env["res.company"]._kleer_companies():
            try:
                client = company._kleer_client()
                try:
                    self.with_company(company)._kleer_fetch_invoice_numbers(company, client)
                finally:
                    client.close()
            except KleerError as exc:  # the next run tries again
                _logger.warning("Kleer: invoice numbers of %s not fetched: %s", company.name, exc)

    @api.model
    def _kleer_fetch_invoice_numbers(self, company, client):
        """Store Kleer's number on certified invoices that lack it, reading
        Kleer's certified invoices of those dates page by page (one request
        per page, not one per invoice). Only invoices certified in the last
        days (``kleer_connector.invoice_number_days``) are looked for, so one
        that never gets its number cannot stretch every run back to its date."""
        days = days_param(self.env, NUMBER_WINDOW_PARAM, NUMBER_WINDOW_DAYS)
        since = fields.Datetime.now() - timedelta(days=days)
        self._kleer_log_numbers_out_of_window(company, since, days)
        moves = self.search(
            [
                ("company_id", "=", company.id),
                ("kleer_certified", "=", True),
                ("kleer_invoice_nr", "=", 0),
                ("kleer_invoice_id", "!=", 0),
                ("kleer_certified_date", ">=", since),
            ]
        )
        if not moves:
            return 0
        by_kleer_id = {m.kleer_invoice_id: m for m in moves}
        dates = moves.mapped("invoice_date")
        found = 0
        for invoice in client.iter_invoices(
            filter="certified", date_from=min(dates), date_to=max(dates)
        ):
            move = by_kleer_id.pop(invoice.id, None)
            if move and invoice.invoice_nr and move._kleer_store_number(invoice.invoice_nr):
                found += 1
            if not by_kleer_id:
                break
        moves.invalidate_recordset(["kleer_invoice_nr"])
        return found

    @api.model
    def _kleer_log_numbers_out_of_window(self, company, since, days):
        """Invoices certified before the window still without their Kleer
        number: one open log entry each, for a person, written once."""
        moves = self.search(
            [
                ("company_id", "=", company.id),
                ("kleer_certified", "=", True),
                ("kleer_invoice_nr", "=", 0),
                ("kleer_invoice_id", "!=", 0),
                ("kleer_certified_date", "<", since),
            ]
        )
        logged = set(
            self.env["kleer.log"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", moves.ids),
                    ("operation", "=", "invoice_number"),
                ]
            )
            .mapped("res_id")
        )
        for move in moves.filtered(lambda m: m.id not in logged):
            self.env["kleer.log"]._log_isolated(
                {
                    "company_id": company.id,
                    "direction": "in",
                    "operation": "invoice_number",
                    "res_model": "account.move",
                    "res_id": move.id,
                    "record_name": move.display_name,
                    "kleer_id": move.kleer_invoice_id,
                    "level": "warning",
                    "state": "open",
                    "error_kind": "not_found",
                    "message": _(
                        "Certified in Kleer (Kleer id %(id)s) on %(date)s, but its Kleer "
                        "invoice number was not found, and it is no longer looked for after "
                        "%(days)s days. Check the invoice in Kleer.",
                        id=move.kleer_invoice_id,
                        date=move.kleer_certified_date,
                        days=days,
                    ),
                }
            )

    def _kleer_store_number(self, number):
        """Store Kleer's invoice number in a transaction of its own: a send
        job writing this invoice at the same moment costs this invoice a
        retry (or, failing that, the next run), never the numbers stored
        before it. Returns whether it was stored."""
        self.ensure_one()
        error = None
        for _attempt in range(NUMBER_ATTEMPTS):
            try:
                with own_cursor(self.env) as env:
                    # Wait for a send job's short transaction, not for ever.
                    timeout_ms = int(NUMBER_LOCK_TIMEOUT * 1000)
                    env.cr.execute("SET LOCAL lock_timeout = %s", (timeout_ms,))
                    # Expected failures: not logged as bad queries.
                    env.cr.execute(
                        "UPDATE account_move SET kleer_invoice_nr = %s WHERE id = %s",
                        (number, self.id),
                        log_exceptions=False,
                    )
                return True
            except CONCURRENCY_ERRORS as exc:
                error = exc
        self.env["kleer.log"]._log_isolated(
            {
                "company_id": self.company_id.id,
                "operation": "invoice_number_retry",
                "res_model": self._name,
                "res_id": self.id,
                "record_name": self.display_name,
                "kleer_id": self.kleer_invoice_id,
                "level": "warning",
                "state": "done",
                "error_kind": "transient",
                "message": _(
                    "Kleer invoice number %(nr)s not stored (the invoice was being written "
                    "elsewhere: %(e)s); the next run tries again.",
                    nr=number,
                    e=error,
                ),
            }
        )
        return False

    def _kleer_check_before_certify(self, remote, client):
        """Certify only what Kleer holds as Odoo booked it: not deleted, and
        Kleer's own amount and VAT equal to Odoo's, to the öre (credit notes
        are negative in Kleer)."""
        self.ensure_one()
        if remote.disabled:
            self._kleer_refuse(
                _(
                    "it was deleted in Kleer (Kleer id %(id)s) and is not certified.",
                    id=remote.id,
                )
            )
        sign = -1 if self.move_type == "out_refund" else 1
        odoo = (sign * to_ore(self.amount_untaxed), sign * to_ore(self.amount_tax))
        kleer = (remote.amount, remote.vat_amount)
        if kleer == odoo:
            return
        currency = self.currency_id.name

        def fmt(ore):
            return "?" if ore is None else f"{from_ore(ore)} {currency}"

        exchange = client.last_exchange
        raise KleerAmountMismatch(
            _(
                "%(move)s: Kleer computes %(ka)s excl. VAT and %(kv)s VAT where Odoo booked "
                "%(oa)s and %(ov)s. Not certified: it stays a draft in Kleer (Kleer id %(id)s). "
                "Check the Kleer VAT unit in the settings, or correct the draft in Kleer, then "
                "Reprocess.",
                move=self.display_name,
                ka=fmt(kleer[0]),
                kv=fmt(kleer[1]),
                oa=fmt(odoo[0]),
                ov=fmt(odoo[1]),
                id=remote.id,
            ),
            method=exchange.method if exchange else None,
            url=exchange.url if exchange else None,
            status=exchange.status if exchange else None,
            response_body=exchange.response_body if exchange else None,
        )

    def _kleer_store_certified(self, client):
        """After certify: Kleer must show the invoice certified and numbered."""
        self.ensure_one()
        after = client.invoice(self.kleer_invoice_id)
        if not after.certified or not after.invoice_nr:
            raise KleerUnsupported(
                _(
                    "Kleer accepted the certify call but shows invoice %(id)s %(what)s: the call "
                    "may not be the one that certifies. Not retried: check it in Kleer (and the "
                    "certify call in the Kleer settings), then Reprocess.",
                    id=self.kleer_invoice_id,
                    what=_("without an invoice number")
                    if after.certified
                    else _("still uncertified"),
                ),
                method=client.last_exchange.method,
                url=client.last_exchange.url,
                status=client.last_exchange.status,
                response_body=client.last_exchange.response_body,
            )
        self._kleer_store(self.kleer_invoice_id, after)

    def _kleer_store(self, kleer_id, invoice=None):
        vals = {"kleer_invoice_id": kleer_id, "kleer_check_remote": False}
        if invoice is not None:
            vals.update(
                kleer_certified=bool(invoice.certified), kleer_invoice_nr=invoice.invoice_nr or 0
            )
        self.write(vals)

    # -- the mapping ---------------------------------------------------------

    def _kleer_refuse(self, message):
        raise KleerMappingError(_("%(move)s: %(msg)s", move=self.display_name, msg=message))

    def _kleer_invoice_payload(self, company, run, job=None, warnings=None):
        """The ``kleer_api.types.Invoice`` for this move; refuses (nothing
        sent) whatever a person must fix first."""
        self.ensure_one()
        move = self
        if move.move_type not in KLEER_MOVE_TYPES or move.state != "posted":
            move._kleer_refuse(_("only confirmed customer invoices and credit notes go to Kleer."))
        partner = move.commercial_partner_id
        if not partner.country_id:
            move._kleer_refuse(
                _(
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
            invoice_address=_address(invoice_partner),
            invoice_email=(invoice_partner.email or partner.email or "").strip(),
            delivery_name=shipping.display_name if shipping and shipping != invoice_partner else "",
            delivery_address=_address(shipping)
            if shipping and shipping != invoice_partner
            else kt.Address(),
            period=move._kleer_period(company),
            notes=move._kleer_notes(),
            delivery_type=move._kleer_delivery_type(company, run),
            files=move._kleer_files(warnings if warnings is not None else []),
        )

    def _kleer_currency(self, company, run):
        """(ISO code, rate or None). The rate sent is Odoo's on the invoice
        date, as units of the accounting currency for ONE unit of the invoice
        currency (1 EUR = 11.4250 SEK -> 11.425), Kleer's exchange-rate
        direction; none is sent for the accounting currency itself."""
        currency = self.currency_id
        code = (currency.name or "").strip()
        if len(code) != 3 or not code.isalpha() or not code.isupper():
            self._kleer_refuse(
                _("the currency %(c)s is not an ISO 4217 code that Kleer knows.", c=code)
            )
        accounting = run.cached(
            company, "company_info", lambda: run.client(company).company_info()
        ).accounting_currency
        if accounting and accounting != company.currency_id.name:
            self._kleer_refuse(
                _(
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
                _(
                    "Odoo has no exchange rate for %(c)s on %(d)s: add one, reset and confirm the "
                    "invoice again.",
                    c=code,
                    d=date,
                )
            )
        rate = self.invoice_currency_rate  # invoice currency per company currency
        if not rate:
            self._kleer_refuse(_("the exchange rate of %(c)s is zero.", c=code))
        return code, round(Decimal(1) / _dec(rate), RATE_DIGITS).normalize()

    def _kleer_debit_invoice_nr(self, company, run):
        """Invoice number in Kleer of the invoice this credit note credits."""
        origin = self.reversed_entry_id
        if not origin:
            self._kleer_refuse(
                _(
                    "Kleer needs the invoice a credit note credits, and this credit note has none. "
                    "Create it from the invoice (Credit Note button on the invoice) and send that "
                    "one."
                )
            )
        origin = origin.with_env(self.env)
        if not origin.kleer_invoice_id:
            self._kleer_refuse(
                _(
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
            remote = run.client(company).invoice(origin.kleer_invoice_id)
            if remote.certified:
                origin._kleer_store(origin.kleer_invoice_id, remote)
                origin.kleer_state = "certified"
        if not origin.kleer_certified or not origin.kleer_invoice_nr:
            self._kleer_refuse(
                _(
                    "it credits %(inv)s, which is only a draft in Kleer (Kleer id %(id)s): Kleer "
                    "credits "
                    "certified invoices only. Certify it in Kleer, then press Reprocess on this "
                    "credit note.",
                    inv=origin.display_name,
                    id=origin.kleer_invoice_id,
                )
            )
        return origin.kleer_invoice_nr

    def _kleer_client_id(self, company, run, job=None):
        partner = self.commercial_partner_id.with_company(company)
        if hasattr(partner, "_kleer_ensure_client"):
            return partner._kleer_ensure_client(company, run, job=job)
        if partner.kleer_client_id:
            return partner.kleer_client_id
        self._kleer_refuse(
            _("the customer %(p)s is not linked to a Kleer client.", p=partner.display_name)
        )

    def _kleer_our_reference(self, company, run):
        user = self.invoice_user_id
        if not user or "kleer.user" not in self.env:
            return 0
        return run.cached(
            company,
            ("kleer_user_id", user.id),
            lambda: self.env["kleer.user"]._kleer_id_for_user(user, company, run),
        )

    def _kleer_delivery_type(self, company, run):
        """The customer's Kleer delivery type when set, else one matching
        Odoo's "invoice sending"; None lets Kleer choose its default."""
        partner = self.commercial_partner_id.with_company(company)
        if "kleer_delivery_type" in partner._fields and partner.kleer_delivery_type:
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

    def _kleer_notes(self):
        notes = html2plaintext(self.narration or "").strip() if self.narration else ""
        # Kleer has no OCR element: the reference printed on the Odoo PDF
        # (attached) is repeated here so that Kleer users can match payments.
        if (
            self.payment_reference
            and ocr.is_valid(self.payment_reference)
            and self.company_id.country_id.code == "SE"
        ):
            notes = "\n".join(filter(None, [notes, _("OCR: %s", self.payment_reference)]))
        return notes or None

    def _kleer_files(self, warnings):
        files = []
        pdf = self._kleer_pdf(warnings)
        if pdf:
            files.append(pdf)
        for attachment in self.kleer_attachment_ids.sudo():
            if attachment.raw:
                files.append(kt.File(attachment.name, attachment.raw))
        return files or None

    def _kleer_pdf(self, warnings):
        """The invoice PDF: the one Odoo issued when there is one, else
        rendered now and stored as Odoo's "Send & Print" stores it (so a
        re-send, a print or Odoo's own sending reuse it). Tests render HTML,
        as Odoo does in test mode: that is sent, never stored."""
        if self.invoice_pdf_report_id:
            return kt.File(self.invoice_pdf_report_id.name, self.invoice_pdf_report_id.raw)
        Report = self.env["ir.actions.report"].sudo()
        try:
            content, report_type = Report._pre_render_qweb_pdf("account.account_invoices", self.ids)
        except UserError as exc:  # e.g. wkhtmltopdf missing: send without it
            _logger.warning("Kleer: no PDF for %s: %s", self.display_name, exc)
            warnings.append(_("No PDF attached: %(e)s", e=exc))
            return None
        data = Report._get_splitted_report("account.account_invoices", content, report_type)[
            self.id
        ]
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

    # -- rows ----------------------------------------------------------------

    def _kleer_rows(self, company, run):
        """Rows whose amounts Kleer computes exactly as Odoo booked them
        (see kleer_api.rowplan for the technique)."""
        sign = self.direction_sign  # -1 on invoices: revenue is a credit
        lines, vat_targets, sources = [], {}, {}
        for line in self.line_ids:
            if line.display_type in ("line_section", "line_note", "payment_term"):
                continue
            if line.display_type == "rounding" and line.tax_repartition_line_id:
                self._kleer_refuse(
                    _(
                        "its cash rounding changes the tax amount, which Kleer cannot take (Kleer "
                        "computes "
                        'VAT from the rows). Use the cash rounding strategy "Add a rounding line".'
                    )
                )
            amount = self._kleer_ore(line.amount_currency) * sign
            if line.display_type == "tax":
                rate = self._kleer_tax_rate(line.tax_line_id)
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
                    _(
                        'the line "%(l)s" has %(n)s taxes (%(t)s); Kleer takes one VAT rate per '
                        "row. "
                        "Use one tax per line.",
                        l=line.name or line.product_id.display_name,
                        n=len(taxes),
                        t=", ".join(taxes.mapped("name")),
                    )
                )
            rate = self._kleer_tax_rate(taxes) if taxes else Decimal(0)
            lines.append(
                rowplan.Line(
                    line.id,
                    _dec(line.quantity),
                    _dec(line.price_unit),
                    amount,
                    rate,
                    _dec(line.discount),
                    price_is_net=not (taxes and taxes.price_include),
                )
            )
            sources[line.id] = line
        try:
            planned = rowplan.plan_rows(lines, vat_targets)
        except rowplan.RowPlanError as exc:
            self._kleer_refuse(_("its amounts cannot be sent exactly: %(e)s", e=exc))
        if self.move_type == "out_refund":
            rowplan.negate(planned)
        if not company._kleer_vat_unit():
            # 10 could mean 10 % or 1,000 %: while Kleer's unit is unknown a
            # discount goes in öre ("in cent" in the XSD), never a percentage.
            for row in planned:
                if row.discount_percentage is not None:
                    row.discount_absolute = row.gross() - row.net()
                    row.discount_percentage = None
        categories = self._kleer_category_entries(company)
        return [self._kleer_row(row, sources[row.key], company, run, categories) for row in planned]

    def _kleer_ore(self, amount):
        try:
            return to_ore(_dec(amount))
        except ValueError:
            self._kleer_refuse(
                _("the amount %(a)s cannot be represented in öre (cents) in Kleer.", a=amount)
            )

    def _kleer_tax_rate(self, tax):
        if tax.amount_type != "percent" or tax.children_tax_ids or tax.amount < 0:
            self._kleer_refuse(
                _(
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
            description = _("VAT rounding (%(d)s)", d=description[:60])
        elif row.note:
            description = f"{description} ({row.note})"
        return kt.InvoiceRow(
            product_id=product,
            quantity=row.quantity,
            price=row.price,
            vat=row.vat,
            unit=line.product_uom_id.name or "" if line.display_type == "product" else "",
            description=description,
            discount_percentage=row.discount_percentage,
            discount_absolute=row.discount_absolute,
            period=line._kleer_period(company) if line.display_type == "product" else None,
            dimension_entry_ids=list(categories),
        )

    def _kleer_row_product(self, line, company, run):
        if line.display_type == "product" and line.product_id:
            return line.product_id.with_company(company)._kleer_ensure_product(company, run)
        default = company.kleer_default_product_id
        if not default:
            self._kleer_refuse(
                _(
                    'the line "%(l)s" has no product and no default Kleer product is set. '
                    "Set one in Settings › Kleer (Default Kleer product).",
                    l=line.name or "",
                )
            )
        return default.with_company(company)._kleer_ensure_product(company, run)

    def _kleer_category_entries(self, company):
        """Kleer dimension entries of the customer's tags: one per Kleer
        dimension (the tag with the lowest id wins), each 100 %."""
        Category = self.env["res.partner.category"]
        if "kleer_entry_id" not in Category._fields:
            return []
        seen, entries = set(), []
        tags = self.commercial_partner_id.category_id.with_company(company).sorted("id")
        for tag in tags:
            dimension = tag.kleer_dimension_id if "kleer_dimension_id" in tag._fields else 0
            if tag.kleer_entry_id and (not dimension or dimension not in seen):
                seen.add(dimension)
                entries.append(tag.kleer_entry_id)
        return entries


def _address(partner):
    if not partner:
        return kt.Address()
    return kt.Address(
        address1=partner.street or "",
        address2=partner.street2 or "",
        zip_code=partner.zip or "",
        state=partner.city or "",  # Kleer has no city element
        country=partner.country_id.name or "",
    )
