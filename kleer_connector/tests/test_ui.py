"""What billing users see and reach: the Kleer menu, the smart buttons of
the invoice and the partner, Ignore from the job and log views. Run as the
users themselves (a billing user, a plain internal user), never as
superuser."""

from datetime import timedelta

from lxml import etree

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .test_invoice_common import InvoiceCase


class BillingUserCase(InvoiceCase):
    """A billing user and a plain internal user of the invoicing company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing = cls.company_user("kleer_ui_billing")
        cls.plain = cls.company_user("kleer_ui_plain", "plain")

    def failed_invoice(self):
        self.refuse_invoices()
        move = self.consulting_invoice()
        self.process_queue()
        self.assertEqual(move.kleer_state, "failed")
        return move

    def visible_menus(self, user):
        return self.env["ir.ui.menu"].with_user(user)._visible_menu_ids(False)

    def arch(self, user, model, view_type, view=None):
        views = self.env[model].with_user(user).get_views([(view, view_type)])
        return etree.fromstring(views["views"][view_type]["arch"])


@tagged("post_install", "-at_install")
class TestBillingUserWayIn(BillingUserCase):
    def test_billing_user_sees_the_kleer_menu(self):
        menus = [
            self.env.ref(f"kleer_connector.menu_kleer_{name}").id for name in ("root", "log", "job")
        ]
        visible = self.visible_menus(self.billing)
        self.assertTrue(set(menus) <= visible, "the Kleer menu is visible to billing users")
        self.assertIn(self.env.ref("account.menu_finance").id, visible)
        self.assertFalse(set(menus) & self.visible_menus(self.plain))
        # What the menu opens, they may list.
        for model in ("kleer.log", "kleer.job"):
            self.env[model].with_user(self.billing).search_count([])

    def test_invoice_smart_buttons_open_its_jobs_and_log(self):
        move = self.failed_invoice()
        other = self.consulting_invoice()
        move = move.with_user(self.billing)
        self.assertEqual((move.kleer_job_count, move.kleer_log_count), (1, 1))
        self.assertEqual(other.with_user(self.billing).kleer_log_count, 0)
        arch = self.arch(self.billing, "account.move", "form")
        self.assertTrue(arch.xpath("//button[@name='action_kleer_open_jobs']"))
        self.assertTrue(arch.xpath("//button[@name='action_kleer_open_logs']"))

        action = move.action_kleer_open_logs()
        logs = self.env["kleer.log"].with_user(self.billing).search(action["domain"])
        self.assertEqual(logs, self.open_log(move))
        action = move.action_kleer_open_jobs()
        jobs = self.env["kleer.job"].with_user(self.billing).search(action["domain"])
        self.assertEqual(jobs, self.job_of(move))

        # Ignore, from the log's own form and list, as the billing user.
        for view_type in ("form", "list"):
            arch = self.arch(self.billing, "kleer.log", view_type)
            self.assertTrue(arch.xpath("//button[@name='action_ignore']"), view_type)
            arch = self.arch(self.billing, "kleer.job", view_type)
            self.assertTrue(arch.xpath("//button[@name='action_ignore']"), view_type)
        logs.action_ignore()
        self.assertEqual((logs.state, jobs.state, move.kleer_state), ("ignored",) * 3)

    def test_plain_user_gets_no_buttons_nor_counts(self):
        move = self.failed_invoice()
        arch = self.arch(self.plain, "res.partner", "form")
        self.assertFalse(arch.xpath("//button[@name='action_kleer_open_jobs']"))
        with self.assertRaises(AccessError):
            self.customer.with_user(self.plain).action_kleer_open_logs()
        with self.assertRaises(AccessError):
            move.with_user(self.plain).action_kleer_open_logs()

    def test_partner_smart_buttons(self):
        self.customer.kleer_client_id = False  # pushed as a new client: a job
        self.env["kleer.job"]._enqueue(self.customer, "push", company=self.company)
        partner = self.customer.with_user(self.billing)
        self.assertEqual(partner.kleer_job_count, 1)
        arch = self.arch(self.billing, "res.partner", "form")
        self.assertTrue(arch.xpath("//button[@name='action_kleer_open_jobs']"))
        action = partner.action_kleer_open_jobs()
        jobs = self.env["kleer.job"].with_user(self.billing).search(action["domain"])
        self.assertEqual(jobs.res_id, self.customer.id)


@tagged("post_install", "-at_install")
class TestKleerStateOnInvoice(BillingUserCase):
    """Run as a billing user: where the Kleer state is, and the failed banner."""

    def test_state_in_title_row_and_failed_banner(self):
        arch = self.arch(self.billing, "account.move", "form")
        badge = arch.xpath("//field[@name='kleer_state'][@widget='badge']")
        self.assertEqual(len(badge), 1)
        # In the title block, where the PAID / REVERSED ribbon (top right) does not reach.
        self.assertTrue(badge[0].xpath("ancestor::div[contains(@class, 'oe_title')]"))
        self.assertFalse(badge[0].xpath("ancestor::div[contains(@class, 'float-end')]"))
        [banner] = arch.xpath("//div[@name='kleer_failed_banner']")
        self.assertIn("alert", banner.get("class"))
        self.assertTrue(banner.xpath(".//field[@name='kleer_last_error']"))
        self.assertTrue(banner.xpath(".//button[@name='action_kleer_send']"))

        # The banner's content and its button, for a failed invoice.
        move = self.failed_invoice().with_user(self.billing)
        self.assertIn("Kunden är spärrad", move.kleer_last_error)
        move.action_kleer_send()
        self.assertEqual(move.kleer_state, "queued")
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        self.assertFalse(move.kleer_last_error)


@tagged("post_install", "-at_install")
class TestFailuresReachSomeone(BillingUserCase):
    def billing_invoice(self):
        """An invoice created and confirmed by the billing user."""
        env = self.env
        self.env = env(user=self.billing)
        try:
            move = self.consulting_invoice()
        finally:
            self.env = env
        return move.with_env(env)

    def kleer_todos(self, move):
        todo = self.env.ref("mail.mail_activity_data_todo")
        return move.activity_ids.filtered(lambda a: a.activity_type_id == todo)

    def test_one_activity_for_the_creator_done_on_success(self):
        self.refuse_invoices(times=2)
        move = self.billing_invoice()
        self.process_queue()
        self.assertEqual(move.kleer_state, "failed")
        activity = self.kleer_todos(move)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.billing)
        self.assertIn("Kunden är spärrad", str(activity.note))
        # Failing again: still the one activity.
        move.with_user(self.billing).action_kleer_send()
        self.process_queue()
        self.assertEqual(move.kleer_state, "failed")
        self.assertEqual(self.kleer_todos(move), activity)
        # Kleer takes it: the activity is done.
        move.with_user(self.billing).action_kleer_send()
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        self.assertFalse(self.kleer_todos(move))
        self.assertFalse(move.kleer_activity_id)
        done = self.env["mail.message"].search(
            [
                ("model", "=", "account.move"),
                ("res_id", "=", move.id),
                ("mail_activity_type_id", "!=", False),
            ]
        )
        self.assertTrue(done, "the done activity is in the chatter")

    def test_activity_goes_to_the_kleer_responsible(self):
        responsible = self.company_user("kleer_ui_responsible", "manager")
        self.company.kleer_responsible_id = responsible
        self.refuse_invoices()
        move = self.billing_invoice()
        self.process_queue()
        self.assertEqual(self.kleer_todos(move).user_id, responsible)

    def test_retry_is_announced_and_triggered_at_its_time(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client/invoice$", status=503)
        move = self.billing_invoice()
        self.process_queue()
        job = self.job_of(move)
        self.assertEqual((job.state, move.kleer_state), ("pending", "queued"))
        self.assertTrue(job.next_try)
        self.assertFalse(self.kleer_todos(move), "a retry is nobody's to-do yet")
        cron = self.env.ref("kleer_connector.cron_process_queue")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.assertIn(job.next_try, triggers.mapped("call_at"))
        # Said on the invoice, in the reader's time zone.
        self.billing.tz = "Asia/Tokyo"  # never the server's UTC by chance
        note = move.with_user(self.billing).kleer_retry_note
        local = job.next_try + timedelta(hours=9)
        self.assertIn(job.last_error, note)
        self.assertRegex(note, rf"next try (\d{{4}}-\d\d-\d\d )?{local:%H:%M}$")
        arch = self.arch(self.billing, "account.move", "form")
        self.assertTrue(
            arch.xpath("//div[@name='kleer_retry_banner']//field[@name='kleer_retry_note']")
        )
