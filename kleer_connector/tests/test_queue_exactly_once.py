"""Exactly once off the happy path, on real database cursors (real commits,
real row and advisory locks, no test mode): "Process now", a slow job, a
killed worker, a concurrent write."""

import threading
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.tests.common import tagged
from odoo.tools import config, mute_logger

from ..kleer_api import KleerClient, types
from ..models import kleer_job
from ..models.kleer_job import LOCK_JOB, MAX_RECOVERIES
from ..models.tools import own_cursor
from .common import KleerCase
from .test_queue import OP, _handler
from .test_queue_concurrency import RealCursorsCase


def billing_user(env, company_id):
    login = f"kleer-billing-{company_id}"
    Users = env["res.users"].with_context(no_reset_password=True)
    return (
        Users.search([("login", "=", login)])
        or Users.create(
            {
                "name": "Kleer billing",
                "login": login,
                "company_id": company_id,
                "company_ids": [Command.set([company_id])],
                "groups_id": [
                    Command.set(
                        [
                            env.ref("account.group_account_invoice").id,
                            env.ref("kleer_connector.group_kleer_user").id,
                        ]
                    )
                ],
            }
        )
    ).id


@tagged("post_install", "-at_install")
class TestQueueLiveness(RealCursorsCase):
    COMPANY = "Kleer Exakt En Gång AB"

    def setUp(self):
        super().setUp()
        self.handler = _handler
        Partner = self.registry["res.partner"]
        patcher = patch.object(
            Partner,
            f"_kleer_job_{OP}",
            lambda partner, job, run: self.handler(partner, job, run),
            create=True,
        )
        patcher.start()
        self.addCleanup(patcher.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = self.company(env)
            partners = env["res.partner"].create(
                [{"name": f"Levande {i}", "company_id": company.id} for i in range(2)]
            )
            jobs = env["kleer.job"].with_company(company)._enqueue(partners, OP, company=company)
            self.partner_ids, self.job_ids = partners.ids, jobs.ids
        self.addCleanup(self._unlink_partners)

    def _unlink_partners(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["res.partner"].browse(self.partner_ids).unlink()

    def env_on(self, cr, uid=SUPERUSER_ID):
        return api.Environment(cr, uid, {"allowed_company_ids": [self.company_id]})

    def billing_user(self, cr):
        """A billing user of the test's company (kept between runs)."""
        return billing_user(self.env_on(cr), self.company_id)

    def job_row(self, job_id):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT state, check_remote, recoveries, attempts FROM kleer_job WHERE id = %s",
                [job_id],
            )
            return cr.fetchone()

    def set_sending(self, job_id, recoveries=0):
        """A job as a worker left it: claimed (committed), then nothing."""
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE kleer_job SET state = 'sending', attempts = 1, recoveries = %s, "
                "sending_since = now() at time zone 'UTC' WHERE id = %s",
                [recoveries, job_id],
            )

    def process(self, **kw):
        # own_cursor: no Registry(dbname) look-up, which would wait for the
        # registry lock that the thread running the tests holds.
        with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
            return env["kleer.job"]._process_jobs(**kw)

    def created(self, partner_id):
        return [
            c
            for c in self.sandbox.state.clients(self.sandbox.company_id)
            if c.get("foreign-id") == f"qtest:{partner_id}"
        ]

    # -- item 1: "Process now" -------------------------------------------------

    def test_process_now_sends_from_the_users_transaction(self):
        job_id = self.job_ids[0]
        with self.registry.cursor() as cr:
            cr.execute("UPDATE kleer_job SET state = 'failed' WHERE id = %s", [job_id])
        with self.registry.cursor() as cr:
            uid = self.billing_user(cr)
        with self.registry.cursor() as cr:  # the request of a billing user
            self.env_on(cr, uid)["kleer.job"].browse(job_id).action_process_now()
        self.assertEqual(self.job_row(job_id)[0], "done")
        self.assertEqual(len(self.created(self.partner_ids[0])), 1)
        self.assertEqual([r.method for r in self.sandbox.requests], ["PUT"])

    # -- item 4: liveness from a lock, not the clock --------------------------------

    def test_slow_job_is_not_run_twice(self):
        started, release, errors = threading.Event(), threading.Event(), []
        job_id = self.job_ids[0]

        def slow(partner, job, run):
            if not started.is_set():
                started.set()
                release.wait(30)
            return _handler(partner, job, run)

        self.handler = slow

        def worker():
            try:
                self.process(job_ids=[job_id])
            except Exception as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        try:
            self.assertTrue(started.wait(30))
            # Hours later by the clock, the worker still holds its job.
            later = fields.Datetime.now() + timedelta(hours=2)
            self.assertEqual(self.process(job_ids=[job_id], now=later), 0)
            self.assertEqual(self.job_row(job_id)[0], "sending")
        finally:
            release.set()
            thread.join(60)
        self.assertFalse(errors, errors)
        self.assertEqual(self.job_row(job_id)[:2], ("done", False))
        self.assertEqual(len(self.created(self.partner_ids[0])), 1)

    def test_killed_worker_is_recovered_at_once_live_one_is_not(self):
        job_id, partner_id = self.job_ids[0], self.partner_ids[0]
        # The worker created the client in Kleer, then was killed.
        KleerClient(
            self.sandbox.base_url, self.sandbox.company_id, self.sandbox.token
        ).create_client(types.Client(name="Levande 0", foreign_id=f"qtest:{partner_id}"))
        self.set_sending(job_id)
        # Its lock still held (the worker is alive, only slow): left alone.
        holder = self.registry.cursor()
        try:
            holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_JOB, job_id])
            self.assertEqual(self.process(job_ids=[job_id]), 0)
            self.assertEqual(self.job_row(job_id)[0], "sending")
        finally:
            holder.close()  # the worker's connection is gone
        # Recovered by the next run at once (no 15 minutes), Kleer looked at first.
        self.assertEqual(self.process(job_ids=[job_id]), 1)
        self.assertEqual(self.job_row(job_id)[:2], ("done", False))
        self.assertEqual(len(self.created(partner_id)), 1)
        self.assertEqual(len([r for r in self.sandbox.requests if r.method == "PUT"]), 1)
        with self.registry.cursor() as cr:
            logs = self.env_on(cr)["kleer.log"].search([("job_id", "=", job_id)], order="id")
            self.assertIn("worker stopped", logs[0].message)
            self.assertEqual(logs.mapped("level"), ["warning", "info"])

    def test_job_that_keeps_killing_its_worker_waits_for_a_person(self):
        job_id, partner_id = self.job_ids[0], self.partner_ids[0]
        self.set_sending(job_id, recoveries=MAX_RECOVERIES - 1)
        self.assertEqual(self.process(job_ids=[job_id]), 0)
        self.assertEqual(self.job_row(job_id)[:3], ("failed", True, 0))
        self.assertFalse(self.sandbox.requests)
        with self.registry.cursor() as cr:
            env = self.env_on(cr)
            log = env["kleer.log"].search([("job_id", "=", job_id)])
            self.assertEqual((log.level, log.state), ("error", "open"))
            self.assertIn(f"stopped {MAX_RECOVERIES} times", log.message)
            partner = env["res.partner"].browse(partner_id).with_company(self.company_id)
            self.assertEqual(partner.kleer_state, "failed")
            self.assertIn("stopped", env["kleer.job"].browse(job_id).last_error)

    def test_recovery_retries_when_a_worker_settles_the_job_meanwhile(self):
        """The recovery's snapshot sees a job ``sending``; its worker settles
        it and commits before the recovery locks it: a serialization failure,
        tried again, and the settled job is left alone."""
        settled, dead = self.job_ids
        self.set_sending(settled)
        self.set_sending(dead)
        Job = self.registry["kleer.job"]
        original = Job._recover_dead
        calls = []

        def racing(model, stale_cr):
            calls.append(1)
            if len(calls) == 1:
                stale_cr.execute("SELECT 1")  # the snapshot starts here
                with self.registry.cursor() as cr:
                    cr.execute("UPDATE kleer_job SET state = 'done' WHERE id = %s", [settled])
            return original(model, stale_cr)

        with patch.object(Job, "_recover_dead", racing):
            self.assertEqual(self.process(job_ids=[dead]), 1)
        self.assertGreaterEqual(len(calls), 2)
        self.assertEqual(self.job_row(settled)[0], "done")
        self.assertFalse(self.job_row(settled)[1], "left alone")
        self.assertEqual(self.job_row(dead)[0], "done")

    # -- item 6: a concurrent write while a job stores its result ----------------------

    def test_concurrent_write_while_storing_the_result_is_retried(self):
        first, second = self.partner_ids

        def then_someone_writes(partner, job, run):
            result = _handler(partner, job, run)  # Kleer id committed
            if partner.id == first and job.attempts == 1:
                partner.env.cr.execute("SELECT 1")  # this transaction's snapshot
                with self.registry.cursor() as cr:
                    cr.execute("UPDATE res_partner SET comment = 'edited' WHERE id = %s", [first])
            return result

        self.handler = then_someone_writes
        with mute_logger("odoo.sql_db"):  # the failed UPDATE is reported as a bad query
            self.assertEqual(self.process(job_ids=self.job_ids), 2)  # the batch went on
        state, check_remote, _rec, _att = self.job_row(self.job_ids[0])
        self.assertEqual((state, check_remote), ("pending", True))
        self.assertEqual(self.job_row(self.job_ids[1])[0], "done")
        later = fields.Datetime.now() + timedelta(seconds=10)
        self.assertEqual(self.process(job_ids=self.job_ids, now=later), 1)
        self.assertEqual(self.job_row(self.job_ids[0])[0], "done")
        self.assertEqual(len(self.created(first)), 1)
        self.assertEqual(len(self.created(second)), 1)


@tagged("post_install", "-at_install")
class TestQueueTimeLimit(KleerCase):
    def test_batch_stops_taking_jobs_before_the_cron_time_limit(self):
        clock = [1000.0]
        Partner = type(self.env["res.partner"])

        def slow(partner, job, run):
            clock[0] += 40  # each job takes 40 s
            return _handler(partner, job, run)

        partners = self.env["res.partner"].create([{"name": f"Tid {i}"} for i in range(4)])
        jobs = self.env["kleer.job"]._enqueue(partners, OP)
        with (
            patch.object(Partner, f"_kleer_job_{OP}", slow, create=True),
            patch.object(kleer_job, "_clock", lambda: clock[0]),
            patch.dict(config.options, {"limit_time_real_cron": 100}),
        ):
            done = (
                self.env["kleer.job"]
                .with_context(ir_cron_progress_id=False)
                ._cron_process_queue(limit=10)
            )
        # 100 s limit: jobs are taken for 60 s (100 - 60 s margin, at least half).
        self.assertEqual(done, 2)
        jobs.invalidate_recordset()
        self.assertEqual(jobs.mapped("state"), ["done", "done", "pending", "pending"])
