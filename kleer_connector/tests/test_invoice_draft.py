"""Reset to draft: refused for invoices Kleer holds or may hold (Odoo and
Kleer would disagree silently), allowed for one not sent yet, whose waiting
job is then cancelled."""

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .test_invoice_common import InvoiceCase


@tagged("post_install", "-at_install")
class TestInvoiceResetToDraft(InvoiceCase):
    def test_certified_in_kleer_points_to_a_credit_note(self):
        self.company.kleer_invoice_mode = "certified"
        move = self.consulting_invoice()
        self.process_queue()
        self.assertEqual(move.kleer_state, "certified")
        for action in (move.button_draft, move.button_cancel):
            with self.assertRaisesRegex(UserError, "certified in Kleer.*credit note"):
                action()
        self.assertEqual((move.state, move.kleer_state), ("posted", "certified"))

    def test_draft_in_kleer_is_refused_clearly(self):
        move = self.consulting_invoice()
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        with self.assertRaisesRegex(UserError, r"already in Kleer as a draft \(Kleer id \d+\)"):
            move.button_draft()
        self.assertEqual(move.state, "posted")
        self.assertEqual(len(self.invoice_puts()), 1)

    def test_attempt_that_may_have_reached_kleer_is_refused(self):
        move = self.consulting_invoice()
        self.sandbox.faults.add("drop_after_store", method="PUT", path=r"^/client/invoice$")
        self.process_queue()
        self.assertTrue(self.job_of(move).check_remote)
        self.assertFalse(move.kleer_invoice_id)
        with self.assertRaisesRegex(UserError, "may have reached Kleer"):
            move.button_draft()
        self.job_of(move).state = "sending"  # a worker on it right now
        self.job_of(move).check_remote = False
        with self.assertRaisesRegex(UserError, "being sent to Kleer"):
            move.button_draft()
        self.assertEqual(move.state, "posted")

    def test_ignored_after_a_lost_answer_is_refused_until_looked_up(self):
        move = self.consulting_invoice()
        self.sandbox.faults.add("drop_after_store", method="PUT", path=r"^/client/invoice$")
        self.process_queue()
        self.job_of(move).action_ignore()
        self.assertTrue(move.kleer_check_remote)
        with self.assertRaisesRegex(UserError, "may have reached Kleer.*Send to Kleer first"):
            move.button_draft()
        self.assertEqual(move.state, "posted")
        move.action_kleer_send()
        self.process_queue()
        self.assertTrue(move.kleer_invoice_id, "adopted from Kleer")
        self.assertFalse(move.kleer_check_remote)
        self.assertEqual(len(self.invoice_puts()), 1)
        with self.assertRaisesRegex(UserError, "already in Kleer as a draft"):
            move.button_draft()

    def test_not_sent_yet_may_be_reset_and_is_sent_once_as_corrected(self):
        move = self.consulting_invoice()
        job = self.job_of(move)
        self.assertEqual((job.state, move.kleer_state), ("pending", "queued"))
        move.button_draft()
        self.assertEqual((move.state, move.kleer_state), ("draft", "not_sent"))
        self.assertEqual(job.state, "ignored", "its waiting job is cancelled")
        self.process_queue()
        self.assertFalse(self.invoice_puts(), "a draft is never sent")
        move.invoice_line_ids = [Command.update(move.invoice_line_ids.id, {"quantity": 3})]
        move.action_post()
        self.assertNotEqual(self.job_of(move), job, "confirming again queues a new job")
        self.process_queue()
        self.assertEqual(len(self.invoice_puts()), 1)
        self.assertEqual(self.last_invoice_xml().findtext("rows/row/quantity"), "3")
        self.assertEqual(move.kleer_state, "draft")

    def test_refused_by_the_mapping_may_be_reset_fixed_and_sent(self):
        partner = self.env["res.partner"].create({"name": "Landlös AB", "is_company": True})
        partner.kleer_client_id = 202
        move = self.consulting_invoice(partner=partner)
        self.process_queue()
        self.assertEqual(move.kleer_state, "failed")
        log = self.open_log(move)
        self.assertEqual(len(log), 1)
        move.button_draft()
        self.assertEqual(log.state, "ignored", "the failure is no longer open work")
        self.assertEqual(self.job_of(move).state, "ignored")
        partner.country_id = self.env.ref("base.se")
        move.action_post()
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        self.assertEqual(len(self.invoice_puts()), 1)
