"""The guesses about Kleer's API made safe (issue 10), in a real Odoo against
the sandbox: the VAT unit (found, chosen, or unknown), certification checked
against Kleer's own figures, reads that cannot mislead, and the unconfirmed
calls as settings probed by Test connection."""

from datetime import date
from decimal import Decimal

from odoo.tests import tagged

from ..kleer_api import types as kt
from . import test_invoice_post
from .test_invoice_common import InvoiceCase


def rows_of(root):
    return root.findall("rows/row")


def run_test_connection(company, sandbox, **choices):
    return company._kleer_test_connection(
        sandbox.base_url, str(sandbox.company_id), sandbox.token, **choices
    )


# -- the amount tests under Kleer's other VAT convention ----------------------


class FractionKleer:
    """A sandbox that writes VAT as 0.25; the company finds that the way a
    user does, with Test connection (it reads Kleer's products)."""

    sandbox_vat_unit = "fraction"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ok, message = run_test_connection(cls.company, cls.sandbox)
        if not ok or cls.company.kleer_vat_unit_detected != "fraction":
            raise AssertionError(f"the fraction convention was not found: {message}")


@tagged("post_install", "-at_install")
class TestInvoiceTotalsFraction(FractionKleer, test_invoice_post.TestInvoiceTotals):
    def test_rows_are_written_as_fractions(self):
        move = self.make_invoice(
            [
                {
                    "product_id": self.consulting,
                    "quantity": 3,
                    "discount": 10,
                    "taxes": self.vat25,
                },
                {"product_id": self.book, "quantity": 2, "taxes": self.vat6},
            ]
        )
        self.process_queue()
        rows = rows_of(self.last_invoice_xml())
        self.assertEqual([r.findtext("vat") for r in rows], ["0.25", "0.06"])
        # The unit is known: the user's discount percentage is kept.
        self.assertEqual(rows[0].findtext("discount/percentage"), "0.1")
        product_vat = self.sent("PUT", "/product")[0].xml().findtext("vat-percentage")
        self.assertTrue(0 < Decimal(product_vat) < 1, product_vat)
        self.assertTotalsEqual(move)


@tagged("post_install", "-at_install")
class TestInvoiceCreditNotesFraction(FractionKleer, test_invoice_post.TestInvoiceCreditNotes):
    pass


@tagged("post_install", "-at_install")
class TestVatUnitUnknown(InvoiceCase):
    """Nothing found, nothing chosen: VAT goes as a percent (the original
    choice), a discount only in öre, and certification checks the result."""

    sandbox_vat_unit = "fraction"

    def test_discount_in_ore_and_a_wrong_guess_is_never_certified(self):
        self.assertFalse(self.company._kleer_vat_unit())
        self.company.kleer_invoice_mode = "certified"
        move = self.make_invoice(
            [
                {
                    "product_id": self.consulting,
                    "quantity": 2,
                    "price_unit": 1000,
                    "discount": 10,
                    "taxes": self.vat25,
                }
            ]
        )
        self.process_queue()
        row = rows_of(self.last_invoice_xml())[0]
        self.assertIsNone(row.find("discount/percentage"))
        self.assertEqual(row.findtext("discount/absolute"), "20000")
        self.assertEqual(row.findtext("vat"), "25")
        # This Kleer reads 25 as 2,500 %: its VAT differs, so no certify.
        kleer = self.stored(move)
        self.assertEqual(kleer["amount"], "180000")
        self.assertEqual(kleer["vat"], str(180000 * 25))
        self.assertEqual(kleer["certified"], "false")
        self.assertFalse(self.sent("POST", f"/client/invoice/{move.kleer_invoice_id}/certify"))
        self.assertEqual(move.kleer_state, "mismatch")
        self.assertFalse(move.kleer_certified)
        log = self.open_log(move)
        self.assertEqual((len(log), log.error_kind), (1, "amount_mismatch"))
        self.assertIn("Kleer computes 1800.00 SEK excl. VAT and 45000.00 SEK VAT", log.message)
        self.assertIn("where Odoo booked 1800.00 SEK and 450.00 SEK", log.message)
        self.assertIn("stays a draft in Kleer", log.message)
        self.assertIn("<vat>4500000</vat>", log.response_body)
        self.assertEqual(self.job_of(move).state, "failed")
        # Reprocess: read again, still different, nothing sent twice.
        log.action_reprocess()
        self.process_queue()
        self.assertEqual(move.kleer_state, "mismatch")
        self.assertEqual(len(self.invoice_puts()), 1)
        self.assertFalse(self.sent("POST", f"/client/invoice/{move.kleer_invoice_id}/certify"))


