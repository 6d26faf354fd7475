"""Retention: done jobs and info / resolved log entries go after a
configurable number of days, errors stay; the certified-number job looks
back a bounded number of days and hands older invoices to a person once."""

from datetime import date, timedelta

from odoo import fields
from odoo.tests import tagged

from ..models.tools import NUMBER_WINDOW_PARAM, RETENTION_PARAM
from .common import KleerCase
from .test_invoice_common import InvoiceCase


@tagged("post_install", "-at_install")
class TestRetention(KleerCase):
    def job(self, state, age_days, **vals):
        partner = self.env["res.partner"].create({"name": f"Retention {state} {age_days}"})
        return self.env["kleer.job"].create(
            dict(
                {
                    "company_id": self.company.id,
                    "operation": "push",
                    "res_model": "res.partner",
                    "res_id": partner.id,
                    "state": state,
                    "done_date": fields.Datetime.now() - timedelta(days=age_days),
                },
                **vals,
            )
        )

    def log(self, level, state, age_days):
        return self.env["kleer.log"].create(
            {
                "company_id": self.company.id,
                "operation": "post",
                "level": level,
                "state": state,
                "date": fields.Datetime.now() - timedelta(days=age_days),
            }
        )

    def test_autovacuum_removes_old_done_jobs_and_info_entries_only(self):
        old_done = self.job("done", 31)
        recent_done = self.job("done", 29)
        old_failed = self.job("failed", 31)
        old_ignored = self.job("ignored", 31)
        old_info = self.log("info", "done", 31)
        old_resolved = self.log("error", "resolved", 31)
        old_info.job_id = old_done  # an entry pointing at the job does not keep it
        kept_logs = (
            self.log("error", "open", 31)
            | self.log("error", "ignored", 31)
            | self.log("warning", "done", 31)
            | self.log("info", "done", 29)
        )
        self.env["kleer.job"]._gc_done_jobs()
        self.env["kleer.log"]._gc_old_entries()
        self.assertFalse(old_done.exists())
        self.assertEqual(
            (recent_done | old_failed | old_ignored).exists(),
            recent_done | old_failed | old_ignored,
        )
        self.assertFalse((old_info | old_resolved).exists())
        self.assertEqual(kept_logs.exists(), kept_logs, "errors, open and recent entries stay")
        # The retention is a system parameter.
        self.env["ir.config_parameter"].set_param(RETENTION_PARAM, "10")
        self.env["kleer.job"]._gc_done_jobs()
        self.env["kleer.log"]._gc_old_entries()
        self.assertFalse(recent_done.exists())
        self.assertEqual(kept_logs.exists(), kept_logs - kept_logs[-1])

    def test_they_are_odoo_autovacuum_methods(self):
        for model, method in (("kleer.job", "_gc_done_jobs"), ("kleer.log", "_gc_old_entries")):
            self.assertTrue(getattr(getattr(type(self.env[model]), method), "_autovacuum", False))


@tagged("post_install", "-at_install")
class TestInvoiceNumberWindow(InvoiceCase):
    def test_window_is_bounded_and_older_invoices_logged_once(self):
        """Only invoices certified in the last 90 days are looked for in Kleer;
        one certified before still without its number goes to a person."""
        self.company.kleer_invoice_mode = "certified"
        today = fields.Date.context_today(self.env["account.move"])
        recent = self.make_invoice(
            [{"product_id": self.consulting, "quantity": 1, "taxes": self.vat25}],
            invoice_date=today - timedelta(days=5),
        )
        old = self.make_invoice(
            [{"product_id": self.consulting, "quantity": 2, "taxes": self.vat25}],
            invoice_date=today - timedelta(days=200),
        )
        self.process_queue()
        self.assertEqual((recent | old).mapped("kleer_certified"), [True, True])
        # Numbers are read back at certification: these two stand for
        # invoices certified by an earlier version, their numbers not read.
        self.assertTrue(all((recent | old).mapped("kleer_invoice_nr")))
        (recent | old).kleer_invoice_nr = 0
        # Certified long ago and its number never found (e.g. lost in Kleer).
        old.kleer_certified_date = fields.Datetime.now() - timedelta(days=200)
        old.company_id.partner_id.tz = "Asia/Tokyo"
        certified_in_tokyo = (old.kleer_certified_date + timedelta(hours=9)).date()
        Log = self.env["kleer.log"]
        for _run in range(2):
            self.sandbox.requests.clear()
            self.env["account.move"]._cron_kleer_invoice_numbers()
            lists = self.sent("GET", "/client/invoice")
            self.assertTrue(lists)
            self.assertGreaterEqual(
                min(date.fromisoformat(r.query["invoiceDateLower"]) for r in lists),
                today - timedelta(days=90),
                "never reads back to the oldest invoice missing its number",
            )
            self.assertGreater(recent.kleer_invoice_nr, 0)
            self.assertEqual(old.kleer_invoice_nr, 0)
            entries = Log.search([("res_id", "=", old.id), ("operation", "=", "invoice_number")])
            self.assertEqual(len(entries), 1, "logged once, for a person")
            self.assertEqual((entries.level, entries.state), ("warning", "open"))
            self.assertIn("no longer looked for", entries.message)
            self.assertIn(f") on {certified_in_tokyo}, but", entries.message)
            recent.kleer_invoice_nr = 0  # keep the run reading Kleer
        # A longer window (system parameter) takes it in again.
        self.env["ir.config_parameter"].set_param(NUMBER_WINDOW_PARAM, "365")
        self.env["account.move"]._cron_kleer_invoice_numbers()
        self.assertGreater(old.kleer_invoice_nr, 0)
