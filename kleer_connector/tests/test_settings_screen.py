"""The settings screen tells the truth, as the admin sees it: counts and
last runs when the form opens, Test connection on the values shown without
saving them, error texts said once with a next step, and "Sync now" telling
the run it just did (real cursors: the request's snapshot is older than the
run's commit)."""

from lxml import etree

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import tagged

from .common import KleerCase
from .test_sync_concurrency import RealSyncCase


def settings_arch(env, user):
    """The Settings form as ``user`` gets it."""
    Settings = env["res.config.settings"].with_user(user)
    return etree.fromstring(Settings.get_views([(False, "form")])["views"]["form"]["arch"])


def open_settings(env, user):
    """What the web client does to open Settings, as ``user``: an onchange on
    a new record, for every field of the form view."""
    arch = settings_arch(env, user)
    Settings = env["res.config.settings"].with_user(user)
    spec = {node.get("name"): {} for node in arch.iter("field")}
    return Settings.onchange({}, [], spec)["value"]


@tagged("post_install", "-at_install")
class TestSettingsScreen(KleerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.company_user("kleer_settings_admin", "admin")

    def test_form_opens_with_current_counts_and_last_success(self):
        self.env["kleer.log"].create(
            [
                {"company_id": self.company.id, "operation": "post", "message": "x"},
                {"company_id": self.company.id, "operation": "post", "message": "y"},
                {"company_id": self.company.id, "operation": "post", "state": "ignored"},
            ]
        )
        when = fields.Datetime.to_datetime("2026-11-30 09:15:00")
        self.env["kleer.sync.state"].create(
            {"company_id": self.company.id, "sync": "users", "last_success": when}
        )
        values = open_settings(self.env, self.admin)
        self.assertEqual(values["kleer_open_failures"], 2)
        self.assertEqual(values["kleer_last_sync_users"], when)

    def test_test_connection_tests_the_screen_without_saving_it(self):
        arch = settings_arch(self.env, self.admin)
        [button] = arch.xpath("//button[@name='action_kleer_test_connection']")
        # Without it, the web client asks to save first and then does not run it.
        self.assertEqual(button.get("noSaveDialog"), "true")

        self.company.sudo().kleer_token = "the-saved-token"
        Settings = self.env["res.config.settings"].with_user(self.admin)
        # What the button's click stores first (web_save of the form).
        settings = Settings.create({"kleer_token": self.sandbox.token})
        self.assertEqual(self.company.sudo().kleer_token, "the-saved-token", "not saved yet")
        params = settings.action_kleer_test_connection()["params"]
        self.assertEqual(params["type"], "success", params["message"])
        self.assertIn("not saved yet: press Save", params["message"])
        self.assertEqual(self.company.sudo().kleer_token, "the-saved-token")
        self.assertFalse(self.company.kleer_connection_ok)

        settings.execute()  # Save: the tested token becomes the company's
        self.assertEqual(self.company.sudo().kleer_token, self.sandbox.token)
        self.assertTrue(self.company.kleer_connection_ok)
        # A later change of the connection makes it untested again.
        self.company.sudo().kleer_company_id = "77"
        self.assertFalse(self.company.kleer_connection_ok)

    def test_failed_test_leaves_the_saved_connection_alone(self):
        Settings = self.env["res.config.settings"].with_user(self.admin)
        settings = Settings.create({"kleer_token": "typo"})
        self.assertEqual(settings.action_kleer_test_connection()["params"]["type"], "danger")
        self.assertEqual(self.company.sudo().kleer_token, self.sandbox.token)
        # Saved connection, tested again: remembered as working.
        params = Settings.create({}).action_kleer_test_connection()["params"]
        self.assertNotIn("not saved yet", params["message"])
        self.assertTrue(self.company.kleer_connection_ok)

    def test_error_texts_say_it_once_and_end_with_a_next_step(self):
        Settings = self.env["res.config.settings"].with_user(self.admin)
        cases = [
            ({"kleer_base_url": "http://127.0.0.1:9/v1"}, "could not be reached", "try again."),
            ({"kleer_token": "not-the-token"}, "refused the API token", "Test connection."),
            ({"kleer_company_id": "abc"}, "company id must be a number", "Test connection."),
        ]
        for vals, reason, step in cases:
            with self.subTest(reason=reason):
                message = Settings.create(vals).action_kleer_test_connection()["params"]["message"]
                self.assertEqual(message.lower().count(reason.lower()), 1, message)
                self.assertTrue(message.endswith(step), message)
                self.assertNotIn("HTTPConnectionPool", message)
        message = Settings.create(cases[0][0]).action_kleer_test_connection()["params"]["message"]
        self.assertIn("(Connection refused)", message)


@tagged("post_install", "-at_install")
class TestSyncNowReportsItsRun(RealSyncCase):
    """On real cursors: the request reads the sync state (the form shows the
    last run) before Sync now; the run commits on a cursor of its own."""

    COMPANY = "Kleer Synka Nu AB"

    def sync_now(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})
            settings = env["res.config.settings"].create({})
            # The form shows the last run: this transaction's snapshot is taken.
            shown = settings.kleer_last_sync_users
            return shown, settings.action_kleer_sync_now_users()["params"]

    def test_sync_now_reports_the_run_it_just_did(self):
        users = len(self.sandbox.state.users(self.sandbox.company_id))
        shown, first = self.sync_now()
        self.assertFalse(shown)
        self.assertEqual(first["type"], "success")
        self.assertIn(f"{users} created", first["message"])
        self.sandbox.state.add_user(self.sandbox.company_id, "Nya Nilsson", "nya@example.se")
        shown, second = self.sync_now()
        self.assertTrue(shown, "the first run's state was read before Sync now")
        self.assertEqual(second["message"], "1 created, 0 updated, 0 archived, 0 failed")
