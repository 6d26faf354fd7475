"""A credit note whose invoice is only a draft in Kleer (or not there yet)
waits by itself, no failure and no activity, and goes out once as soon as
Kleer shows the invoice certified; one whose invoice was deleted in Kleer
or ignored fails with a clear message."""

import threading
import time
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import tagged

from ..models.errors import CONCURRENCY_ERRORS
from ..models.tools import own_cursor
from .test_invoice_common import InvoiceCase
from .test_queue_exactly_once import InvoiceRealCase, billing_user


@tagged("post_install", "-at_install")
class TestCreditNoteWaits(InvoiceCase):
    def numbers_cron(self):
        self.env["account.move"]._cron_kleer_invoice_numbers()
        self.env.invalidate_all()

    def notes(self, move, text):
        return [body for body in move.message_ids.mapped("body") if text in body]

    def waiting_refund(self):
        invoice = self.consulting_invoice(quantity=2)
        self.process_queue()
        self.assertEqual(invoice.kleer_state, "draft")
        refund = self.reverse(invoice)
        self.process_queue()
        return invoice, refund

    def test_waits_for_its_draft_invoice_then_goes_out_once(self):
        invoice, refund = self.waiting_refund()
        job = self.job_of(refund)
        waiting = f"Waiting for {invoice.display_name} to be certified in Kleer"
        self.assertEqual(refund.kleer_state, "waiting")
        self.assertEqual((job.state, job.error_kind), ("pending", "waiting"))
        self.assertGreater(job.next_try, fields.Datetime.now(), "not due: no busy loop")
        self.assertIn(waiting, refund.kleer_retry_note)
        self.assertFalse(self.open_log(refund), "not a failure")
        self.assertFalse(refund.kleer_activity_id or refund.activity_ids, "nobody is asked")
        self.assertEqual(len(self.notes(refund, waiting)), 1)
        self.assertEqual(len(self.invoice_puts()), 1, "only the invoice went out")

        # Nothing moves while the invoice is a draft: the queue, the cron,
        # and Send to Kleer (which looks again at once) keep it waiting.
        self.process_queue()
        self.numbers_cron()
        self.assertTrue(job.next_try)
        refund.action_kleer_send()
        self.assertFalse(job.next_try, "Send looks again now")
        self.process_queue()
        self.assertEqual((refund.kleer_state, job.state), ("waiting", "pending"))
        self.assertTrue(job.next_try)
        self.assertEqual(len(self.notes(refund, waiting)), 1, "said once")
        self.assertEqual(len(self.invoice_puts()), 1)

        # The accountant certifies the invoice in Kleer; the number cron sees it.
        number = self.sandbox.state.certify_invoice(
            self.sandbox.company_id, invoice.kleer_invoice_id
        )
        self.numbers_cron()
        self.assertFalse(job.next_try, "due now")
        self.process_queue()
        self.assertEqual((refund.kleer_state, job.state), ("draft", "done"), job.last_error)
        root = self.last_invoice_xml()  # valid against Kleer's XSD
        self.assertEqual(root.findtext("foreign-id"), f"odoo-move-{refund.id}")
        self.assertEqual(root.findtext("debit-invoice-nr"), str(number))
        self.assertTotalsEqual(refund)
        self.assertEqual((invoice.kleer_certified, invoice.kleer_invoice_nr), (True, number))
        self.assertEqual(invoice.kleer_state, "certified")
        self.assertFalse(refund.kleer_retry_note)

        # Another cron run and queue run: still one credit note in Kleer.
        self.numbers_cron()
        self.process_queue()
        self.assertEqual(len(self.invoice_puts()), 2)
        credit_notes = [
            i
            for i in self.sandbox.state.invoices(self.sandbox.company_id)
            if i.get("foreign-id") == f"odoo-move-{refund.id}"
        ]
        self.assertEqual(len(credit_notes), 1)

    def number_cron_triggers(self):
        cron = self.env.ref("kleer_connector.cron_kleer_invoice_numbers")
        return self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])

    def test_a_credit_note_being_run_when_its_invoice_is_certified_is_looked_at_again(self):
        # A worker runs the credit note (it read Kleer before the invoice was
        # certified) while the number cron sees the invoice certified: the
        # cron cannot wake a job that runs, so it comes back in a minute.
        invoice, refund = self.waiting_refund()
        job = self.job_of(refund)
        self.sandbox.state.certify_invoice(self.sandbox.company_id, invoice.kleer_invoice_id)
        job.state = "sending"  # claimed by a worker, still waiting-kind
        before = self.number_cron_triggers()
        self.numbers_cron()
        triggers = self.number_cron_triggers() - before
        self.assertEqual(len(triggers), 1, "the number cron looks again")
        self.assertLessEqual(
            triggers.call_at, fields.Datetime.now() + timedelta(minutes=1, seconds=5)
        )
        # The worker's stale read sends the credit note back to waiting a day.
        job.write({"state": "pending", "next_try": fields.Datetime.now() + timedelta(days=1)})
        self.numbers_cron()  # the triggered run
        self.assertFalse(job.next_try, "due now")
        before = self.number_cron_triggers()
        self.process_queue()
        self.assertEqual((refund.kleer_state, job.state), ("draft", "done"), job.last_error)
        self.assertEqual(len(self.invoice_puts()), 2, "the invoice and its credit note")
        self.numbers_cron()
        self.assertFalse(self.number_cron_triggers() - before, "nothing left to look at")

    def test_invoice_certified_by_its_own_job_wakes_the_credit_note(self):
        invoice, refund = self.waiting_refund()
        job = self.job_of(refund)
        self.company.kleer_invoice_mode = "certified"
        invoice.action_kleer_send()  # certify the draft through Odoo
        self.assertTrue(job.next_try, "not yet")
        self.process_queue(job_ids=self.job_of(invoice).ids)
        self.assertEqual(invoice.kleer_state, "certified")
        self.assertFalse(job.next_try, "woken by its invoice's job")
        self.process_queue()
        self.assertEqual(refund.kleer_state, "certified", job.last_error)
        self.assertEqual(
            self.last_invoice_xml().findtext("debit-invoice-nr"), str(invoice.kleer_invoice_nr)
        )

    def test_invoice_deleted_in_kleer_fails_the_credit_note(self):
        invoice, refund = self.waiting_refund()
        self.sandbox.state.disable_invoice(self.sandbox.company_id, invoice.kleer_invoice_id)
        self.numbers_cron()
        self.process_queue()
        self.assertEqual(refund.kleer_state, "failed")
        self.assertEqual(self.job_of(refund).state, "failed")
        (log,) = self.open_log(refund)
        self.assertIn(f"it credits {invoice.display_name}, which was deleted in Kleer", log.message)
        self.assertTrue(refund.kleer_activity_id, "now a person must act")
        self.assertEqual(len(self.invoice_puts()), 1)

    def test_waits_for_its_invoice_on_the_way_and_fails_when_it_is_ignored(self):
        invoice = self.consulting_invoice()
        refund = self.reverse(invoice)
        # The credit note's job runs first: its invoice is still queued.
        self.process_queue(job_ids=self.job_of(refund).ids)
        self.assertEqual(refund.kleer_state, "waiting")
        self.assertIn(
            f"Waiting for {invoice.display_name} to reach Kleer and be certified there",
            refund.kleer_retry_note,
        )
        self.assertFalse(self.invoice_puts())
        # Its invoice is ignored: nothing will come to credit.
        self.job_of(invoice).action_ignore()
        self.assertFalse(self.job_of(refund).next_try, "woken")
        self.process_queue()
        self.assertEqual(refund.kleer_state, "failed")
        self.assertIn(
            f"which is not in Kleer. Send {invoice.display_name} to Kleer",
            self.open_log(refund).message,
        )
        self.assertFalse(self.invoice_puts())

    def test_waiting_reads_swedish_for_a_swedish_creator(self):
        self.env["res.lang"]._activate_lang("sv_SE")
        anna = (
            self.env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "name": "Anna Fakturerare",
                    "login": "anna-kredit",
                    "lang": "sv_SE",
                    "company_id": self.company.id,
                    "company_ids": [(6, 0, self.company.ids)],
                    "groups_id": [(6, 0, [self.env.ref("account.group_account_invoice").id])],
                }
            )
        )
        invoice = self.consulting_invoice()
        self.process_queue()
        admin_env = self.env
        self.env = admin_env(user=anna, context=dict(admin_env.context, lang="sv_SE"))
        try:
            refund = self.reverse(invoice.with_env(self.env)).with_env(admin_env)
        finally:
            self.env = admin_env
        self.process_queue()
        self.assertEqual(refund.kleer_state, "waiting")
        waiting = f"Väntar på att {invoice.display_name} attesteras i Kleer"
        self.assertIn(waiting, self.job_of(refund).last_error)
        self.assertEqual(len(self.notes(refund, waiting)), 1)