# -- certification checked ------------------------------------------------------


@tagged("post_install", "-at_install")
class TestCertificationChecked(InvoiceCase):
    def setUp(self):
        super().setUp()
        self.company.kleer_invoice_mode = "certified"

    def invoice(self, **line):
        return self.make_invoice(
            [dict({"product_id": self.consulting, "quantity": 1, "taxes": self.vat25}, **line)]
        )

    def test_certified_after_checking_kleers_amounts(self):
        move = self.invoice(quantity=3)
        self.process_queue()
        path = f"/client/invoice/{move.kleer_invoice_id}"
        reads = self.sent("GET", path)
        self.assertEqual(len(reads), 2, "read back before and after certifying")
        self.assertTrue(all(r.query == {"ignoreFiles": "true"} for r in reads))
        kleer = self.stored(move)
        self.assertEqual(kleer["certified"], "true")
        self.assertEqual((move.kleer_state, move.kleer_invoice_nr), ("certified", 1001))
        self.assertEqual(int(kleer["invoice-nr"]), move.kleer_invoice_nr)

    def test_kleer_figures_differing_from_odoos_are_not_certified(self):
        # A VAT unit chosen wrongly: Kleer (percent) reads 0.25 as 0.25 %.
        self.company.kleer_vat_unit = "fraction"
        move = self.invoice()
        self.process_queue()
        self.assertEqual(self.stored(move)["certified"], "false")
        self.assertEqual(move.kleer_state, "mismatch")
        log = self.open_log(move)
        self.assertIn("Kleer computes 1200.00 SEK excl. VAT and 3.00 SEK VAT", log.message)
        self.assertIn("where Odoo booked 1200.00 SEK and 300.00 SEK", log.message)
        self.assertFalse([r for r in self.sandbox.requests if r.rel_path.endswith("/certify")])

    def test_credit_note_figures_are_compared_negative(self):
        move = self.invoice(quantity=2)
        self.process_queue()
        refund = test_invoice_post.TestInvoiceCreditNotes.reverse(self, move)
        self.process_queue()
        self.assertEqual(refund.kleer_state, "certified")
        self.assertEqual(self.stored(refund)["amount"], "-240000")

    def test_certify_call_that_does_not_exist(self):
        self.sandbox.faults.add("bare", method="POST", path="/certify$", status=404, times=None)
        move = self.invoice()
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        self.assertFalse(move.kleer_certified)
        job = self.job_of(move)
        self.assertEqual(job.state, "done", "no retry loop")
        said = "Certify it in Kleer; it was stored as a draft"
        self.assertTrue(job.log_ids.filtered(lambda log: said in (log.message or "")))
        certify_url = f"{self.company._kleer_base_url().rstrip('/')}/company/"
        self.assertTrue(
            job.log_ids.filtered(
                lambda log: (
                    f"\nNot certified: Kleer has no certify call POST {certify_url}"
                    in (log.message or "")
                    and "/certify (HTTP 404). Certify it in Kleer" in log.message
                )
            ),
            job.log_ids.mapped("message"),
        )
        self.assertTrue(move.message_ids.filtered(lambda msg: said in str(msg.body)))
        self.process_queue()
        certify_calls = [r for r in self.sandbox.requests if r.rel_path.endswith("/certify")]
        self.assertEqual(len(certify_calls), 1)
        self.assertEqual(self.stored(move)["certified"], "false")

    def test_certify_accepted_but_not_certified(self):
        self.sandbox.faults.add("ok", method="POST", path="/certify$")
        move = self.invoice()
        self.process_queue()
        self.assertFalse(move.kleer_certified)
        self.assertEqual(move.kleer_state, "failed")
        job = self.job_of(move)
        self.assertEqual((job.state, job.error_kind), ("failed", "unsupported"))
        self.assertIn("still uncertified", job.last_error)
        self.process_queue()
        self.assertEqual(len([r for r in self.sandbox.requests if "/certify" in r.rel_path]), 1)
        # Reprocess once the certify call works: certified, and still one invoice.
        job.action_reprocess()
        self.process_queue()
        self.assertEqual((move.kleer_state, move.kleer_invoice_nr), ("certified", 1001))
        self.assertEqual(len(self.invoice_puts()), 1)

    def test_certify_call_setting(self):
        self.company.kleer_certify_call = "post_approve"
        move = self.invoice()
        self.process_queue()
        self.assertEqual(
            [(r.method, r.rel_path) for r in self.sandbox.requests if r.method != "GET"][-1],
            ("POST", f"/client/invoice/{move.kleer_invoice_id}/approve"),
        )
        self.assertEqual(move.kleer_state, "certified")


