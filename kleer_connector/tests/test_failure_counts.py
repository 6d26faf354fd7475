"""Open Kleer failures counted where an accountant looks: the sales
journal's card of Accounting's dashboard and the settings, computed when
shown. As the billing user and the admin who see them."""

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .test_settings_screen import open_settings
from .test_ui import BillingUserCase


@tagged("post_install", "-at_install")
class TestFailureCounts(BillingUserCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.company_user("kleer_counts_admin", "admin")
        # Sees the dashboard (read-only accounting), not Kleer.
        cls.auditor = cls.company_user("kleer_counts_auditor", "auditor")

    def dashboard_arch(self, user):
        view = self.env.ref("account.account_journal_dashboard_kanban_view")
        return self.arch(user, "account.journal", "kanban", view.id)

    def card(self, user):
        # As each time the dashboard is shown: nothing kept from an earlier read.
        self.env.invalidate_all()
        return self.sale_journal.with_user(user)

    def test_sales_journal_card_counts_and_opens_the_failures(self):
        arch = self.dashboard_arch(self.billing)
        [link] = arch.xpath("//a[@name='action_kleer_open_failures']")
        self.assertIn("Kleer failure", "".join(link.itertext()))
        self.assertEqual(self.card(self.billing).kleer_failure_count, 0)

        first = self.failed_invoice()
        second = self.failed_invoice()
        self.make_invoice([{"product_id": self.consulting, "taxes": [self.vat25]}])
        self.process_queue()  # a third one, sent: not counted
        # Not stored: the next read counts again.
        self.assertEqual(self.card(self.billing).kleer_failure_count, 2)
        action = self.card(self.billing).action_kleer_open_failures()
        logs = self.env["kleer.log"].with_user(self.billing).search(action["domain"])
        self.assertEqual(logs, self.open_log(first) | self.open_log(second))

        self.open_log(first).with_user(self.billing).action_ignore()
        self.assertEqual(self.card(self.billing).kleer_failure_count, 1)
        # Another journal's card counts its own invoices only.
        other = self.sale_journal.copy({"code": "KLR2", "name": "Försäljning 2"})
        self.assertEqual(other.with_user(self.billing).kleer_failure_count, 0)

        # The settings count the company's open failures the same way.
        self.assertEqual(open_settings(self.env, self.admin)["kleer_open_failures"], 1)

    def test_user_without_kleer_sees_no_count(self):
        arch = self.dashboard_arch(self.auditor)
        self.assertTrue(arch.xpath("//div[@name='kanban_primary_right']"))
        self.assertFalse(arch.xpath("//a[@name='action_kleer_open_failures']"))
        self.assertFalse(arch.xpath("//field[@name='kleer_failure_count']"))
        with self.assertRaises(AccessError):
            self.card(self.auditor).action_kleer_open_failures()
