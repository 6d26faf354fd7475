"""Payments from Kleer with real cursors and real commits: a run that dies
after Kleer answered, and two workers at once, never register a payment
twice."""

from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.tests.common import tagged

from ..models.kleer_job import KleerRun
from ..models.tools import own_cursor
from .test_queue_concurrency import RealCursorsCase


class Crash(BaseException):
    """The worker dies (not an error the sync could catch and log)."""


@tagged("post_install", "-at_install")
class TestPaymentsConcurrency(RealCursorsCase):
    COMPANY = "Kleer Betalning Samtidig AB"
    INVOICES = 6

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company, env = self.accounting_company(env)
            bank = env["account.journal"].search(
                [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
            )
            company.write(
                {
                    "kleer_invoice_mode": "certified",
                    "kleer_sync_payments": True,
                    "kleer_register_payments": True,
                    "kleer_payment_journal_id": bank.id,
                }
            )
            moves = self.seeded_invoices(env, company, "betalning", self.INVOICES)
            self.move_ids = moves.ids
            self.totals = dict(zip(moves.ids, moves.mapped("amount_total"), strict=True))
            self.env_for_threads = env
        # Certified in Kleer through the queue, committed; then paid there.
        with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
            jobs = self.jobs_of(env, env["account.move"].browse(self.move_ids))
            env["kleer.job"]._process_jobs(limit=100, job_ids=jobs.ids)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            moves = env["account.move"].browse(self.move_ids)
            self.assertTrue(all(moves.mapped("kleer_certified")))
            for move in moves:
                self.sandbox.state.record_payment(
                    self.sandbox.company_id, move.kleer_invoice_id, None, "2026-03-20"
                )

    def sync(self):
        with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
            company = env["res.company"].browse(self.company_id)
            return env["kleer.sync"]._kleer_sync_payments(company, KleerRun())

    def assertPaidOnce(self):
        with self.registry.cursor() as cr:
            cr.execute(
                """
                SELECT m.id, m.payment_state, m.amount_residual,
                       COUNT(p.id), COALESCE(SUM(p.amount), 0)
                  FROM account_move m
             LEFT JOIN account_move__account_payment rel ON rel.invoice_id = m.id
             LEFT JOIN account_payment p ON p.id = rel.payment_id AND p.state != 'canceled'
                 WHERE m.id IN %s
              GROUP BY m.id
              ORDER BY m.id
                """,
                [tuple(self.move_ids)],
            )
            rows = cr.fetchall()
            cr.execute(
                "SELECT move_id, COUNT(*) FROM kleer_payment WHERE move_id IN %s GROUP BY 1",
                [tuple(self.move_ids)],
            )
            keys = dict(cr.fetchall())
        self.assertEqual(
            rows,
            [(mid, "paid", 0.0, 1, self.totals[mid]) for mid in self.move_ids],
            "each invoice paid once, for its own total",
        )
        self.assertEqual(keys, dict.fromkeys(self.move_ids, 1))

    def test_run_interrupted_after_kleer_answered(self):
        Move = self.registry["account.move"]
        original = Move._kleer_payment_register
        done = []

        def dies_on_the_third(move, *args, **kwargs):
            result = original(move, *args, **kwargs)
            done.append(move.id)
            if len(done) == 3:
                raise Crash()  # the payment exists, its commit never comes
            return result

        with patch.object(Move, "_kleer_payment_register", dies_on_the_third):
            with self.assertRaises(Crash):
                self.sync()
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT COUNT(*) FROM kleer_payment WHERE move_id IN %s", [tuple(self.move_ids)]
            )
            self.assertEqual(cr.fetchone(), (2,), "the first two committed, the third rolled back")
        reads = len(self.sandbox.requests)
        self.sync()  # the next run
        self.assertEqual(len(self.sandbox.requests), reads + 1, "one list read")
        self.assertPaidOnce()
        self.sync()  # and again: nothing open any more
        self.assertPaidOnce()

    def test_two_workers_register_each_payment_once(self):
        # Kleer answers slowly, so both workers hold the same list at once.
        self.sandbox.faults.add(
            "latency", method="GET", path="^/client/invoice$", seconds=0.3, times=None
        )
        results = self.run_together(
            lambda env: env["kleer.sync"]._kleer_sync_payments(
                env["res.company"].browse(self.company_id), KleerRun()
            )
        )
        self.assertEqual(len(results), 2, results)
        self.assertPaidOnce()
