"""Two workers on two real database cursors (real commits, no test mode)
process one queue: each job runs once, each object reaches Kleer once."""

import threading
import time
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tests.common import BaseCase, get_db_name, tagged

from ..kleer_api.sandbox import SandboxServer
from ..models.kleer_job import KleerRun
from ..models.kleer_operations import OPERATIONS
from ..models.tools import own_cursor
from .common import LoopbackRequests, kleer_connection
from .test_queue import OP, QTEST, _handler

JOBS = 30


class RealCursorsCase(LoopbackRequests, BaseCase):
    """Data committed for real in a company of its own, the sandbox, and two
    workers, each on its own cursor, processing the same jobs."""

    COMPANY = None  # name of the test's own company

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        self.sandbox = SandboxServer(seed=True).start()
        self.addCleanup(self.sandbox.stop)

    def company(self, env, **create_vals):
        """The test's company (kept between runs), connected to the sandbox."""
        Company = env["res.company"].with_context(chart_template_load=True)
        company = Company.search([("name", "=", self.COMPANY)]) or Company.create(
            dict(create_vals, name=self.COMPANY)
        )
        company.write(kleer_connection(self.sandbox))
        self.company_id = company.id
        # Workers derive their environments from this one (its cursor closes).
        self.env_for_threads = env
        self.addCleanup(self._cleanup)
        return company

    def accounting_company(self, env):
        """The test's company with a chart of accounts, in SEK: returns it and
        an environment restricted to it (what the workers derive from)."""
        sek = env.ref("base.SEK")
        sek.active = True
        company = self.company(env, country_id=env.ref("base.se").id, currency_id=sek.id)
        env = env(context={"allowed_company_ids": [company.id]})
        if not company.chart_template:
            env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
            company.currency_id = sek
        self.env_for_threads = env
        return company, env

    @staticmethod
    def seeded_customer_and_product(env, company, label):
        """A customer and a product of ``company`` linked to the sandbox's
        seeded client 201 and product 101, in step with Kleer as after a
        sync. Company-bound: committed data must not show up in other tests."""
        product = env["product.product"].create(
            {"name": f"Konsulttimme {label}", "company_id": company.id}
        )
        product.kleer_product_id = 101
        customer = env["res.partner"].create(
            {"name": f"Kund {label}", "country_id": env.ref("base.se").id, "company_id": company.id}
        )
        customer.kleer_client_id = 201
        customer.with_company(company)._kleer_ensure_client(company, KleerRun())
        return customer, product

    @staticmethod
    def company_tax(env, company, name):
        """A 25 % sales tax of ``company``, kept between runs (committed)."""
        Tax = env["account.tax"]
        vals = {"name": name, "amount": 25, "company_id": company.id}
        return Tax.search([(k, "=", v) for k, v in vals.items()], limit=1) or Tax.create(vals)

    @staticmethod
    def jobs_of(env, moves):
        return env["kleer.job"].search(
            [("res_model", "=", "account.move"), ("res_id", "in", moves.ids)], order="id"
        )

    def enqueue_partners(self, env, company, label, count):
        """``count`` partners of ``company`` (removed after the test), each
        with a job of the test operation. Returns (partner ids, job ids)."""
        partners = env["res.partner"].create(
            [{"name": f"{label} {i}", "company_id": company.id} for i in range(count)]
        )
        jobs = env["kleer.job"].with_company(company)._enqueue(partners, OP, company=company)
        self.addCleanup(self._unlink_partners, partners.ids)
        return partners.ids, jobs.ids

    def _unlink_partners(self, partner_ids):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["res.partner"].browse(partner_ids).unlink()

    def seeded_invoices(self, env, company, label, count):
        """``count`` confirmed invoices of ``company`` (see post_invoices) to
        the seeded customer, of the seeded product, at 25 % VAT."""
        tax = self.company_tax(env, company, f"Moms 25 % {label}")
        customer, product = self.seeded_customer_and_product(env, company, label)
        return self.post_invoices(env, customer, product, tax.ids, count)

    @staticmethod
    def post_invoices(env, customer, product, tax_ids, count=1):
        """``count`` confirmed invoices of one line each (100, 101, ... kr)."""
        moves = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_date": "2026-03-10",
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "product_id": product.id,
                                "quantity": 1,
                                "price_unit": 100 + i,
                                "tax_ids": [Command.set(tax_ids)],
                            }
                        )
                    ],
                }
                for i in range(count)
            ]
        )
        moves.action_post()
        return moves

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["kleer.log"].search([("company_id", "=", self.company_id)]).unlink()
            env["kleer.job"].search([("company_id", "=", self.company_id)]).unlink()
            env["res.company"].browse(self.company_id).write(
                {"kleer_enabled": False, "kleer_token": False}
            )

    def wait_for_lock_wait(self, thread, query_start, what):
        """Until a backend waits for a lock (a row's, an advisory one) in a
        query that starts with ``query_start``; fails if ``what`` never does."""
        deadline = time.monotonic() + 30
        with self.registry.cursor() as cr:
            while time.monotonic() < deadline and thread.is_alive():
                cr.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND left(query, %s) = %s",
                    (len(query_start), query_start),
                )
                if cr.fetchone()[0]:
                    return
                cr.rollback()  # a fresh snapshot of pg_stat_activity
                time.sleep(0.05)
        self.fail(f"{what} never waited for the lock")

    def run_together(self, work, count=2):
        """``work(env)`` in ``count`` threads at once, each on a cursor of its
        own (committed), started together. Returns their results."""
        barrier, results, errors = threading.Barrier(count), [], []

        def worker():
            try:
                with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
                    barrier.wait(timeout=10)
                    results.append(work(env))
            except Exception as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        self.assertFalse(errors, errors)
        return results

    def run_two_workers(self, job_ids, put_path):
        """Both workers start together; Kleer answers slowly so they
        interleave. Returns how many jobs each one ran."""
        self.sandbox.faults.add("latency", method="PUT", path=put_path, seconds=0.05, times=None)
        counts = self.run_together(
            lambda env: env["kleer.job"]._process_jobs(limit=100, job_ids=job_ids)
        )
        self.assertEqual(sum(counts), len(job_ids))
        self.assertTrue(all(counts), f"both workers took jobs: {counts}")
        return counts


