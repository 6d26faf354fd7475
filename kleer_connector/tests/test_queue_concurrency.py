"""Two workers on two real database cursors (real commits, no test mode)
process one queue: each job runs once, each object reaches Kleer once."""

import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name, tagged

from ..kleer_api.sandbox import SandboxServer
from ..models.tools import own_cursor
from .common import LoopbackRequests
from .test_queue import OP, _handler

JOBS = 30


@tagged("post_install", "-at_install")
class TestQueueConcurrency(LoopbackRequests, BaseCase):
    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        self.sandbox = SandboxServer(seed=True).start()
        self.addCleanup(self.sandbox.stop)
        Partner = self.registry["res.partner"]
        patcher = patch.object(Partner, f"_kleer_job_{OP}", _handler, create=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            Company = env["res.company"]
            company = Company.search([("name", "=", "Kleer Concurrency AB")]) or Company.create(
                {"name": "Kleer Concurrency AB"}
            )
            company.write(
                {
                    "kleer_enabled": True,
                    "kleer_environment": "custom",
                    "kleer_base_url": self.sandbox.base_url,
                    "kleer_company_id": str(self.sandbox.company_id),
                    "kleer_token": self.sandbox.token,
                }
            )
            partners = env["res.partner"].create(
                [{"name": f"Samtidig {i}", "company_id": company.id} for i in range(JOBS)]
            )
            jobs = env["kleer.job"].with_company(company)._enqueue(partners, OP, company=company)
            self.company_id, self.partner_ids, self.job_ids = company.id, partners.ids, jobs.ids
        # An environment to derive the workers' from (its cursor is closed).
        self.env_for_threads = env
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["kleer.log"].search([("company_id", "=", self.company_id)]).unlink()
            env["kleer.job"].search([("company_id", "=", self.company_id)]).unlink()
            env["res.partner"].browse(self.partner_ids).unlink()
            env["res.company"].browse(self.company_id).write(
                {"kleer_enabled": False, "kleer_token": False}
            )

    def _worker(self, barrier, counts, errors):
        try:
            with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
                barrier.wait(timeout=10)
                counts.append(env["kleer.job"]._process_jobs(limit=JOBS, job_ids=self.job_ids))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def test_two_workers_post_each_once(self):
        # Slow answers make the two workers interleave.
        self.sandbox.faults.add("latency", method="PUT", path="^/client$", seconds=0.05, times=None)
        barrier, counts, errors = threading.Barrier(2), [], []
        threads = [
            threading.Thread(target=self._worker, args=(barrier, counts, errors)) for _i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        self.assertFalse(errors, errors)
        self.assertEqual(sum(counts), JOBS)
        self.assertTrue(all(counts), f"both workers took jobs: {counts}")
        created = [
            c["foreign-id"]
            for c in self.sandbox.state.clients(self.sandbox.company_id)
            if c.get("foreign-id", "").startswith("qtest:")
        ]
        self.assertEqual(sorted(created), sorted(f"qtest:{pid}" for pid in self.partner_ids))
        self.assertEqual(len(self.sandbox.requests), JOBS)  # one PUT each, no look-ups
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT state, attempts, COUNT(*) FROM kleer_job WHERE id IN %s GROUP BY 1, 2",
                [tuple(self.job_ids)],
            )
            self.assertEqual(cr.fetchall(), [("done", 1, JOBS)])

    def test_log_survives_the_rollback_of_the_failed_work(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["res.partner"].browse(self.partner_ids[0]).name = "rolled back"
            log_id = env["kleer.log"]._log_isolated(
                {"company_id": self.company_id, "operation": "post", "message": "Kleer is down"}
            )
            cr.rollback()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertEqual(env["kleer.log"].browse(log_id).message, "Kleer is down")
            self.assertNotEqual(env["res.partner"].browse(self.partner_ids[0]).name, "rolled back")
