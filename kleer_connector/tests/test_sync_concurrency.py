"""Syncs on real database cursors (real commits, no test mode): two runs of
one sync for one company at once (the cron and "Sync now") never both work."""

import threading

from odoo import SUPERUSER_ID, api
from odoo.tests.common import tagged

from ..models.tools import advisory_key, own_cursor
from .test_queue_concurrency import RealCursorsCase


class RealSyncCase(RealCursorsCase):
    """A company of its own on real cursors, without a sync run on record;
    what its syncs created goes when the test ends."""

    CUSTOMER_SYNC = None  # the company's customer sync direction, if any

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = self.company(env)
            if self.CUSTOMER_SYNC:
                company.kleer_customer_sync = self.CUSTOMER_SYNC
            env["kleer.sync.state"].search([("company_id", "=", company.id)]).unlink()
        self.addCleanup(self._unlink_synced)

    def _unlink_synced(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["kleer.sync.state"].search([("company_id", "=", self.company_id)]).unlink()
            env["kleer.user"].with_context(active_test=False).search(
                [("company_id", "=", self.company_id)]
            ).unlink()
            cr.execute("DELETE FROM res_partner WHERE kleer_client_id ? %s", [str(self.company_id)])
            # Payment terms the sync created ("10 Days", ...) for this company.
            env["account.payment.term"].with_context(active_test=False).search(
                [("company_id", "=", self.company_id)]
            ).unlink()


@tagged("post_install", "-at_install")
class TestSyncConcurrency(RealSyncCase):
    COMPANY = "Kleer Samtidig Synk AB"
    CUSTOMER_SYNC = "from_kleer"

    def test_two_customer_syncs_at_once_one_partner_per_client(self):
        # Kleer answers the client list slowly, so the two runs overlap.
        self.sandbox.faults.add("latency", method="GET", path="^/client$", seconds=1, times=None)
        results = self.run_together(
            lambda env: env["kleer.sync"]._run_sync(
                "customers", env["res.company"].browse(self.company_id)
            )
        )
        self.assertEqual(sorted(results, key=str), [None, True], "one ran, one skipped")
        client_ids = [c["id"] for c in self.sandbox.state.clients(self.sandbox.company_id)]
        self.assertGreaterEqual(len(client_ids), 2)
        with self.registry.cursor() as cr:
            cr.execute(
                """
                SELECT (kleer_client_id->>%(c)s)::int, COUNT(*) FROM res_partner
                 WHERE kleer_client_id ? %(c)s GROUP BY 1 ORDER BY 1
                """,
                {"c": str(self.company_id)},
            )
            self.assertEqual(cr.fetchall(), [(int(cid), 1) for cid in sorted(map(int, client_ids))])
            env = api.Environment(cr, SUPERUSER_ID, {})
            state = env["kleer.sync.state"].search(
                [("company_id", "=", self.company_id), ("sync", "=", "customers")]
            )
            self.assertTrue(state.last_success)
            logs = env["kleer.log"].search(
                [("company_id", "=", self.company_id), ("operation", "=", "sync_customers")]
            )
            self.assertEqual(logs.mapped("level"), ["info"], "the skip is a note, not an error")
            self.assertIn("already running", logs.message)
        self.assertEqual(
            len([r for r in self.sandbox.requests if r.rel_path == "/client"]),
            1,
            "the skipped run never asked Kleer",
        )

    def partners_of(self, client_id):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT COUNT(*) FROM res_partner WHERE (kleer_client_id->>%s)::int = %s",
                [str(self.company_id), client_id],
            )
            return cr.fetchone()[0]

    def test_a_pull_job_waits_for_a_run_of_its_sync(self):
        """Reprocess of one failed client (a pull job) while the customers
        sync runs: both would create its partner; the job waits for the run."""
        client_id = int(self.sandbox.state.clients(self.sandbox.company_id)[0]["id"])
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].browse(self.company_id)
            job_id = env["kleer.job"]._enqueue_pull("res.partner", "pull", client_id, company).id
        done = []

        def worker():
            with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
                done.append(env["kleer.job"]._process_jobs(job_ids=[job_id]))

        run_cr = self.registry.cursor()  # a run of the customers sync
        try:
            run_cr.execute(
                "SELECT pg_try_advisory_xact_lock(%s)",
                [advisory_key(f"kleer.sync:{self.company_id}:customers")],
            )
            self.assertTrue(run_cr.fetchone()[0])
            thread = threading.Thread(target=worker)
            thread.start()
            self.wait_for_lock_wait(thread, "SELECT pg_advisory_xact_lock", "the job")
            self.assertEqual(self.partners_of(client_id), 0, "nothing written during the run")
        finally:
            run_cr.rollback()
            run_cr.close()
        thread.join(timeout=60)
        self.assertEqual(done, [1])
        self.assertEqual(self.partners_of(client_id), 1)
        with self.registry.cursor() as cr:
            cr.execute("SELECT state FROM kleer_job WHERE id = %s", [job_id])
            self.assertEqual(cr.fetchone()[0], "done")

    def test_skipped_run_leaves_a_note_in_the_sync_state(self):
        """While a run holds the lock (taken here on a cursor of its own),
        another run skips and says so in the sync state."""
        with self.registry.cursor() as lock_cr:
            lock_cr.execute(
                "SELECT pg_try_advisory_xact_lock(%s)",
                [advisory_key(f"kleer.sync:{self.company_id}:customers")],
            )
            self.assertTrue(lock_cr.fetchone()[0])
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                company = env["res.company"].browse(self.company_id)
                self.assertIsNone(env["kleer.sync"]._run_sync("customers", company))
                # Another sync of the same company is not blocked.
                self.assertTrue(env["kleer.sync"]._run_sync("users", company))
        self.assertEqual(
            [r.rel_path for r in self.sandbox.requests], ["/user"], "customers never asked"
        )
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            state = env["kleer.sync.state"].search(
                [("company_id", "=", self.company_id), ("sync", "=", "customers")]
            )
            self.assertIn("Skipped", state.last_message)
            self.assertFalse(state.last_success)
