"""The delivery queue's mechanics, against the sandbox's fault injection.

The handler used here is a fixture of these tests: it creates a Kleer client
for a partner and follows the rules every real handler follows (look in
Kleer first when the last outcome is unknown, commit the Kleer id the moment
Kleer answers). The subject is the runner: claiming, retries, backoff, logs.
"""

from datetime import timedelta
from unittest.mock import patch

import psycopg2.errors

from odoo import fields
from odoo.tests import tagged

from ..kleer_api import types
from ..models.errors import KleerMappingError
from ..models.kleer_operations import OPERATIONS, Operation
from ..models.kleer_sync import SYNCS
from .common import KleerCase

OP = "qtest"
# The test operation's line in the operations table (patched in with it).
QTEST = {
    # No words: the log shows its code.
    ("res.partner", OP): Operation(f"_kleer_job_{OP}", None, "tests: create a Kleer client")
}


def _handler(partner, job, run):
    client = run.client(job.company_id)
    foreign_id = f"qtest:{partner.id}"
    if partner.ref:
        raise KleerMappingError(f"refused: {partner.ref}")
    if job.check_remote:
        found = client.find_clients_by_foreign_id(foreign_id)
        if found:
            partner.comment = f"adopted {found[0].id}"
            return {"kleer_id": found[0].id, "message": "adopted"}
    kleer_id = client.create_client(types.Client(name=partner.name, foreign_id=foreign_id))
    job.kleer_id = kleer_id
    job._commit()
    return {"kleer_id": kleer_id, "message": f"created {kleer_id}"}


def patch_test_operation(cls):
    """The test operation (its handler and its line in ``OPERATIONS``) for
    the tests of ``cls``."""
    Partner = type(cls.env["res.partner"])
    cls.startClassPatcher(patch.object(Partner, f"_kleer_job_{OP}", _handler, create=True))
    cls.startClassPatcher(patch.dict(OPERATIONS, QTEST))