# -- reads after an unknown outcome -------------------------------------------------


@tagged("post_install", "-at_install")
class TestLookupAfterUnknownOutcome(InvoiceCase):
    def puts_of(self, move):
        return [
            r
            for r in self.invoice_puts()
            if r.xml().findtext("foreign-id") == move._kleer_foreign_id()
        ]

    def lose_answer(self):
        move = self.consulting_invoice()
        return move, self.lose_invoice_answer(move)

    def test_deleted_kleer_invoice_is_not_adopted(self):
        move, _job = self.lose_answer()
        lost = int(self.sandbox.state.invoices(self.sandbox.company_id)[0]["id"])
        self.sandbox.state.disable_invoice(self.sandbox.company_id, lost)  # a user deleted it
        self.process_queue()
        self.assertEqual(len(self.invoice_puts()), 2, "sent again")
        self.assertTrue(move.kleer_invoice_id)
        self.assertNotEqual(move.kleer_invoice_id, lost)
        self.assertEqual(self.stored(move)["disabled"], "false")

    def fill_first_page(self):
        """100 other invoices of the same date: the lost one is on page 2
        (pages of 100, the invoice page being a system parameter)."""
        self.env["ir.config_parameter"].set_param("kleer_connector.invoice_page", "100")
        client = self.company._kleer_client()
        for n in range(100):
            client.create_invoice(
                kt.Invoice(
                    client_id=201,
                    invoice_date=date(2026, 3, 10),
                    due_date=date(2026, 4, 10),
                    currency="SEK",
                    foreign_id=f"other-{n}",
                    rows=[kt.InvoiceRow(product_id=101, quantity=1, price=100, vat=25)],
                )
            )
        client.close()

    def test_lost_invoice_found_on_page_two(self):
        self.fill_first_page()
        move, _job = self.lose_answer()
        self.process_queue()
        self.assertEqual(len(self.puts_of(move)), 1, "adopted, not sent again")
        self.assertEqual(self.stored(move)["foreign-id"], move._kleer_foreign_id())
        offsets = [r.query["offset"] for r in self.sent("GET", "/client/invoice")]
        self.assertEqual(offsets, ["0", "100"])

    def test_kleer_ignoring_the_offset_fails_loudly(self):
        self.fill_first_page()
        move, job = self.lose_answer()
        self.sandbox.app.ignore_paging = True
        self.process_queue()
        self.assertEqual(len(self.puts_of(move)), 1, "never sent twice")
        self.assertEqual((job.state, job.error_kind), ("failed", "unsupported"))
        self.assertIn("offset 0 where 100 was asked", job.last_error)
        self.assertEqual(move.kleer_state, "failed")
        self.assertFalse(move.kleer_invoice_id)