@tagged("post_install", "-at_install")
class TestCreditNoteWakesOnce(InvoiceRealCase):
    """Real cursors and commits: two number crons, two workers and a billing
    user pressing Send to Kleer, all at once, after the invoice was
    certified in Kleer: one credit note in Kleer."""

    COMPANY = "Kleer Kredit Vänta AB"

    def env_in(self, cr, user=None):
        env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})
        return env(user=user(env)) if user else env

    def waiting_refund(self):
        """An invoice in Kleer as a draft and its credit note waiting, all
        committed: (invoice id, its Kleer id, credit note id, its job id)."""
        (move_id,), job_ids, _c, _p = self.setup_invoices(1, linked=True)
        self.process(job_ids=job_ids)
        with self.registry.cursor() as cr:
            env = self.env_in(cr)
            invoice = env["account.move"].browse(move_id)
            self.assertEqual(invoice.kleer_state, "draft")
            kleer_id = invoice.kleer_invoice_id
            refund = invoice._reverse_moves([{"ref": "Retur"}])
            refund.action_post()
            refund_id = refund.id
            (job_id,) = (
                env["kleer.job"]
                .search([("res_model", "=", "account.move"), ("res_id", "=", refund_id)])
                .ids
            )
        self.process(job_ids=[job_id])
        self.assertEqual(
            self.values("kleer.job", job_id, "state", "error_kind"), ("pending", "waiting")
        )
        self.assertEqual(self.values("account.move", refund_id, "kleer_state"), ("waiting",))
        return move_id, kleer_id, refund_id, job_id

    def numbers_cron(self):
        with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
            env["account.move"]._cron_kleer_invoice_numbers()

    def number_cron_triggers(self, since):
        """Odoo's triggers of the number cron set after ``since``."""
        with self.registry.cursor() as cr:
            cron = api.Environment(cr, SUPERUSER_ID, {}).ref(
                "kleer_connector.cron_kleer_invoice_numbers"
            )
            cr.execute(
                "SELECT call_at FROM ir_cron_trigger WHERE cron_id = %s AND create_date >= %s",
                (cron.id, since),
            )
            return [row[0] for row in cr.fetchall()]

    def test_a_wake_lost_to_a_conflict_is_tried_again_in_a_minute(self):
        _move_id, kleer_id, refund_id, job_id = self.waiting_refund()
        self.sandbox.state.certify_invoice(self.sandbox.company_id, kleer_id)
        since = fields.Datetime.now()
        # Another transaction writes the job's row (a user's Send, a worker)
        # while the number cron wakes it: the cron's update conflicts.
        blocker = self.registry.cursor()
        try:
            blocker.execute("UPDATE kleer_job SET priority = priority WHERE id = %s", [job_id])
            cron = threading.Thread(target=self.numbers_cron)
            cron.start()
            self.wait_for_lock_wait(cron, "UPDATE kleer_job SET next_try", "the cron")
            blocker.commit()
        finally:
            blocker.close()
        cron.join(timeout=60)
        (next_try,) = self.values("kleer.job", job_id, "next_try")
        self.assertTrue(next_try, "the conflict cost the cron its wake")
        (call_at,) = self.number_cron_triggers(since)
        self.assertLessEqual(call_at, fields.Datetime.now() + timedelta(minutes=1))
        # The triggered run wakes it; the credit note goes out once.
        self.numbers_cron()
        self.assertEqual(self.values("kleer.job", job_id, "next_try"), (False,))
        self.process(job_ids=[job_id])
        self.assertEqual(self.values("kleer.job", job_id, "state"), ("done",))
        self.assertEqual(len(self.in_kleer("invoice", f"odoo-move-{refund_id}")), 1)

    def test_two_crons_two_workers_and_send_make_one_credit_note(self):
        move_id, kleer_id, refund_id, job_id = self.waiting_refund()
        number = self.sandbox.state.certify_invoice(self.sandbox.company_id, kleer_id)
        self.sandbox.faults.add(
            "latency", method="PUT", path="^/client/invoice$", seconds=0.2, times=None
        )
        start, errors, stop = threading.Barrier(5), [], time.monotonic() + 5
        since = fields.Datetime.now()

        def numbers_cron():
            with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
                start.wait(timeout=10)
                env["account.move"]._cron_kleer_invoice_numbers()

        def worker():
            start.wait(timeout=10)
            while time.monotonic() < stop:
                with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
                    env["kleer.job"]._process_jobs(job_ids=[job_id])
                time.sleep(0.05)

        def send():
            start.wait(timeout=10)
            for _attempt in range(5):  # as Odoo retries a request on a conflict
                try:
                    with self.registry.cursor() as cr:
                        user = self.env_in(cr, lambda env: billing_user(env, self.company_id))
                        user["account.move"].browse(refund_id).action_kleer_send()
                    return
                except CONCURRENCY_ERRORS:
                    time.sleep(0.1)

        def guarded(target):
            def run():
                try:
                    target()
                except Exception as exc:  # noqa: BLE001 - reported by the test
                    errors.append(exc)

            return run

        threads = [
            threading.Thread(target=guarded(t))
            for t in (numbers_cron, numbers_cron, worker, worker, send)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        self.assertFalse(errors, errors)
        # What Odoo's cron runner would still run: a number cron a lost wake
        # triggered, then the jobs due within a minute (a retry after a
        # conflict). A Send that came after the credit note went out queued a
        # new job, which finds it in Kleer and sends nothing.
        if self.number_cron_triggers(since):
            self.numbers_cron()
        with self.registry.cursor() as cr:
            refund_jobs = (
                self.env_in(cr)["kleer.job"]
                .search([("res_model", "=", "account.move"), ("res_id", "=", refund_id)])
                .ids
            )
        self.process(job_ids=refund_jobs, now=fields.Datetime.now() + timedelta(minutes=1))

        copies = self.in_kleer("invoice", f"odoo-move-{refund_id}")
        self.assertEqual(len(copies), 1, "one credit note in Kleer")
        self.assertEqual(copies[0]["debit-invoice-nr"], str(number))
        puts = [r for r in self.sandbox.requests if r.method == "PUT"]
        self.assertEqual(len(puts), 2, "the invoice and its credit note, once each")
        for refund_job in refund_jobs:
            self.assertEqual(self.values("kleer.job", refund_job, "state"), ("done",))
        self.assertEqual(
            self.values("account.move", refund_id, "kleer_state", "kleer_invoice_id"),
            ("draft", int(copies[0]["id"])),
        )
        self.assertEqual(self.values("account.move", move_id, "kleer_invoice_nr"), (number,))