@tagged("post_install", "-at_install")
class TestQueue(KleerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        patch_test_operation(cls)
        cls.partners = cls.env["res.partner"].create([{"name": f"Kund {i}"} for i in range(3)])

    def enqueue(self, partners=None):
        return self.env["kleer.job"]._enqueue(partners or self.partners[0], OP)

    def created(self, partner):
        return [
            c
            for c in self.sandbox.state.clients(self.sandbox.company_id)
            if c.get("foreign-id") == f"qtest:{partner.id}"
        ]

    def logs(self, job):
        return self.env["kleer.log"].search([("job_id", "=", job.id)], order="id")

    def later(self, job):
        """Process as if the clock had reached the job's next try."""
        job.invalidate_recordset()
        return self.process_queue(now=job.next_try + timedelta(seconds=1))

    # -- the happy path ------------------------------------------------------

    def test_enqueue_is_idempotent_and_runs_once(self):
        job = self.enqueue()
        self.assertEqual(self.enqueue(), job)
        self.assertEqual(job.state, "pending")
        self.assertEqual(self.process_queue(), 1)
        job.invalidate_recordset()
        self.assertEqual(job.state, "done")
        self.assertEqual(job.attempts, 1)
        self.assertEqual(len(self.created(self.partners[0])), 1)
        self.assertEqual(job.kleer_id, int(self.created(self.partners[0])[0]["id"]))
        log = self.logs(job)
        self.assertEqual(log.mapped("level"), ["info"])
        self.assertEqual(log.record_ref, self.partners[0])  # a link to the record
        self.assertIn("<client>", log.request_body)
        self.assertIn("<created>", log.response_body)
        self.assertEqual(self.process_queue(), 0)

    def test_token_is_redacted_from_logs(self):
        self.sandbox.faults.add(
            "status",
            method="PUT",
            path="^/client$",
            status=400,
            message=f"bad token {self.sandbox.token}",
        )
        job = self.enqueue()
        self.process_queue()
        log = self.logs(job)
        self.assertIn("bad token ***", log.message)
        self.assertNotIn(self.sandbox.token, log.message + (log.response_body or ""))

    # -- transient errors: retried with backoff, then succeed ----------------------

    def test_5xx_is_retried_with_backoff_and_succeeds(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client$", status=503, times=2)
        job = self.enqueue()
        before = fields.Datetime.now()
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.error_kind, "transient")
        first_delay = (job.next_try - before).total_seconds()
        self.assertTrue(40 <= first_delay <= 80, first_delay)  # 60 s ± jitter
        # Not due yet: nothing happens.
        self.assertEqual(self.process_queue(), 0)
        self.later(job)
        job.invalidate_recordset()
        second_delay = (job.next_try - before).total_seconds()
        self.assertGreater(second_delay, first_delay)  # exponential
        self.later(job)
        job.invalidate_recordset()
        self.assertEqual(job.state, "done")
        self.assertEqual(job.attempts, 3)
        # A 5xx after a write may hide a stored object: the retry looked first.
        self.assertTrue(self.sent("GET", "/client"))
        self.assertEqual(len(self.created(self.partners[0])), 1)
        self.assertEqual(self.logs(job).mapped("level"), ["warning", "warning", "info"])

    def test_429_honours_retry_after(self):
        self.sandbox.faults.add(
            "status", method="PUT", path="^/client$", status=429, retry_after=600
        )
        job = self.enqueue()
        before = fields.Datetime.now()
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.error_kind, "rate_limited")
        self.assertGreaterEqual((job.next_try - before).total_seconds(), 599)
        self.assertFalse(job.check_remote)  # 429: Kleer did not take it
        self.later(job)
        job.invalidate_recordset()
        self.assertEqual(job.state, "done")
        self.assertEqual(len(self.created(self.partners[0])), 1)

    def test_transient_gives_up_after_max_attempts(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client$", status=500, times=None)
        job = self.enqueue()
        for _i in range(8):
            job.invalidate_recordset()
            self.process_queue(now=(job.next_try or fields.Datetime.now()) + timedelta(seconds=1))
        job.invalidate_recordset()
        self.assertEqual(job.state, "failed")
        self.assertEqual(job.attempts, 8)
        self.assertIn("gave up after 8 attempts", job.last_error)
        self.assertEqual(self.logs(job)[-1].state, "open")

    # -- unknown outcomes never create a duplicate -------------------------------

    def test_timeout_after_store_is_not_sent_twice(self):
        self.sandbox.faults.add("timeout_after_store", method="PUT", path="^/client$", seconds=3)
        job = self.enqueue()
        self.env["ir.config_parameter"].set_param("kleer_connector.timeout", "2,1")
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.error_kind, "unknown_outcome")
        self.assertTrue(job.check_remote)
        self.assertEqual(len(self.created(self.partners[0])), 1)  # Kleer has it
        self.later(job)
        job.invalidate_recordset()
        self.assertEqual(job.state, "done")
        self.assertEqual(len(self.created(self.partners[0])), 1)  # ... only once
        self.assertIn("adopted", self.partners[0].comment)

    def test_dropped_connection_after_store_is_not_sent_twice(self):
        self.sandbox.faults.add("drop_after_store", method="PUT", path="^/client$")
        job = self.enqueue()
        self.process_queue()
        job.invalidate_recordset()
        self.assertTrue(job.check_remote)
        self.later(job)
        self.assertEqual(len(self.created(self.partners[0])), 1)
        self.assertEqual(len(self.sent("PUT", "/client")), 1)

    def test_worker_killed_mid_batch_loses_nothing(self):
        """A worker dies after Kleer stored the first job's object and before
        it saved the id: the claim was committed, nothing else."""
        jobs = self.enqueue(self.partners)

        def die(partner, job, run):
            run.client(job.company_id).create_client(
                types.Client(name=partner.name, foreign_id=f"qtest:{partner.id}")
            )
            raise KeyboardInterrupt  # the process is gone

        Partner = type(self.env["res.partner"])
        # Not assertRaises: Odoo's rolls back to a savepoint, undoing the claim.
        interrupted = False
        with patch.object(Partner, f"_kleer_job_{OP}", die):
            try:
                self.process_queue()
            except KeyboardInterrupt:
                interrupted = True
        self.assertTrue(interrupted)
        jobs.invalidate_recordset()
        self.assertEqual(jobs.mapped("state"), ["sending", "pending", "pending"])
        # The next run (the worker's lock is gone with it) checks Kleer before resending.
        self.process_queue()
        jobs.invalidate_recordset()
        self.assertEqual(jobs.mapped("state"), ["done"] * 3)
        for partner in self.partners:
            self.assertEqual(len(self.created(partner)), 1, partner.name)
        stale_log = self.logs(jobs[0]).filtered(lambda log: log.error_kind == "unknown_outcome")
        self.assertIn("worker stopped", stale_log.message)

    def test_concurrent_update_is_retried_soon_and_checked_first(self):
        def conflict(partner, job, run):
            if job.attempts == 1:
                run.client(job.company_id).create_client(
                    types.Client(name=partner.name, foreign_id=f"qtest:{partner.id}")
                )
                raise psycopg2.errors.SerializationFailure("could not serialize access")
            return _handler(partner, job, run)

        job = self.enqueue()
        with patch.object(type(self.env["res.partner"]), f"_kleer_job_{OP}", conflict):
            before = fields.Datetime.now()
            self.process_queue()
            job.invalidate_recordset()
            self.assertEqual((job.state, job.error_kind), ("pending", "transient"))
            self.assertTrue(job.check_remote)
            self.assertLessEqual((job.next_try - before).total_seconds(), 6)
            self.later(job)
        job.invalidate_recordset()
        self.assertEqual(job.state, "done")
        self.assertEqual(len(self.created(self.partners[0])), 1)

    # -- permanent errors wait for a person --------------------------------------------

    def test_permanent_error_waits_for_reprocess_then_succeeds(self):
        self.sandbox.faults.add(
            "status",
            method="PUT",
            path="^/client$",
            status=400,
            message="Ogiltigt organisationsnummer",
        )
        job = self.enqueue()
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.state, "failed")
        self.assertEqual(job.error_kind, "validation")
        log = self.logs(job)
        self.assertEqual((log.state, log.level), ("open", "error"))
        self.assertIn("Ogiltigt organisationsnummer", log.message)
        self.assertEqual(log.http_status, 400)
        # Nothing happens by itself, however often the cron runs.
        self.process_queue(now=fields.Datetime.now() + timedelta(days=2))
        self.assertEqual(len(self.sent("PUT", "/client")), 1)
        # A person fixed it in Kleer / Odoo and reprocesses from the log.
        log.action_reprocess()
        self.assertEqual(log.state, "reprocessed")
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.state, "done")
        # History is kept: the failure stays, now marked resolved, plus the success.
        logs = self.logs(job)
        self.assertEqual(logs.mapped("state"), ["resolved", "done"])
        self.assertEqual(len(self.created(self.partners[0])), 1)

    def test_mapping_error_is_permanent(self):
        partner = self.partners[1]
        partner.ref = "no VAT"
        job = self.enqueue(partner)
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual((job.state, job.error_kind), ("failed", "mapping"))
        self.assertFalse(self.sent("PUT", "/client"))

    def test_ignore_removes_from_open_list(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client$", status=403)
        job = self.enqueue()
        self.process_queue()
        log = self.logs(job)
        open_logs = self.env["kleer.log"].search([("state", "=", "open")])
        self.assertIn(log, open_logs)
        log.action_ignore()
        job.invalidate_recordset()
        self.assertEqual(job.state, "ignored")
        self.assertNotIn(log, self.env["kleer.log"].search([("state", "=", "open")]))
        # Still searchable, and the partner is still in Odoo's lists.
        self.assertIn(log, self.env["kleer.log"].search([("state", "=", "ignored")]))
        self.assertTrue(self.partners[0].exists().active)
        self.assertEqual(self.process_queue(), 0)

    def test_bulk_reprocess_and_ignore_from_the_list(self):
        self.sandbox.faults.add("status", method="PUT", path="^/client$", status=400, times=3)
        jobs = self.enqueue(self.partners)
        self.process_queue()
        logs = self.env["kleer.log"].search(
            [("job_id", "in", jobs.ids), ("state", "=", "open")], order="job_id"
        )
        self.assertEqual(len(logs), 3)
        logs[:2].action_reprocess()
        logs[2:].action_ignore()
        self.process_queue()
        jobs.invalidate_recordset()
        self.assertEqual(jobs.mapped("state"), ["done", "done", "ignored"])

    def test_hostile_answer_ends_in_a_clear_log_entry(self):
        self.sandbox.faults.add("html", method="PUT", path="^/client$")
        job = self.enqueue()
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.error_kind, "transient")
        self.assertIn("502", self.logs(job).message)

    def test_deleted_record_fails_clearly(self):
        partner = self.env["res.partner"].create({"name": "Tillfällig"})
        job = self.enqueue(partner)
        partner.unlink()
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual(job.state, "failed")
        self.assertIn("no longer exists", job.last_error)

    def test_unconfigured_company_is_refused_without_sending(self):
        job = self.enqueue()
        self.company.kleer_token = False
        self.process_queue()
        job.invalidate_recordset()
        self.assertEqual((job.state, job.error_kind), ("failed", "mapping"))
        self.assertIn("not configured", job.last_error)
        self.assertFalse(self.sandbox.requests)

    def test_cron_reports_progress(self):
        self.enqueue(self.partners)
        cron = self.env.ref("kleer_connector.cron_process_queue")
        done = (
            self.env["kleer.job"]
            .with_context(ir_cron_progress_id=False)
            ._cron_process_queue(limit=2)
        )
        self.assertEqual(done, 2)
        self.assertEqual(self.env["kleer.job"]._due_count(), 1)
        self.assertTrue(cron.active)

    def test_scheduled_action_sends_the_queue(self):
        jobs = self.enqueue(self.partners)
        self.env.ref("kleer_connector.cron_process_queue").method_direct_trigger()
        jobs.invalidate_recordset()
        self.assertEqual(jobs.mapped("state"), ["done"] * 3)
        for partner in self.partners:
            self.assertEqual(len(self.created(partner)), 1)

    # -- the operations table ------------------------------------------------

    def test_an_operation_not_in_the_table_is_refused_without_a_call(self):
        calls = []
        Partner = type(self.env["res.partner"])
        # A method named like a handler is not enough: only the table counts.
        with (
            patch.object(Partner, "_kleer_job_bogus", lambda *a: calls.append(a), create=True),
            self.assertLogs("odoo.addons.kleer_connector.models.kleer_job", "ERROR"),
        ):
            job = self.env["kleer.job"]._enqueue(self.partners[0], "bogus")
            self.assertEqual(self.process_queue(), 1)
        job.invalidate_recordset()
        self.assertEqual(calls, [])
        self.assertEqual((job.state, job.error_kind), ("failed", "internal"))
        self.assertIn("No handler for operation bogus on res.partner.", job.last_error)
        self.assertEqual(self.partners[0].kleer_state, "failed")
        self.assertEqual(self.created(self.partners[0]), [])
        self.assertEqual(self.logs(job).mapped("level"), ["error"])

    def test_every_operation_names_an_existing_handler(self):
        for (model, operation), entry in OPERATIONS.items():
            with self.subTest(model=model, operation=operation):
                self.assertIn(model, self.env)
                self.assertTrue(callable(getattr(self.env[model], entry.handler, None)))
                self.assertTrue(entry.description)
                if operation == "pull" or entry.sync:
                    # A pull writes what its sync writes: it names that sync.
                    self.assertIn(entry.sync, SYNCS)
        # And no handler is left out of the table.
        listed = {(model, entry.handler) for (model, _op), entry in OPERATIONS.items()}
        found = {
            (name, attr)
            for name in self.env.registry
            for attr in dir(self.registry[name])
            if attr.startswith("_kleer_job_")
        }
        self.assertEqual(found - listed, set())