# -- the unconfirmed calls as settings, probed by Test connection ---------------------


@tagged("post_install", "-at_install")
class TestApiChoices(InvoiceCase):
    def test_defaults_are_the_original_choices(self):
        names = ["kleer_vat_unit", "kleer_certify_call", "kleer_rate_call", "kleer_write_verbs"]
        defaults = self.env["res.company"].default_get(names)
        self.assertEqual(
            [defaults[name] for name in names],
            ["auto", "post_certify", "query_kebab", "put_create"],
        )

    def test_test_connection_probes_read_only(self):
        self.assertFalse(self.company.kleer_vat_unit_detected)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.company_id, self.company)
        params = settings.action_kleer_test_connection()["params"]
        self.assertEqual(params["type"], "success")
        message = params["message"]
        self.assertIn("Exchange rate: 1 EUR = 11.4250 SEK.", message)
        self.assertIn("Invoice list paging: Kleer echoes the offset asked.", message)
        self.assertIn("VAT unit: Percent (25), from 4 VAT figures", message)
        self.assertEqual({r.method for r in self.sandbox.requests}, {"GET"}, "read-only")
        self.assertEqual(self.company.kleer_vat_unit_detected, "percent")
        self.assertEqual(self.company._kleer_vat_unit(), "percent")

    def test_test_connection_reports_what_does_not_work(self):
        self.sandbox.app.ignore_paging = True
        ok, message = run_test_connection(self.company, self.sandbox, rate_call="path")
        self.assertTrue(ok)
        self.assertIn(
            ("GET", "/exchange-rate/EUR/SEK"),
            [(r.method, r.rel_path) for r in self.sandbox.requests],
        )
        self.assertIn("Kleer ignores the offset", message)
        # Another Kleer's data (mixed forms) leaves the unit to the user.
        self.company._kleer_client(vat_unit="fraction").create_product(
            kt.Product(name="X", price=1, vat_percentage=12)
        )
        self.sandbox.faults.add("status", method="GET", path="^/exchange-rate$", status=404)
        ok, message = run_test_connection(self.company, self.sandbox)
        self.assertIn("Exchange rate: not read with the chosen call", message)
        self.assertIn("VAT unit: not found (5 VAT figures", message)
        self.assertFalse(self.company.kleer_vat_unit_detected)

    def test_chosen_unit_wins_over_the_one_found(self):
        self.company.kleer_vat_unit_detected = "fraction"
        self.assertEqual(self.company._kleer_vat_unit(), "fraction")
        self.company.kleer_vat_unit = "percent"
        move = self.make_invoice(
            [{"product_id": self.consulting, "quantity": 1, "discount": 10, "taxes": self.vat25}]
        )
        self.process_queue()
        row = rows_of(self.last_invoice_xml())[0]
        self.assertEqual((row.findtext("vat"), row.findtext("discount/percentage")), ("25", "10"))
        self.assertTotalsEqual(move)

    def test_write_verbs_setting(self):
        self.company.kleer_write_verbs = "post_create"
        move = self.make_invoice([{"product_id": self.book, "quantity": 1, "taxes": self.vat6}])
        self.process_queue()
        self.assertEqual(len(self.sent("POST", "/product")), 1)
        self.assertFalse(self.sent("PUT", "/product"))
        self.assertTrue(self.book.with_company(self.company).kleer_product_id)
        self.assertEqual(move.kleer_state, "draft")

    def test_rate_call_setting(self):
        eur = self.env.ref("base.EUR")
        eur.active = True
        self.company.kleer_rate_call = "query_camel"
        self.env["kleer.sync"].with_company(self.company)._run_sync("rates", self.company)
        sent = self.sent("GET", "/exchange-rate")
        self.assertTrue(sent)
        self.assertEqual(sent[0].query["fromCurrency"], sent[0].query["fromCurrency"].upper())
        self.assertEqual(sent[0].query["toCurrency"], "SEK")
        self.assertNotIn("from-currency", sent[0].query)
