"""Set-up shared by the invoice tests: a Swedish company (SEK, generic
chart) connected to the sandbox, taxes, products, a customer linked to a
seeded Kleer client; helpers that build invoices through Odoo's own form."""

from datetime import date

from odoo.tests import Form

from ..kleer_api import xmlcodec
from ..kleer_api.money import to_ore
from .common import KleerCase

SEEDED_CLIENT = 201  # "Kund AB" in the sandbox seed
SEEDED_PRODUCT = 101  # "Konsulttimme"
DEFAULT_PRODUCT = 104  # "Övrigt"
KLEER_USER = 2  # "Bertil Sälj"


class InvoiceCase(KleerCase):
    """A new test class of invoices needs no more than::

        class TestSomething(InvoiceCase):
            def test_it(self):
                move = self.consulting_invoice()  # confirmed, queued

    ``cls.company`` (SEK, connected to the sandbox, draft invoices),
    ``cls.customer`` and ``cls.consulting`` (linked to the sandbox's seeded
    client and product), taxes (``cls.vat25`` ...) and more products."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        sek = env.ref("base.SEK")
        sek.active = True
        env.user.groups_id |= (
            env.ref("account.group_cash_rounding")
            | env.ref("uom.group_uom")
            | env.ref("base.group_multi_currency")
        )
        company = cls.create_invoicing_company(
            "Kleer Faktura AB", country_id=env.ref("base.se").id, currency_id=sek.id
        )
        cls.env = env = env(context=dict(env.context, allowed_company_ids=[company.id]))
        company.currency_id = sek  # the generic chart brings USD; Kleer books in SEK
        cls.company = company
        # Odoo's own reference model; with l10n_se installed, Swedish journals
        # default to its "se_ocr2" (tested on its own).
        cls.sale_journal = env["account.journal"].search(
            [("type", "=", "sale"), ("company_id", "=", company.id)], limit=1
        )
        cls.sale_journal.invoice_reference_model = "odoo"

        def tax(name, amount, **kw):
            return env["account.tax"].create(
                dict(
                    {
                        "name": name,
                        "amount": amount,
                        "type_tax_use": "sale",
                        "company_id": company.id,
                    },
                    **kw,
                )
            )

        cls.vat25 = tax("Moms 25 %", 25)
        cls.vat12 = tax("Moms 12 %", 12)
        cls.vat6 = tax("Moms 6 %", 6)
        cls.vat0 = tax("Moms 0 %", 0)
        cls.vat25_incl = tax("Moms 25 % inkl.", 25, price_include_override="tax_included")
        cls.fixed_tax = tax("Miljöavgift", 5, amount_type="fixed")

        # The company's own products, priced in its kronor (a shared one
        # would be priced in the main company's currency, USD here).
        Product = env["product.product"].with_context(default_company_id=company.id)
        cls.consulting = Product.create(
            {"name": "Konsulttimme", "type": "service", "list_price": 1200}
        )
        cls.consulting.kleer_product_id = SEEDED_PRODUCT
        cls.book = Product.create({"name": "Bok", "default_code": "B-1", "list_price": 249.5})
        cls.other = Product.create({"name": "Övrigt", "list_price": 100})
        cls.other.kleer_product_id = DEFAULT_PRODUCT
        company.kleer_default_product_id = cls.other

        cls.customer = env["res.partner"].create(
            {
                "name": "Kund AB",
                "is_company": True,
                "street": "Storgatan 1",
                "zip": "111 22",
                "city": "Stockholm",
                "country_id": env.ref("base.se").id,
                "email": "faktura@kund.example.se",
            }
        )
        cls.customer.kleer_client_id = SEEDED_CLIENT
        if "kleer.user" in env:
            env["kleer.user"].create(
                {
                    "kleer_id": KLEER_USER,
                    "name": "Bertil Sälj",
                    "company_id": company.id,
                    "user_id": env.user.id,
                }
            )

    @classmethod
    def create_invoicing_company(cls, name, **vals):
        """A company of the current user with Odoo's generic chart, connected
        to the sandbox for draft invoices."""
        company = cls.create_company(name, **vals)
        cls.env.user.company_ids |= company
        cls.env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
        cls.configure_kleer(company, kleer_invoice_mode="draft")
        return company

    def eur_at_11_425(self):
        """EUR, active, at 11.425 SEK from 2026-03-01 (on ``self.company``)."""
        eur = self.env.ref("base.EUR")
        eur.active = True
        self.env["res.currency.rate"].create(
            {
                "currency_id": eur.id,
                "name": "2026-03-01",
                "company_id": self.company.id,
                "inverse_company_rate": 11.425,
            }
        )
        return eur

    # -- building invoices the way a user does -------------------------------

    def consulting_invoice(self, quantity=1, post=True, **header):
        """An invoice of one consulting line at 25 % VAT, confirmed unless
        ``post`` is false."""
        return self.make_invoice(
            [{"product_id": self.consulting, "quantity": quantity, "taxes": self.vat25}],
            post=post,
            **header,
        )

    def reverse(self, move):
        """A confirmed credit note of ``move``, made with its Credit Note button."""
        wizard = Form(
            self.env["account.move.reversal"].with_context(
                active_model="account.move", active_ids=move.ids
            )
        )
        wizard.reason = "Returned"
        wizard.journal_id = move.journal_id
        action = wizard.save().refund_moves()
        refund = self.env["account.move"].browse(action["res_id"])
        refund.action_post()
        return refund

    def make_invoice(self, lines, move_type="out_invoice", partner=None, post=True, **header):
        form = Form(self.env["account.move"].with_context(default_move_type=move_type))
        form.partner_id = partner or self.customer
        form.invoice_date = header.pop("invoice_date", date(2026, 3, 10))
        for field, value in header.items():
            setattr(form, field, value)
        for spec in lines:
            spec = dict(spec)
            taxes = spec.pop("taxes", None)
            with form.invoice_line_ids.new() as line:
                for field in ("product_id", "name", "quantity", "price_unit", "discount"):
                    if field in spec:
                        setattr(line, field, spec.pop(field))
                if taxes is not None:
                    line.tax_ids.clear()
                    for tax in taxes:
                        line.tax_ids.add(tax)
                for field, value in spec.items():
                    setattr(line, field, value)
        move = form.save()
        if post:
            move.action_post()
        return move

    # -- Kleer's faults ---------------------------------------------------------

    def refuse_invoices(self, message="Kunden är spärrad", times=1):
        """Kleer refuses the next ``times`` invoices (400, ``message``)."""
        self.sandbox.faults.add(
            "status",
            method="PUT",
            path="^/client/invoice$",
            status=400,
            message=message,
            times=times,
        )

    def lose_invoice_answer(self, move):
        """Kleer stores ``move`` but its answer is lost: the job waits to
        look for it in Kleer, due now. Returns the job."""
        self.sandbox.faults.add(
            "drop_after_store", method="PUT", path=r"^/client/invoice$", times=1
        )
        self.process_queue()
        job = self.job_of(move)
        self.assertTrue(job.check_remote)
        self.assertFalse(move.kleer_invoice_id)
        job.next_try = False
        return job

    # -- what Kleer received -------------------------------------------------

    def invoice_puts(self):
        return self.sent("PUT", "/client/invoice")

    def last_invoice_xml(self):
        puts = self.invoice_puts()
        self.assertTrue(puts, "no invoice reached Kleer")
        root = puts[-1].xml()
        xmlcodec.validate(root)  # the body is valid against Kleer's XSD
        return root

    def stored(self, move):
        return self.sandbox.state.invoice(self.sandbox.company_id, move.kleer_invoice_id)

    def assertTotalsEqual(self, move):
        """Kleer's amount and VAT (computed by the sandbox from the rows)
        equal Odoo's, to the öre; credit notes are negative in Kleer."""
        kleer = self.stored(move)
        sign = -1 if move.move_type == "out_refund" else 1
        self.assertEqual(int(kleer["amount"]), sign * to_ore(move.amount_untaxed), "untaxed amount")
        self.assertEqual(int(kleer["vat"]), sign * to_ore(move.amount_tax), "VAT")
        self.assertEqual(
            int(kleer["amount"]) + int(kleer["vat"]), sign * to_ore(move.amount_total), "total"
        )

    def job_of(self, move):
        return self.env["kleer.job"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", move.id)], order="id desc", limit=1
        )

    def open_log(self, move):
        return self.env["kleer.log"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", move.id), ("state", "=", "open")]
        )
