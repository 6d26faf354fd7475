"""Least privilege, tested as the users who have (or lack) the rights.

Every public method of the addon's models is called over JSON-RPC, the way a
logged-in user can call it, with an empty selection, another company's
records and records the user may not touch: none may reach Kleer or change a
record. The billing user's own buttons still work. Then the token: where it
is sent (URL fields, no redirects) and where it must never appear."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException

from ..kleer_api.sandbox import SandboxServer
from ..models.kleer_job import EDIT_PROTECTED
from .common import KleerCase, LoopbackRequests, company_user, kleer_connection
from .test_queue import OP, patch_test_operation


class Redirector:
    """An HTTP server on 127.0.0.1 (a port of its own) that answers every
    request with a redirect to ``target`` and records what it received."""

    def __init__(self, target):
        self.requests = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorded.append((self.command, self.path))
                self.send_response(307)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@tagged("post_install", "-at_install")
class TestRpcAccess(LoopbackRequests, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()  # HttpCase puts the registry in test mode
        cls.sandbox = SandboxServer(seed=True)
        cls.sandbox.start()
        cls.addClassCleanup(cls.sandbox.stop)
        patch_test_operation(cls)
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.other = cls.env["res.company"].create({"name": "Kleer Annat AB"})
        (cls.company | cls.other).write(kleer_connection(cls.sandbox))
        cls.plain = company_user(cls.env, "kleer_plain", cls.company, "plain")
        cls.billing = company_user(cls.env, "kleer_billing", cls.company)
        cls.billing_other = company_user(cls.env, "kleer_billing_other", cls.other)
        cls.manager = company_user(cls.env, "kleer_manager", cls.company, "manager")
        # May edit companies and users, not Kleer's settings.
        erp = "base.group_user,base.group_erp_manager,base.group_partner_manager"
        cls.erp = company_user(cls.env, "kleer_erp", cls.company, erp)
        Job = cls.env["kleer.job"]

        def job(name, company, state):
            partner = cls.env["res.partner"].create({"name": name, "company_id": company.id})
            job = Job.with_company(company)._enqueue(partner, OP, company=company)
            job.state = state
            log = cls.env["kleer.log"].create(
                {
                    "company_id": company.id,
                    "operation": OP,
                    "message": "Kleer refused it",
                    "job_id": job.id,
                    "res_model": "res.partner",
                    "res_id": partner.id,
                }
            )
            return job, log

        cls.own_failed, cls.own_failed_log = job("Egen fel", cls.company, "failed")
        cls.own_failed2, cls.own_failed2_log = job("Egen fel 2", cls.company, "failed")
        cls.own_pending, _log = job("Egen väntar", cls.company, "pending")
        cls.own_pending2, _log = job("Egen väntar 2", cls.company, "pending")
        cls.other_failed, cls.other_log = job("Annan fel", cls.other, "failed")
        cls.other_pending, _log = job("Annan väntar", cls.other, "pending")
        cls.invoice = cls.env["account.move"].create(
            {"move_type": "out_invoice", "partner_id": cls.own_failed.res_id}
        )
        cls.env.flush_all()

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self._login = None

    # -- helpers -------------------------------------------------------------

    def call(self, user, model, method, *args, **kwargs):
        if self._login != user.login:
            self.authenticate(user.login, user.login)
            self._login = user.login
        return self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def snapshot(self):
        """Everything a call could change: jobs, log entries, sync states,
        the companies' Kleer URLs."""
        self.env.invalidate_all()
        jobs = self.env["kleer.job"].search([])
        logs = self.env["kleer.log"].search([])
        return (
            [
                (j.id, j.state, j.attempts, j.next_try, j.res_model, j.res_id, j.operation)
                for j in jobs
            ],
            [(log.id, log.state) for log in logs],
            self.env["kleer.sync.state"].search([]).read(["last_run", "last_message"]),
            (self.company | self.other).read(["kleer_environment", "kleer_base_url"]),
        )

    def assertRefused(self, user, model, method, *args):
        before = self.snapshot()
        with self.assertRaises(JsonRpcException, msg=f"{user.login}: {model}.{method}") as cm:
            self.call(user, model, method, *args)
        self.assertIn("AccessError", str(cm.exception), f"{user.login}: {model}.{method}")
        self.assertEqual(self.sandbox.requests, [], f"{user.login}: {model}.{method}")
        self.assertEqual(self.snapshot(), before, f"{user.login}: {model}.{method}")

    def assertHarmless(self, user, model, method, *args):
        """Allowed, but with nothing selected it does nothing."""
        before = self.snapshot()
        self.call(user, model, method, *args)
        self.assertEqual(self.sandbox.requests, [], f"{user.login}: {model}.{method}")
        self.assertEqual(self.snapshot(), before, f"{user.login}: {model}.{method}")

    def refused_for_everyone(self):
        """(model, method, args) no plain or billing user may call."""
        new_job = {
            "company_id": self.company.id,
            "operation": "post",
            "res_model": "res.users",
            "res_id": 2,
        }
        return [
            ("kleer.job", "action_process_now", self.other_pending.ids),
            ("kleer.job", "action_process_now", (self.own_pending | self.other_pending).ids),
            ("kleer.job", "action_reprocess", self.other_failed.ids),
            ("kleer.job", "action_ignore", self.other_failed.ids),
            ("kleer.job", "action_view_record", self.other_failed.ids),
            ("kleer.job", "write", self.own_failed.ids, {"state": "pending"}),
            ("kleer.job", "write", self.own_failed.ids, {"res_model": "res.users"}),
            ("kleer.job", "create", new_job),
            ("kleer.job", "unlink", self.own_failed.ids),
            ("kleer.job", "_process_jobs"),
            ("kleer.job", "_cron_process_queue"),
            ("kleer.log", "action_reprocess", self.other_log.ids),
            ("kleer.log", "action_ignore", self.other_log.ids),
            ("kleer.log", "action_view_record", self.other_log.ids),
            ("kleer.log", "write", self.own_failed_log.ids, {"state": "ignored"}),
            ("kleer.log", "unlink", self.own_failed_log.ids),
            ("kleer.sync", "action_sync_now", "products"),
            ("kleer.sync", "action_sync_now", "customers"),
            ("kleer.sync", "_cron_sync", "products"),
            ("res.config.settings", "action_kleer_sync_now_products", []),
            ("res.config.settings", "action_kleer_sync_now_customers", []),
            ("res.config.settings", "action_kleer_test_connection", []),
            ("res.company", "write", self.company.ids, {"kleer_base_url": "https://x.example"}),
            ("res.company", "write", self.company.ids, {"kleer_environment": "custom"}),
            ("res.company", "read", self.company.ids, ["kleer_base_url"]),
            ("account.move", "write", self.invoice.ids, {"kleer_invoice_id": 4711}),
            ("account.move", "write", self.invoice.ids, {"kleer_certified": True}),
            ("account.move", "write", self.invoice.ids, {"kleer_check_remote": False}),
        ]

    # -- the tests -----------------------------------------------------------

    def test_plain_user_can_do_nothing(self):
        calls = self.refused_for_everyone() + [
            ("kleer.job", "action_process_now", []),
            ("kleer.job", "action_process_now", self.own_pending.ids),
            ("kleer.job", "action_reprocess", self.own_failed.ids),
            ("kleer.job", "action_ignore", self.own_failed.ids),
            ("kleer.log", "action_reprocess", self.own_failed_log.ids),
            ("kleer.log", "action_ignore", self.own_failed_log.ids),
            ("account.move", "action_kleer_send", self.invoice.ids),
        ]
        for model, method, *args in calls:
            with self.subTest(model=model, method=method, args=args):
                self.assertRefused(self.plain, model, method, *args)

    def test_billing_user_cannot_reach_beyond_their_jobs(self):
        for model, method, *args in self.refused_for_everyone():
            with self.subTest(model=model, method=method, args=args):
                self.assertRefused(self.billing, model, method, *args)
        # An empty selection is nothing, never "every due job".
        for model, method in [
            ("kleer.job", "action_process_now"),
            ("kleer.job", "action_reprocess"),
            ("kleer.job", "action_ignore"),
        ]:
            with self.subTest(model=model, method=method):
                self.assertHarmless(self.billing, model, method, [])

    def test_billing_user_of_another_company(self):
        for model, method, *args in [
            ("account.move", "action_kleer_send", self.invoice.ids),
            ("kleer.job", "action_process_now", self.own_pending.ids),
            ("kleer.job", "action_reprocess", self.own_failed.ids),
            ("kleer.log", "action_ignore", self.own_failed_log.ids),
        ]:
            with self.subTest(model=model, method=method):
                self.assertRefused(self.billing_other, model, method, *args)

    def test_billing_user_cannot_steer_an_invoice_in_kleer(self):
        """The ids the queue acts on (update, certify, adopt) are the
        connector's: a billing user may edit the invoice, not point it at
        another Kleer invoice."""
        self.call(self.billing, "account.move", "write", self.invoice.ids, {"ref": "PO-1"})
        for vals in (
            {"kleer_invoice_id": 4711},
            {"kleer_invoice_nr": 1},
            {"kleer_certified": True},
        ):
            with self.subTest(vals=vals):
                self.assertRefused(self.billing, "account.move", "write", self.invoice.ids, vals)
        self.invoice.invalidate_recordset()
        self.assertEqual(self.invoice.ref, "PO-1")
        self.assertEqual((self.invoice.kleer_invoice_id, self.invoice.kleer_certified), (0, False))

    def test_billing_user_buttons_still_work(self):
        self.call(self.billing, "kleer.log", "action_reprocess", self.own_failed_log.ids)
        self.call(self.billing, "kleer.job", "action_ignore", self.own_failed2.ids)
        self.assertEqual(self.sandbox.requests, [])
        self.call(self.billing, "kleer.job", "action_process_now", self.own_pending.ids)
        self.env.invalidate_all()
        self.assertEqual(self.own_failed.state, "pending")
        self.assertEqual(self.own_failed_log.state, "reprocessed")
        self.assertEqual(
            (self.own_failed2.state, self.own_failed2_log.state), ("ignored", "ignored")
        )
        # Exactly the selected job went to Kleer; the other due jobs wait.
        self.assertEqual(self.own_pending.state, "done")
        puts = [r.xml().findtext("foreign-id") for r in self.sandbox.requests if r.method == "PUT"]
        self.assertEqual(puts, [f"qtest:{self.own_pending.res_id}"])
        self.assertEqual(
            (self.own_pending2 | self.other_pending).mapped("state"), ["pending", "pending"]
        )
        # "Send to Kleer" on their own invoice answers (a draft: nothing to send).
        with self.assertRaises(JsonRpcException) as cm:
            self.call(self.billing, "account.move", "action_kleer_send", self.invoice.ids)
        self.assertIn("UserError", str(cm.exception))

    def test_manager_can_sync_now(self):
        self.call(self.manager, "kleer.sync", "action_sync_now", "products")
        self.assertTrue(self.sandbox.requests)
        self.assertEqual({r.rel_path for r in self.sandbox.requests}, {"/product"})
        # ... but not see where the token goes, nor send it elsewhere.
        self.sandbox.reset()
        self.assertRefused(
            self.manager, "res.company", "read", self.company.ids, ["kleer_base_url"]
        )
        self.assertRefused(
            self.manager, "res.company", "write", self.company.ids, {"kleer_environment": "test"}
        )

    def test_url_fields_are_as_protected_as_the_token(self):
        # Allowed to edit companies, not where the token is sent.
        self.call(self.erp, "res.company", "write", self.company.ids, {"phone": "+46 8 123"})
        for vals in (
            {"kleer_base_url": "https://kleer.example.com/v1"},
            {"kleer_environment": "custom"},
            {"kleer_token": "stolen"},
        ):
            with self.subTest(vals=vals):
                self.assertRefused(self.erp, "res.company", "write", self.company.ids, vals)


