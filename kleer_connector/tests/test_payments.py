"""Payment status from Kleer, against the sandbox: the state shown on the
invoice, and the payment registered in Odoo exactly once. Expected amounts
come from Odoo's own invoice figures, never from the sandbox."""

from datetime import date
from decimal import Decimal
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from ..kleer_api import types as kt
from ..kleer_api.money import to_ore
from ..kleer_api.sandbox import store as sandbox_store
from .test_invoice_common import SEEDED_CLIENT, SEEDED_PRODUCT, InvoiceCase

MUTE = (
    "odoo.addons.kleer_connector.models.kleer_job",
    "odoo.addons.kleer_connector.models.kleer_sync",
)


@tagged("post_install", "-at_install")
class TestPayments(InvoiceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank = cls.env["account.journal"].search(
            [("type", "=", "bank"), ("company_id", "=", cls.company.id)], limit=1
        )
        cls.company.write(
            {
                "kleer_invoice_mode": "certified",
                "kleer_sync_payments": True,
                "kleer_register_payments": True,
                "kleer_payment_journal_id": cls.bank.id,
            }
        )

    # -- helpers -------------------------------------------------------------

    def certified_invoice(self, price=1200, quantity=2, **header):
        move = self.make_invoice(
            [
                {
                    "product_id": self.consulting,
                    "quantity": quantity,
                    "price_unit": price,
                    "taxes": self.vat25,
                }
            ],
            **header,
        )
        self.process_queue()
        self.assertTrue(move.kleer_certified)
        return move

    def pay_in_kleer(self, move, amount=None, on="2026-03-20"):
        """A payment registered in Kleer (``amount`` in invoice currency units)."""
        self.sandbox.state.record_payment(
            self.sandbox.company_id,
            move.kleer_invoice_id,
            None if amount is None else to_ore(amount),
            on,
        )

    def sync(self):
        self.sandbox.requests.clear()
        ok = self.env["kleer.sync"]._run_sync("payments", self.company)
        self.env.invalidate_all()
        self.assertTrue(ok, self.message())
        return self.message()

    def message(self):
        return (
            self.env["kleer.sync.state"]
            .search([("company_id", "=", self.company.id), ("sync", "=", "payments")])
            .last_message
        )

    def payments(self, move):
        return move.matched_payment_ids

    def keys(self, move):
        return self.env["kleer.payment"].search([("move_id", "=", move.id)])

    def max_write(self, table):
        self.env.flush_all()
        self.env.cr.execute(f"SELECT count(*), max(write_date) FROM {table}")  # noqa: S608 - fixed names
        return self.env.cr.fetchone()

    # -- the cases of the issue ----------------------------------------------

    def test_paid_in_full(self):
        move = self.certified_invoice()
        self.assertEqual(move.amount_total, 3000)
        self.assertFalse(move.kleer_payment_state)
        self.pay_in_kleer(move)
        self.assertIn("1 payments registered", self.sync())
        # One list read of certified invoices by date, without files.
        [read] = self.sandbox.requests
        self.assertEqual((read.method, read.rel_path), ("GET", "/client/invoice"))
        self.assertEqual(
            {k: read.query[k] for k in ("filter", "ignoreFiles", "invoiceDateLower")},
            {"filter": "certified", "ignoreFiles": "true", "invoiceDateLower": "2026-03-10"},
        )
        self.assertEqual(move.kleer_payment_state, "paid")
        self.assertEqual(move.kleer_remaining, 0)
        self.assertEqual(move.kleer_last_payment_date, date(2026, 3, 20))
        self.assertEqual(move.payment_state, "paid")
        self.assertEqual(move.amount_residual, 0)
        payment = self.payments(move)
        self.assertEqual(len(payment), 1)
        self.assertEqual(
            (payment.amount, payment.currency_id, payment.date, payment.journal_id),
            (3000, self.company.currency_id, date(2026, 3, 20), self.bank),
        )
        key = self.keys(move)
        self.assertEqual((key.kleer_paid, key.payment_id, key.amount), (300000, payment, 3000))

    def test_paid_in_part_then_in_full(self):
        move = self.certified_invoice()
        self.pay_in_kleer(move, 500, on="2026-03-15")
        self.sync()
        self.assertEqual(
            (move.kleer_payment_state, move.kleer_remaining, move.kleer_last_payment_date),
            ("partial", 2500, date(2026, 3, 15)),
        )
        self.assertEqual((move.payment_state, move.amount_residual), ("partial", 2500))
        self.pay_in_kleer(move, on="2026-03-31")  # the rest
        self.sync()
        self.assertEqual((move.kleer_payment_state, move.kleer_remaining), ("paid", 0))
        self.assertEqual((move.payment_state, move.amount_residual), ("paid", 0))
        payments = self.payments(move).sorted("date")
        self.assertEqual(
            [(p.amount, p.date) for p in payments],
            [(500, date(2026, 3, 15)), (2500, date(2026, 3, 31))],
        )
        self.assertEqual(self.keys(move).mapped("kleer_paid"), [300000, 50000])

    def test_credited_in_kleer_gets_no_payment(self):
        """A credit note made in Kleer settles the invoice there: Kleer's
        remaining drops to 0, but nobody paid, so Odoo gets no payment."""
        move = self.certified_invoice()
        number = int(self.stored(move)["invoice-nr"])
        client = self.company._kleer_client()
        self.addCleanup(client.close)
        credit = client.create_invoice(
            kt.Invoice(
                client_id=SEEDED_CLIENT,
                invoice_date=date(2026, 3, 12),
                due_date=date(2026, 3, 12),
                currency="SEK",
                debit_invoice_nr=number,
                foreign_id="made-in-kleer",
                rows=[
                    kt.InvoiceRow(
                        product_id=SEEDED_PRODUCT,
                        quantity=Decimal(-2),
                        price=120000,
                        vat=Decimal(25),
                    )
                ],
            )
        )
        client.certify_invoice(credit)
        self.sync()
        self.assertEqual((move.kleer_payment_state, move.kleer_remaining), ("credited", 0))
        self.assertEqual((move.payment_state, move.amount_residual), ("not_paid", 3000))
        self.assertFalse(self.payments(move))
        self.assertFalse(self.keys(move))

    def test_credited_in_odoo_is_not_read(self):
        move = self.certified_invoice()
        wizard = Form(
            self.env["account.move.reversal"].with_context(
                active_model="account.move", active_ids=move.ids
            )
        )
        wizard.journal_id = move.journal_id
        refund = self.env["account.move"].browse(wizard.save().refund_moves()["res_id"])
        refund.action_post()
        self.process_queue()
        self.assertTrue(refund.kleer_certified)
        self.assertEqual(move.payment_state, "reversed")  # settled in Odoo already
        self.sync()
        self.assertFalse(self.sandbox.requests, "nothing open: Kleer not asked")
        self.assertFalse(move.kleer_payment_state)
        self.assertFalse(self.payments(move))

    def test_eur_invoice_paid_in_euro(self):
        eur = self.eur_at_11_425()
        move = self.certified_invoice(price=99.99, quantity=3, currency_id=eur)
        self.assertEqual(move.amount_total, 374.96)  # 299.97 + 74.99 VAT
        self.pay_in_kleer(move, 100)
        self.sync()
        self.assertEqual((move.kleer_payment_state, move.kleer_remaining), ("partial", 274.96))
        self.pay_in_kleer(move)
        self.sync()
        payments = self.payments(move).sorted("amount")
        self.assertEqual([p.amount for p in payments], [100, 274.96])
        self.assertEqual(payments.currency_id, eur)
        self.assertEqual((move.payment_state, move.amount_residual), ("paid", 0))

    def test_paid_by_hand_in_odoo_first_gets_no_second_payment(self):
        move = self.certified_invoice()
        other = self.certified_invoice(price=100, quantity=1)
        register = self.env["account.payment.register"].with_context(active_model="account.move")
        register.with_context(active_ids=move.ids).create(
            {"amount": 1000, "journal_id": self.bank.id}
        )._create_payments()
        register.with_context(active_ids=other.ids).create(
            {"journal_id": self.bank.id}
        )._create_payments()
        self.assertEqual(move.amount_residual, 2000)
        self.pay_in_kleer(move, 1000)  # the same customer payment, matched in Kleer
        self.pay_in_kleer(other)
        self.sync()
        self.assertEqual(move.kleer_payment_state, "partial")
        self.assertEqual(len(self.payments(move)), 1, "no second payment")
        self.assertFalse(self.keys(move))
        # Fully paid by hand: not even read.
        self.assertEqual(len(self.payments(other)), 1)
        self.assertFalse(other.kleer_payment_state)
        self.pay_in_kleer(move)  # the rest, paid in Kleer only
        self.sync()
        self.assertEqual(sorted(self.payments(move).mapped("amount")), [1000, 2000])
        self.assertEqual(move.payment_state, "paid")

    def test_repeated_run_writes_nothing(self):
        paid, partial, untouched = (self.certified_invoice(price=p) for p in (100, 200, 300))
        self.pay_in_kleer(paid)
        self.pay_in_kleer(partial, 50)
        self.assertIn("3 invoices read, 3 updated, 2 payments registered", self.sync())
        self.assertEqual(untouched.kleer_payment_state, "open")
        before = [self.max_write(t) for t in ("account_move", "account_payment", "kleer_payment")]
        self.assertIn("2 invoices read, 0 updated, 0 payments registered", self.sync())
        after = [self.max_write(t) for t in ("account_move", "account_payment", "kleer_payment")]
        self.assertEqual(after, before)
        self.assertEqual(len(self.sandbox.requests), 1)

    def test_setting_off_shows_the_state_without_payment(self):
        self.company.kleer_register_payments = False
        move = self.certified_invoice()
        self.pay_in_kleer(move, 1000)
        self.sync()
        self.assertEqual((move.kleer_payment_state, move.kleer_remaining), ("partial", 2000))
        self.pay_in_kleer(move)
        self.sync()
        self.assertEqual((move.kleer_payment_state, move.kleer_remaining), ("paid", 0))
        self.assertEqual((move.payment_state, move.amount_residual), ("not_paid", 3000))
        self.assertFalse(self.payments(move))
        self.assertFalse(self.keys(move))
        before = self.max_write("account_move")
        self.sync()
        self.assertEqual(self.max_write("account_move"), before)

    def test_a_payment_undone_by_hand_is_not_registered_again(self):
        move = self.certified_invoice()
        self.pay_in_kleer(move)
        self.sync()
        payment = self.payments(move)
        payment.action_draft()
        payment.action_cancel()
        self.assertEqual(move.amount_residual, 3000)
        self.sync()  # Kleer still says paid: the key says it was registered once
        self.assertEqual(move.amount_residual, 3000)
        self.assertEqual(self.payments(move), payment)

    # -- cost, cron, failures, settings --------------------------------------

    def test_read_by_date_windows_one_page_each(self):
        moves = [
            self.certified_invoice(price=100 + i, invoice_date=date(2026, 3, 1 + i // 2))
            for i in range(5)
        ]  # dates 1, 1, 2, 2, 3 March
        self.pay_in_kleer(moves[4])
        # The page asked for, switchable without code (1,000 by default).
        self.env["ir.config_parameter"].set_param("kleer_connector.invoice_page", "2")
        self.sync()
        reads = [
            (r.query["invoiceDateLower"], r.query["invoiceDateUpper"], r.query["limit"])
            for r in self.sandbox.requests
        ]
        self.assertEqual(
            reads,
            [
                ("2026-03-01", "2026-03-01", "2"),
                ("2026-03-02", "2026-03-02", "2"),
                ("2026-03-03", "2026-03-03", "2"),
            ],
        )
        self.assertEqual(moves[4].kleer_payment_state, "paid")

    def test_open_invoices_read_in_one_page_or_the_servers_shorter_ones(self):
        moves = [
            self.certified_invoice(price=100 + i, invoice_date=date(2026, 3, 1 + i // 2))
            for i in range(5)
        ]
        self.pay_in_kleer(moves[0])
        self.pay_in_kleer(moves[3], 50)
        self.assertIn("5 invoices read, 5 updated", self.sync())
        [read] = self.sandbox.requests  # five open invoices, three dates: one request
        self.assertEqual(
            (read.query["invoiceDateLower"], read.query["invoiceDateUpper"], read.query["limit"]),
            ("2026-03-01", "2026-03-03", "1000"),
        )
        # A Kleer that answers at most 2 a page: followed by offset, nothing missed.
        self.pay_in_kleer(moves[4])
        with patch.object(sandbox_store, "MAX_LIMIT", 2):
            self.assertIn("4 invoices read, 1 updated", self.sync())
        self.assertEqual(
            [(r.query["offset"], r.query["limit"]) for r in self.sandbox.requests],
            [("0", "1000"), ("2", "1000"), ("4", "1000")],
        )
        self.assertEqual(
            [m.kleer_payment_state for m in moves], ["paid", "open", "open", "partial", "paid"]
        )
        self.assertEqual(moves[4].payment_state, "paid")

    def test_cron_and_sync_now(self):
        cron = self.env.ref("kleer_connector.cron_sync_payments")
        self.assertTrue(cron.active, "switched on with the setting")
        move = self.certified_invoice()
        self.pay_in_kleer(move)
        cron.method_direct_trigger()
        self.env.invalidate_all()
        self.assertEqual(move.kleer_payment_state, "paid")
        settings = self.env["res.config.settings"].create({})
        action = settings.action_kleer_sync_now_payments()
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(settings.kleer_last_sync_payments)

    def test_missing_journal_fails_the_run_in_the_log(self):
        self.company.kleer_payment_journal_id = False
        move = self.certified_invoice()
        self.pay_in_kleer(move)
        with mute_logger(*MUTE):
            self.assertFalse(self.env["kleer.sync"]._run_sync("payments", self.company))
        self.assertIn("no journal is chosen", self.message())
        self.assertFalse(self.payments(move))

    def test_a_failing_invoice_is_logged_and_reprocessed(self):
        move = self.certified_invoice()
        self.pay_in_kleer(move)
        Move = type(self.env["account.move"])
        with (
            patch.object(Move, "_kleer_payment_register", side_effect=ValueError("boom")),
            mute_logger(*MUTE),
        ):
            self.assertIn("1 failed", self.sync())
        self.assertFalse(self.payments(move))
        job = self.env["kleer.job"].search(
            [("operation", "=", "payment"), ("kleer_ref", "=", move.kleer_invoice_id)]
        )
        self.assertEqual(job.state, "failed")
        job.action_reprocess()
        self.process_queue()
        self.assertEqual(job.state, "done")
        self.assertEqual(len(self.payments(move)), 1)
        self.assertEqual(move.kleer_payment_state, "paid")

    def test_paid_against_another_total_in_kleer_is_not_registered(self):
        """A draft corrected and certified by hand in Kleer may hold another
        total than Odoo's: what Kleer shows as paid is then not registered
        (Odoo would record 3,000 paid where the customer paid 2,500), and
        the log says why, once however many runs."""
        move = self.certified_invoice()
        self.assertEqual((move.amount_untaxed, move.amount_tax), (2400, 600))
        store = self.sandbox.state
        with store.lock:
            stored = store._company(self.sandbox.company_id).objects["client-invoice"]
            stored = stored[move.kleer_invoice_id]
            for tag, ore in (("amount", 200000), ("vat", 50000), ("remaining", 250000)):
                stored.find(tag).text = str(ore)
        self.pay_in_kleer(move)
        with mute_logger(*MUTE):
            self.assertIn("1 failed", self.sync())
            self.assertIn("1 failed", self.sync())
        self.assertFalse(self.payments(move) or self.keys(move))
        self.assertEqual(move.payment_state, "not_paid")
        job = self.env["kleer.job"].search(
            [("operation", "=", "payment"), ("kleer_ref", "=", move.kleer_invoice_id)]
        )
        self.assertEqual((job.state, job.error_kind), ("failed", "amount_mismatch"))
        self.assertIn("2000.00 SEK excl. VAT and 500.00 SEK VAT", job.last_error)
        self.assertIn("2400.00 SEK and 600.00 SEK", job.last_error)
        self.assertIn("not registered in Odoo", job.last_error)
        self.assertEqual(len(job.log_ids.filtered(lambda log: log.state == "open")), 1)
        # Settled by hand in Odoo, the invoice is no longer read.
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=move.ids
        ).create({})._create_payments()
        self.assertEqual(move.payment_state, "paid")
        self.assertIn("0 invoices read", self.sync())

    def test_journal_must_be_bank_or_cash_of_the_company(self):
        with self.assertRaises(ValidationError):
            self.company.kleer_payment_journal_id = self.sale_journal

    # -- access --------------------------------------------------------------

    def test_access_as_the_users_who_have_it(self):
        move = self.certified_invoice()
        self.pay_in_kleer(move)
        self.sync()
        billing = new_test_user(
            self.env,
            login="kleer_billing",
            groups="account.group_account_invoice",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        as_billing = move.with_user(billing)
        self.assertEqual(as_billing.kleer_payment_state, "paid")
        keys = self.env["kleer.payment"].with_user(billing).search([])
        self.assertEqual(keys.move_id, move)
        with self.assertRaises(AccessError):
            keys.write({"kleer_paid": 1})
        with self.assertRaises(AccessError):
            self.env["kleer.payment"].with_user(billing).create(
                {"company_id": self.company.id, "move_id": move.id, "kleer_paid": 1}
            )
        internal = new_test_user(
            self.env,
            login="kleer_internal",
            groups="base.group_user",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        with self.assertRaises(AccessError):
            self.env["kleer.payment"].with_user(internal).search([])
        other_company = self.create_company("Andra Bolaget AB")
        other = new_test_user(
            self.env,
            login="kleer_other_company",
            groups="account.group_account_invoice",
            company_id=other_company.id,
            company_ids=[Command.set(other_company.ids)],
        )
        as_other = self.env["kleer.payment"].with_user(other)
        self.assertFalse(as_other.with_context(allowed_company_ids=other_company.ids).search([]))
