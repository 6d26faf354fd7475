"""The delivery queue with real invoices, against the sandbox's faults."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .test_invoice_common import InvoiceCase


@tagged("post_install", "-at_install")
class TestQueueInvoices(InvoiceCase):
    def line(self):
        return [
            {
                "product_id": self.consulting,
                "quantity": 2,
                "price_unit": 1200,
                "taxes": [self.vat25],
            }
        ]

    def kleer_copies(self, move):
        foreign_id = move._kleer_foreign_id()
        return [
            inv
            for inv in self.sandbox.state.invoices(self.sandbox.company_id)
            if inv.get("foreign-id") == foreign_id
        ]

    def later(self, job):
        job.invalidate_recordset()
        return self.process_queue(now=job.next_try + timedelta(seconds=1))

    def test_confirm_works_while_kleer_is_down(self):
        self.sandbox.stop()
        self.addCleanup(self.sandbox.start)
        move = self.make_invoice(self.line())
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.kleer_state, "queued")
        self.assertEqual(self.job_of(move).state, "pending")

    def test_success_leaves_one_note_and_one_log_entry(self):
        """What a success leaves: the log entry (with what was sent and
        Kleer's answer) and one chatter note; the note says the new state, so
        the state's tracking is not written a second time beside it."""
        move = self.make_invoice(self.line())
        messages_before = move.message_ids
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        job = self.job_of(move)
        log = self.env["kleer.log"].search([("job_id", "=", job.id)])
        self.assertEqual(
            (log.level, log.state, log.kleer_id), ("info", "done", move.kleer_invoice_id)
        )
        self.assertIn("<client-invoice>", log.request_body)
        new = move.message_ids - messages_before
        self.assertEqual(len(new), 1)
        self.assertIn(f"Sent to Kleer as a draft (Kleer id {move.kleer_invoice_id})", new.body)
        self.assertFalse(new.tracking_value_ids)
        self.assertFalse(new.notification_ids, "a note for the record, nobody notified")

    def test_timeout_after_kleer_stored_the_invoice_makes_no_second_copy(self):
        self.env["ir.config_parameter"].set_param("kleer_connector.timeout", "2,1")
        self.sandbox.faults.add(
            "timeout_after_store", method="PUT", path="^/client/invoice$", seconds=3
        )
        move = self.make_invoice(self.line())
        self.process_queue()
        job = self.job_of(move)
        self.assertEqual((job.state, job.error_kind), ("pending", "unknown_outcome"))
        self.assertFalse(move.kleer_invoice_id)
        self.assertEqual(len(self.kleer_copies(move)), 1)  # Kleer has it
        self.later(job)
        self.assertEqual(job.state, "done")
        copies = self.kleer_copies(move)
        self.assertEqual(len(copies), 1)
        self.assertEqual(move.kleer_invoice_id, int(copies[0]["id"]))
        self.assertEqual(len(self.invoice_puts()), 1)
        self.assertEqual(move.kleer_state, "draft")

    def test_5xx_then_429_are_retried_and_succeed_when_the_fault_clears(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client/invoice$", status=502)
        self.sandbox.faults.add(
            "status", method="PUT", path="^/client/invoice$", status=429, retry_after=120
        )
        move = self.make_invoice(self.line())
        self.process_queue()
        job = self.job_of(move)
        self.assertEqual((job.state, job.error_kind), ("pending", "transient"))
        self.assertEqual(move.kleer_state, "queued")  # not failed: it will retry
        self.later(job)
        self.assertEqual(job.error_kind, "rate_limited")
        self.assertGreaterEqual((job.next_try - fields.Datetime.now()).total_seconds(), 110)
        self.later(job)
        self.assertEqual(job.state, "done")
        self.assertEqual(job.attempts, 3)
        self.assertEqual(len(self.kleer_copies(move)), 1)
        self.assertEqual(move.kleer_state, "draft")

    def test_permanent_error_waits_for_reprocess_then_succeeds(self):
        self.refuse_invoices()
        move = self.make_invoice(self.line())
        self.process_queue()
        job = self.job_of(move)
        self.assertEqual((job.state, move.kleer_state), ("failed", "failed"))
        self.assertIn("Kunden är spärrad", move.kleer_last_error)
        log = self.open_log(move)
        self.assertEqual(len(log), 1)
        self.assertIn("<client-invoice>", log.request_body)
        self.assertIn("Kunden är spärrad", log.response_body)
        self.assertTrue(
            any("Kunden är spärrad" in (m.body or "") for m in move.message_ids),
            "the failure is in the chatter",
        )
        self.process_queue(now=fields.Datetime.now() + timedelta(days=1))
        self.assertEqual(len(self.invoice_puts()), 1)  # waits for a person
        log.action_reprocess()
        self.assertEqual(move.kleer_state, "queued")
        self.process_queue()
        self.assertEqual((job.state, move.kleer_state), ("done", "draft"))
        self.assertFalse(self.open_log(move))
        self.assertFalse(move.kleer_last_error)

    def test_ignore_removes_it_from_the_open_list(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client/invoice$", status=403)
        move = self.make_invoice(self.line())
        self.process_queue()
        log = self.open_log(move)
        self.assertEqual(log.error_kind, "permission")
        log.action_ignore()
        self.assertFalse(self.open_log(move))
        self.assertEqual(move.kleer_state, "ignored")
        self.assertIn(move, self.env["account.move"].search([("move_type", "=", "out_invoice")]))
        self.assertIn(
            log, self.env["kleer.log"].search([("state", "=", "ignored"), ("res_id", "=", move.id)])
        )
        self.process_queue()
        self.assertFalse(self.invoice_puts()[1:])

    def test_malformed_answer_to_a_create_is_checked_before_resending(self):
        self.sandbox.faults.add("malformed", method="PUT", path="^/client/invoice$")
        move = self.make_invoice(self.line())
        self.process_queue()
        job = self.job_of(move)
        self.assertTrue(job.check_remote)
        self.later(job)
        self.assertEqual(len(self.kleer_copies(move)), 1)
        self.assertEqual(job.state, "done")
