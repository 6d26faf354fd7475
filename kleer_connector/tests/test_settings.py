from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import KleerCase, kleer_connection


@tagged("post_install", "-at_install")
class TestSettings(KleerCase):
    def _settings(self, **vals):
        return self.env["res.config.settings"].create(dict(kleer_connection(self.sandbox), **vals))

    def _test(self, **vals):
        return self._settings(**vals).action_kleer_test_connection()["params"]

    def test_test_connection_ok(self):
        params = self._test()
        self.assertEqual(params["type"], "success")
        self.assertIn("Sandbox AB", params["message"])
        self.assertIn("SEK", params["message"])
        self.assertIn("Anna Admin", params["message"])
        paths = [r.rel_path for r in self.sandbox.requests]
        self.assertEqual(paths[:2], ["/user/me", "/info"])
        # Then the read-only probes (test_api_guesses.TestApiChoices).
        self.assertEqual({r.method for r in self.sandbox.requests}, {"GET"})

    def test_test_connection_uses_unsaved_form_values(self):
        self.company.kleer_token = "saved-but-wrong"
        self.assertEqual(self._test()["type"], "success")

    def test_wrong_token(self):
        params = self._test(kleer_token="not-the-token")
        self.assertEqual(params["type"], "danger")
        self.assertIn("refused the API token", params["message"])
        self.assertNotIn("not-the-token", params["message"])

    def test_wrong_company_id(self):
        params = self._test(kleer_company_id=str(self.sandbox.other_company_id))
        self.assertEqual(params["type"], "danger")
        self.assertIn("company id", params["message"])

    def test_unreachable(self):
        params = self._test(kleer_base_url="http://127.0.0.1:9/v1")
        self.assertEqual(params["type"], "danger")
        self.assertIn("could not be reached", params["message"])

    def test_tls_error(self):
        # https to a plain-http port fails in the TLS handshake.
        url = self.sandbox.base_url.replace("http://", "https://")
        params = self._test(kleer_base_url=url)
        self.assertEqual(params["type"], "danger")
        self.assertIn("TLS", params["message"])

    def test_incomplete_settings(self):
        params = self._test(kleer_company_id=False)
        self.assertEqual(params["type"], "danger")
        self.assertIn("incomplete", params["message"])

    def test_environment_urls(self):
        company = self.company
        company.kleer_environment = "production"
        self.assertEqual(company._kleer_base_url(), "https://api.kleer.se/v1")
        company.kleer_environment = "test"
        self.assertEqual(company._kleer_base_url(), "https://test-api.kleer.se/v1")

    def test_settings_are_saved_per_company(self):
        other = self.env["res.company"].create({"name": "Other Kleer AB"})
        self._settings(kleer_invoice_mode="certified", kleer_sync_users=True).execute()
        self.assertEqual(self.company.kleer_invoice_mode, "certified")
        self.assertEqual(other.kleer_invoice_mode, "draft")
        self.assertFalse(other.kleer_enabled)

    def test_sync_crons_follow_settings(self):
        cron = self.env.ref("kleer_connector.cron_sync_products")
        self.assertFalse(cron.active)
        self.company.kleer_sync_products = True
        self.assertTrue(cron.active)
        self.company.kleer_sync_products = False
        self.assertFalse(cron.active)
        self.company.kleer_customer_sync = "both"
        self.assertTrue(self.env.ref("kleer_connector.cron_sync_customers").active)
        # A company that is not fully configured does not switch a cron on.
        self.company.write({"kleer_customer_sync": "none", "kleer_token": False})
        self.company.kleer_sync_users = True
        self.assertFalse(self.env.ref("kleer_connector.cron_sync_users").active)

    def test_token_readable_only_by_administrators(self):
        accountant = new_test_user(
            self.env, "kleer_accountant", groups="account.group_account_manager,base.group_user"
        )
        company = self.company.with_user(accountant)
        with self.assertRaises(AccessError):
            company.read(["kleer_token"])
        # ... but the accountant sees the rest of the Kleer settings.
        self.assertEqual(company.read(["kleer_company_id"])[0]["kleer_company_id"], "1")

    def test_groups(self):
        billing = new_test_user(self.env, "kleer_billing", groups="account.group_account_invoice")
        self.assertTrue(billing.has_group("kleer_connector.group_kleer_user"))
        self.assertFalse(billing.has_group("kleer_connector.group_kleer_manager"))
        manager = new_test_user(self.env, "kleer_mgr", groups="account.group_account_manager")
        self.assertTrue(manager.has_group("kleer_connector.group_kleer_manager"))

    def test_open_failures_counter(self):
        settings = self._settings()
        self.assertEqual(settings.kleer_open_failures, 0)
        self.env["kleer.log"].create(
            {"company_id": self.company.id, "operation": "post", "message": "x", "state": "open"}
        )
        settings.invalidate_recordset()
        self.assertEqual(settings.kleer_open_failures, 1)

    def test_neutralize_disables_connector(self):
        from odoo.modules.neutralize import get_neutralization_queries

        job = self.env["kleer.job"].create(
            {
                "company_id": self.company.id,
                "operation": "post",
                "res_model": "res.partner",
                "res_id": 1,
            }
        )
        self.company.kleer_sync_products = True
        self.env.flush_all()
        for query in get_neutralization_queries(["kleer_connector"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.company.kleer_enabled)
        self.assertFalse(self.company.sudo().kleer_token)
        self.assertFalse(self.env.ref("kleer_connector.cron_sync_products").active)
        self.assertFalse(self.env.ref("kleer_connector.cron_process_queue").active)
        self.assertEqual(job.state, "ignored")

    def test_sync_scheduled_actions_run_for_configured_companies(self):
        self.company.kleer_sync_users = True
        cron = self.env.ref("kleer_connector.cron_sync_users")
        self.assertTrue(cron.active)
        cron.method_direct_trigger()
        self.env.invalidate_all()
        mirrored = (
            self.env["kleer.user"]
            .with_context(active_test=False)
            .search([("company_id", "=", self.company.id)])
        )
        self.assertEqual(
            sorted((u.name, u.active) for u in mirrored),
            sorted((u["name"], u["active"] == "true") for u in self.sandbox.state.users(1)),
        )
        state = self.env["kleer.sync.state"].search(
            [("company_id", "=", self.company.id), ("sync", "=", "users")]
        )
        self.assertTrue(state.last_success)
