"""The Kleer flow in a real browser (Odoo's tour runner, Chromium), in
English and in Swedish: the admin tests the connection and saves the
settings; a billing user confirms invoices, sees them reach Kleer, finds a
refused one through its activity and its log entry, and reprocesses it.

The tours are in static/tests/tours/kleer_tour.js. Between them, Python does
only what no user does from the browser: Kleer's fault (the sandbox) and the
queue's scheduled action. Confirm and Reprocess only queue the invoice and
trigger that action; crons do not run by themselves in tests, so the test
runs it (``method_direct_trigger``, as "Run manually" does) and the next tour
checks the badge.

``KLEER_SCREENSHOTS=DIR`` (``./run-tests --screenshots DIR``, or
``tools/screenshots``) saves the English run's screenshots in DIR.
"""

import base64
import json
import os
import unittest
from pathlib import Path
from unittest.mock import patch

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests import common as odoo_common

from .test_invoice_common import InvoiceCase

SCREENSHOTS_ENV = "KLEER_SCREENSHOTS"
SCREENSHOT_PREFIX = "kleer-screenshot:"
REFUSAL = "Kunden är spärrad"  # the tours look for it
RESPONSIBLE = "Berit Fakturering"


class ScreenshotBrowser(odoo_common.ChromeBrowser):
    """Odoo's ChromeBrowser; a tour's ``kleer-screenshot:NAME`` console line
    captures the page (when a directory is set), then tells the tour so."""

    shots_dir = None

    def _handle_console(self, type, args=None, stackTrace=None, **kw):  # noqa: A002
        first = args and str(self._from_remoteobject(args[0]))
        if not (first and first.startswith(SCREENSHOT_PREFIX)):
            return super()._handle_console(type, args, stackTrace, **kw)
        name = first.removeprefix(SCREENSHOT_PREFIX)
        done = f"document.body.dataset.kleerScreenshot = {json.dumps(name)}"
        if not self.shots_dir:
            self._websocket_send("Runtime.evaluate", params={"expression": done})
            return None

        def save(future):
            data = future.result()["data"]
            path = Path(self.shots_dir) / f"kleer_{name}.png"
            path.write_bytes(base64.b64decode(data))
            self._logger.info("screenshot %s", path)
            self._websocket_send("Runtime.evaluate", params={"expression": done})

        capture = self._websocket_send("Page.captureScreenshot", with_future=True)
        capture.add_done_callback(save)
        return None


@tagged("post_install", "-at_install")
class TestKleerTour(InvoiceCase, HttpCase):
    browser_size = "1280x800"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The tour must run: a skipped browser test is no proof (Odoo skips
        # it without websocket-client or a Chrome, and ./run-tests would count
        # it as skipped, not failed).
        if odoo_common.websocket is None:
            raise AssertionError("websocket-client is not installed: the tour cannot run")
        try:
            odoo_common._find_executable()
        except unittest.SkipTest as exc:
            raise AssertionError(f"no Chromium for the tour: {exc}") from exc
        # The web client's bundles, built once for both languages' tours
        # (else each test builds them again in its rolled-back transaction).
        for name in ("web.assets_web", "web.assets_tests"):
            bundle = cls.env["ir.qweb"]._get_asset_bundle(name)
            bundle.css()
            bundle.js()
        company = cls.company
        companies = {"company_id": company.id, "company_ids": [(6, 0, company.ids)]}
        cls.admin = cls.env.ref("base.user_admin")
        cls.admin.write(companies)
        cls.billing = new_test_user(
            cls.env,
            "kleer_tour_billing",
            groups="base.group_user,account.group_account_invoice",
            name=RESPONSIBLE,
            **companies,
        )
        # The connection is set as an admin typed it (InvoiceCase), not yet
        # tested; no Kleer responsible yet: the admin's tour chooses one.
        company.kleer_responsible_id = False
        # The invoice's VAT line reads "Moms 25 %", not the generic chart's "Tax 15%".
        cls.vat25.tax_group_id = cls.env["account.tax.group"].create(
            {"name": "Moms 25 %", "company_id": company.id}
        )
        cls.env["kleer.user"].search([("company_id", "=", company.id)]).user_id = cls.admin

    def run_queue(self):
        """The queue's scheduled action, run as "Run manually" runs it."""
        self.env.ref("kleer_connector.cron_process_queue").method_direct_trigger()
        self.env.invalidate_all()

    def tour(self, name, user, url="/odoo"):
        # tour names: kleer_<name>_<en|sv>
        self.start_tour(url, f"kleer_{name}_{self.lang_code}", login=user.login)
        self.env.invalidate_all()

    def draft(self, hours):
        """A draft invoice, created by the admin (the billing user gets the
        refusal's activity as the Kleer responsible, not as its creator)."""
        env = self.env
        self.env = env(user=self.admin)
        try:
            move = self.consulting_invoice(quantity=hours, post=False)
        finally:
            self.env = env
        return move.with_env(env)

    def form_url(self, move):
        return f"/odoo/action-account.action_move_out_invoice_type/{move.id}"

    def run_flow(self, lang, lang_code):
        self.lang_code = lang_code
        self.admin.lang = self.billing.lang = lang
        shots = os.environ.get(SCREENSHOTS_ENV) if lang_code == "en" else None
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
        company = self.company

        with (
            patch.object(odoo_common, "ChromeBrowser", ScreenshotBrowser),
            patch.object(ScreenshotBrowser, "shots_dir", shots),
        ):
            # The admin: Test connection, a Kleer responsible, Save.
            self.tour("settings", self.admin, "/odoo/settings")
            self.assertEqual(company.kleer_responsible_id, self.billing)
            self.assertTrue(self.sent("GET"), "Test connection asked Kleer")

            # The billing user confirms an invoice; the queue sends it.
            first = self.draft(hours=1)
            self.tour("confirm", self.billing, self.form_url(first))
            self.assertEqual((first.state, first.kleer_state), ("posted", "queued"))
            self.run_queue()
            self.assertEqual(first.kleer_state, "draft")
            self.assertTotalsEqual(first)

            # Kleer refuses the next one.
            self.refuse_invoices(REFUSAL)
            refused = self.draft(hours=2)
            self.tour("next", self.billing, self.form_url(first))
            self.assertEqual((refused.state, refused.kleer_state), ("posted", "queued"))
            self.run_queue()
            self.assertEqual(refused.kleer_state, "failed")
            self.assertEqual(refused.kleer_activity_id.user_id, self.billing)
            self.tour("failure", self.billing)

            # Kleer takes it again: Reprocess from the Kleer menu.
            self.sandbox.faults.clear()
            self.tour("reprocess", self.billing)
            self.assertEqual(refused.kleer_state, "queued")
            self.run_queue()
            self.assertEqual(refused.kleer_state, "draft")
            self.assertTotalsEqual(refused)
            self.assertFalse(refused.kleer_activity_id, "the activity is done")
            self.tour("sent", self.billing, self.form_url(refused))
        self.assertEqual(len(self.invoice_puts()), 3, "two invoices, one refused once")

    def test_tour_english(self):
        self.run_flow("en_US", "en")

    def test_tour_swedish(self):
        self.env["res.lang"]._activate_lang("sv_SE")
        # Odoo's own Swedish and the addon's i18n/sv.po, as installing the
        # language loads them.
        modules = ["base", "web", "mail", "account", "kleer_connector"]
        self.env["ir.module.module"]._load_module_terms(modules, ["sv_SE"])
        self.run_flow("sv_SE", "sv")