@tagged("post_install", "-at_install")
class TestQueueConcurrency(RealCursorsCase):
    COMPANY = "Kleer Concurrency AB"

    def setUp(self):
        super().setUp()
        Partner = self.registry["res.partner"]
        for patcher in (
            patch.object(Partner, f"_kleer_job_{OP}", _handler, create=True),
            patch.dict(OPERATIONS, QTEST),
        ):
            patcher.start()
            self.addCleanup(patcher.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = self.company(env)
            self.partner_ids, self.job_ids = self.enqueue_partners(env, company, "Samtidig", JOBS)

    def test_two_workers_post_each_once(self):
        self.run_two_workers(self.job_ids, "^/client$")
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


@tagged("post_install", "-at_install")
class TestQueueConcurrencyInvoices(RealCursorsCase):
    """The same with confirmed invoices, committed for real."""

    COMPANY = "Kleer Samtidig Faktura AB"
    INVOICES = 12

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company, env = self.accounting_company(env)
            moves = self.seeded_invoices(env, company, "samtidig", self.INVOICES)
            self.move_ids, self.job_ids = moves.ids, self.jobs_of(env, moves).ids
            self.env_for_threads = env
        self.assertEqual(len(self.job_ids), self.INVOICES)

    def test_two_workers_post_each_invoice_once(self):
        self.run_two_workers(self.job_ids, "^/client/invoice$")
        puts = [
            r
            for r in self.sandbox.requests
            if r.method == "PUT" and r.rel_path == "/client/invoice"
        ]
        self.assertEqual(len(puts), self.INVOICES)
        foreign_ids = [
            inv["foreign-id"] for inv in self.sandbox.state.invoices(self.sandbox.company_id)
        ]
        self.assertEqual(len(foreign_ids), len(set(foreign_ids)))
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT COUNT(DISTINCT kleer_invoice_id), COUNT(*) "
                "FROM account_move WHERE id IN %s",
                [tuple(self.move_ids)],
            )
            self.assertEqual(cr.fetchone(), (self.INVOICES, self.INVOICES))
            cr.execute(
                "SELECT kleer_state, COUNT(*) FROM account_move WHERE id IN %s GROUP BY 1",
                [tuple(self.move_ids)],
            )
            self.assertEqual(cr.fetchall(), [("draft", self.INVOICES)])