@tagged("post_install", "-at_install")
class TestTokenProtection(KleerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        patch_test_operation(cls)
        cls.partner = cls.env["res.partner"].create({"name": "Kund Omdirigerad"})

    def test_job_target_cannot_be_changed_even_by_code(self):
        job = self.env["kleer.job"]._enqueue(self.partner, OP)
        for field, value in [
            ("res_model", "res.users"),
            ("res_id", 2),
            ("operation", "post"),
            ("company_id", self.env["res.company"].create({"name": "Annat AB"}).id),
            ("direction", "in"),
            ("kleer_ref", 7),
        ]:
            with self.subTest(field=field), self.assertRaises(AccessError):
                job.sudo().write({field: value})
        job.write({"state": "ignored"})  # the connector's own bookkeeping
        job.with_context(kleer_edit_protected=EDIT_PROTECTED).write(
            {"record_name": "x", "res_id": 3}
        )
        self.assertEqual((job.state, job.res_id), ("ignored", 3))

    def test_empty_job_ids_run_nothing(self):
        self.env["kleer.job"]._enqueue(self.partner, OP)
        self.assertEqual(self.process_queue(job_ids=[]), 0)
        self.assertEqual(self.sandbox.requests, [])
        self.assertEqual(self.process_queue(), 1)

    def test_redirect_is_not_followed(self):
        # "Kleer" answers with a redirect to another server (the sandbox, on
        # another port), which would record the request if it were followed.
        redirector = Redirector(self.sandbox.root_url)
        self.addCleanup(redirector.close)
        self.company.kleer_base_url = redirector.url + "/v1"
        job = self.env["kleer.job"]._enqueue(self.partner, OP)
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(len(redirector.requests), 1)
        self.assertEqual(self.sandbox.requests, [])
        self.assertIn("redirect", job.last_error)
        self.assertTrue(job.check_remote)  # whatever answered may have stored it
        self.assertNotEqual(job.state, "done")

    def test_plain_http_only_to_loopback(self):
        with self.assertRaises(ValidationError):
            self.company.kleer_base_url = "http://kleer.example.com/v1"
        self.company.kleer_base_url = "https://kleer.example.com/v1"
        self.company.kleer_base_url = "http://127.0.0.1:8090/v1"

    def test_token_redacted_in_sync_state_and_log(self):
        token = self.sandbox.token
        self.sandbox.faults.add(
            "status", method="GET", path="^/product$", status=400, message=f"Bad token {token}"
        )
        self.assertFalse(self.env["kleer.sync"]._run_sync("products", self.company))
        self.assertRedacted("products", "Bad token ***")

    def test_token_redacted_from_any_exception(self):
        token = self.sandbox.token

        def boom(sync, company, run):
            raise ValueError(f"echo {token}")

        Sync = type(self.env["kleer.sync"])
        with (
            patch.object(Sync, "_kleer_sync_rates", boom),
            self.assertLogs("odoo.addons.kleer_connector.models.kleer_sync", "ERROR") as logged,
        ):
            self.assertFalse(self.env["kleer.sync"]._run_sync("rates", self.company))
        self.assertNotIn(token, "\n".join(logged.output))
        self.assertRedacted("rates", "echo ***")

    def assertRedacted(self, name, expected):
        token = self.sandbox.token
        state = self.env["kleer.sync.state"].search(
            [("company_id", "=", self.company.id), ("sync", "=", name)]
        )
        self.assertIn(expected, state.last_message)
        log = self.env["kleer.log"].search([("operation", "=", f"sync_{name}")], limit=1)
        self.assertIn(expected, log.message)
        for text in (state.last_message, log.message, log.response_body or ""):
            self.assertNotIn(token, text)
