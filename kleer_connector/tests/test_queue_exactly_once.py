"""Exactly once off the happy path, on real database cursors (real commits,
real row and advisory locks, no test mode): "Process now", a slow job, a
killed worker, a concurrent write, Ignore then resend, lost answers to the
creation of master data, two workers needing one new product."""

import threading
import time
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.tests.common import tagged
from odoo.tools import config, mute_logger

from ..kleer_api import KleerClient, types
from ..models import kleer_job
from ..models.kleer_job import LOCK_JOB, MAX_RECOVERIES
from ..models.kleer_operations import OPERATIONS
from ..models.tools import own_cursor
from .common import KleerCase
from .test_queue import OP, QTEST, _handler
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
        patcher = patch.dict(OPERATIONS, QTEST)
        patcher.start()
        self.addCleanup(patcher.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = self.company(env)
            self.partner_ids, self.job_ids = self.enqueue_partners(env, company, "Levande", 2)

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
            patch.dict(OPERATIONS, QTEST),
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


class InvoiceRealCase(RealCursorsCase):
    """Confirmed invoices of a company of its own, committed for real."""

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company, env = self.accounting_company(env)
            self.tax_id = self.company_tax(env, company, "Moms 25 % exakt").id
            self.env_for_threads = env
        self.tag = f"{time.monotonic_ns()}"

    def new_customer_and_product(self, env):
        company = env["res.company"].browse(self.company_id)
        customer = env["res.partner"].create(
            {
                "name": f"Ny kund {self.tag}",
                "country_id": env.ref("base.se").id,
                "company_id": company.id,
            }
        )
        product = env["product.product"].create(
            {"name": f"Ny vara {self.tag}", "company_id": company.id}
        )
        return customer, product

    def post(self, env, customer, product, count=1):
        return self.post_invoices(env, customer, product, [self.tax_id], count)

    def setup_invoices(self, count, linked=False):
        """``count`` invoices of one customer and one product, both new in
        Kleer unless ``linked``. Returns (moves ids, job ids, customer id,
        product id)."""
        with self.registry.cursor() as cr:
            env = self.env_for_threads(cr=cr)
            customer, product = self.new_customer_and_product(env)
            if linked:
                customer.with_company(self.company_id).kleer_client_id = 201
                product.with_company(self.company_id).kleer_product_id = 101
            moves = self.post(env, customer, product, count)
            return moves.ids, self.jobs_of(env, moves).ids, customer.id, product.id

    def process(self, **kw):
        with own_cursor(self.env_for_threads, user=SUPERUSER_ID, context={}) as env:
            return env["kleer.job"]._process_jobs(**kw)

    def in_kleer(self, kind, foreign_id):
        items = {
            "client": self.sandbox.state.clients,
            "invoice": self.sandbox.state.invoices,
            "product": self.sandbox.state.products,
        }[kind](self.sandbox.company_id)
        return [item for item in items if item.get("foreign-id") == foreign_id]

    def values(self, model, res_id, *fnames):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})
            record = env[model].browse(res_id).with_company(self.company_id)
            return tuple(record[f] for f in fnames)


@tagged("post_install", "-at_install")
class TestExactlyOnceInvoices(InvoiceRealCase):
    COMPANY = "Kleer Exakt Faktura AB"

    # -- item 2: the doubt follows the record ---------------------------------------

    def test_ignore_then_send_again_looks_in_kleer_first(self):
        (move_id,), (job_id,), _c, _p = self.setup_invoices(1, linked=True)
        self.sandbox.faults.add("drop_after_store", method="PUT", path="^/client/invoice$")
        self.process(job_ids=[job_id])
        kleer_id, maybe_since = self.values(
            "account.move", move_id, "kleer_invoice_id", "kleer_check_remote"
        )
        self.assertFalse(kleer_id)
        self.assertTrue(maybe_since, "the doubt is on the invoice")
        with self.registry.cursor() as cr:  # a billing user ignores the job ...
            env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})
            env = env(user=billing_user(env, self.company_id))
            env["kleer.job"].browse(job_id).action_ignore()
        with self.registry.cursor() as cr:  # ... then presses "Send to Kleer"
            env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})
            env = env(user=billing_user(env, self.company_id))
            env["account.move"].browse(move_id).action_kleer_send()
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT id FROM kleer_job WHERE res_model = 'account.move' AND res_id = %s "
                "AND state = 'pending'",
                [move_id],
            )
            (new_job,) = cr.fetchone()
        self.assertNotEqual(new_job, job_id)
        self.process(job_ids=[new_job])
        puts = [r for r in self.sandbox.requests if r.method == "PUT"]
        self.assertEqual(len(puts), 1, "not sent a second time")
        copies = self.in_kleer("invoice", f"odoo-move-{move_id}")
        self.assertEqual(len(copies), 1)
        kleer_id, maybe_since, state = self.values(
            "account.move", move_id, "kleer_invoice_id", "kleer_check_remote", "kleer_state"
        )
        self.assertEqual((kleer_id, maybe_since, state), (int(copies[0]["id"]), False, "draft"))

    # -- item 5: master data created once -------------------------------------------

    def test_lost_client_answer_then_next_invoice_of_that_customer(self):
        _moves, (first, second), customer_id, _p = self.setup_invoices(2)
        self.sandbox.faults.add("drop_after_store", method="PUT", path="^/client$")
        self.process(job_ids=[first])
        self.assertEqual(self.values("res.partner", customer_id, "kleer_client_id"), (0,))
        # The customer's next invoice, a new job that knows nothing of the first.
        self.process(job_ids=[second])
        clients = self.in_kleer("client", f"odoo-partner-{customer_id}")
        self.assertEqual(len(clients), 1, "the client is not created twice")
        kleer_id, maybe_since = self.values(
            "res.partner", customer_id, "kleer_client_id", "kleer_check_remote"
        )
        self.assertEqual((kleer_id, maybe_since), (int(clients[0]["id"]), False))
        self.assertEqual(self.values("kleer.job", second, "state"), ("done",))

    def test_lost_product_answer_is_adopted_within_the_batch(self):
        _moves, job_ids, _c, product_id = self.setup_invoices(2)
        self.sandbox.faults.add("drop_after_store", method="PUT", path="^/product$")
        self.process(job_ids=job_ids)  # one batch, one cached product list
        products = self.in_kleer("product", f"odoo-product-{product_id}")
        self.assertEqual(len(products), 1, "the product is not created twice")
        self.assertEqual(
            self.values("product.product", product_id, "kleer_product_id"),
            (int(products[0]["id"]),),
        )
        self.assertEqual(self.values("kleer.job", job_ids[1], "state"), ("done",))

    def test_two_workers_and_one_new_customer_and_product(self):
        _moves, job_ids, customer_id, product_id = self.setup_invoices(4)
        self.sandbox.faults.add(
            "latency", method="PUT", path="^/(client|product)$", seconds=0.3, times=None
        )
        self.run_two_workers(job_ids, "^/client/invoice$")
        self.assertEqual(len(self.in_kleer("client", f"odoo-partner-{customer_id}")), 1)
        self.assertEqual(len(self.in_kleer("product", f"odoo-product-{product_id}")), 1)
        self.assertEqual(len(self.sandbox.state.invoices(self.sandbox.company_id)), 4)

    # -- item 6: the invoice-number job ------------------------------------------------

    def certified_without_numbers(self, count):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["res.company"].browse(
                self.company_id
            ).kleer_invoice_mode = "certified"
        move_ids, job_ids, _c, _p = self.setup_invoices(count, linked=True)
        self.process(job_ids=job_ids)
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT kleer_certified, kleer_invoice_nr, kleer_state, kleer_last_error "
                "FROM account_move WHERE id IN %s",
                [tuple(move_ids)],
            )
            rows = cr.fetchall()
            self.assertTrue(all(r[0] and r[1] for r in rows), rows)
            # Numbers are read back at certification: these stand for
            # invoices certified by an earlier version, their numbers not read.
            cr.execute(
                "UPDATE account_move SET kleer_invoice_nr = 0 WHERE id IN %s", [tuple(move_ids)]
            )
        return move_ids

    def run_numbers(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["account.move"]._cron_kleer_invoice_numbers()

    def numbers(self, move_ids):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT id, kleer_invoice_nr FROM account_move WHERE id IN %s ORDER BY id",
                [tuple(move_ids)],
            )
            return dict(cr.fetchall())

    def hold_row(self, move_id, release):
        """A send job writing the invoice: it holds the row lock until the
        numbers job waits for it, then until ``release`` is set, and commits.
        Returns the thread and a list that gets True once the wait was seen."""
        holder = self.registry.cursor()
        holder.execute("UPDATE account_move SET kleer_last_error = 'x' WHERE id = %s", [move_id])
        waited = []

        def commit_when_waited_for():
            try:
                with self.registry.cursor() as cr:
                    for _i in range(300):
                        cr.execute(
                            "SELECT COUNT(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                        if cr.fetchone()[0]:
                            waited.append(True)
                            break
                        cr.rollback()  # a fresh statistics snapshot
                        time.sleep(0.05)
                release.wait(30)
                holder.commit()
            finally:
                holder.close()

        thread = threading.Thread(target=commit_when_waited_for)
        thread.start()
        self.addCleanup(thread.join, 60)
        return thread, waited

    def test_numbers_job_retries_an_invoice_written_meanwhile(self):
        move_ids = self.certified_without_numbers(3)
        release = threading.Event()
        release.set()  # the send job commits as soon as the numbers job waits for it
        thread, waited = self.hold_row(move_ids[1], release)
        self.run_numbers()
        thread.join(60)
        self.assertEqual(waited, [True], "the numbers job met the send job's lock")
        numbers = self.numbers(move_ids)
        self.assertTrue(all(numbers.values()), numbers)
        expected = {
            int(inv["id"]): int(inv["invoice-nr"])
            for inv in self.sandbox.state.invoices(self.sandbox.company_id)
        }
        kleer_ids = dict(
            zip(
                move_ids,
                [self.values("account.move", m, "kleer_invoice_id")[0] for m in move_ids],
                strict=True,
            )
        )
        self.assertEqual(numbers, {m: expected[kleer_ids[m]] for m in move_ids})

    def test_numbers_job_skips_an_invoice_locked_too_long_and_logs_it(self):
        move_ids = self.certified_without_numbers(3)
        release = threading.Event()
        thread, waited = self.hold_row(move_ids[1], release)
        try:
            with patch(
                "odoo.addons.kleer_connector.models.account_move_numbers.NUMBER_LOCK_TIMEOUT", 0.2
            ):
                self.run_numbers()
        finally:
            release.set()
            thread.join(60)
        numbers = self.numbers(move_ids)
        self.assertEqual(waited, [True])
        self.assertFalse(numbers[move_ids[1]])
        self.assertTrue(numbers[move_ids[0]] and numbers[move_ids[2]], numbers)
        with self.registry.cursor() as cr:
            log = (
                api.Environment(cr, SUPERUSER_ID, {})["kleer.log"]
                .search([("res_model", "=", "account.move"), ("res_id", "=", move_ids[1])])
                .filtered(lambda entry: entry.operation == "invoice_number_retry")
            )
            self.assertEqual(log.level, "warning")
            self.assertIn("next run tries again", log.message)
        # The next run stores it.
        self.run_numbers()
        self.assertTrue(self.numbers(move_ids)[move_ids[1]])


class _WorkerKilled(BaseException):
    """Not an Exception: the queue catches none of it, as with a killed process."""


@tagged("post_install", "-at_install")
class TestCertifiedExactlyOnce(InvoiceRealCase):
    COMPANY = "Kleer Exakt Attest AB"

    def test_worker_killed_after_certify_answer_certifies_once(self):
        """ "Certified" is committed with the job's success, not on its own: a
        worker killed between Kleer's certify answer and that commit leaves
        the invoice uncertified in Odoo, and the retry reads Kleer first:
        certified and numbered there, stored, not certified again."""
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["res.company"].browse(
                self.company_id
            ).kleer_invoice_mode = "certified"
        (move_id,), (job_id,), _c, _p = self.setup_invoices(1, linked=True)

        def killed(job, result, run):
            raise _WorkerKilled

        with patch.object(self.registry["kleer.job"], "_succeed", killed):
            with self.assertRaises(_WorkerKilled):
                self.process(job_ids=[job_id])
        (kleer,) = self.in_kleer("invoice", f"odoo-move-{move_id}")
        self.assertEqual(kleer["certified"], "true")
        self.assertEqual(self.values("kleer.job", job_id, "state"), ("sending",))
        self.assertEqual(
            self.values("account.move", move_id, "kleer_certified", "kleer_invoice_nr"),
            (False, 0),
            "nothing of the certification committed",
        )
        self.assertEqual(self.process(job_ids=[job_id]), 1)  # its worker's lock is gone
        self.assertEqual(self.values("kleer.job", job_id, "state"), ("done",))
        self.assertEqual(
            self.values(
                "account.move", move_id, "kleer_certified", "kleer_invoice_nr", "kleer_state"
            ),
            (True, int(kleer["invoice-nr"]), "certified"),
        )
        certify = [r for r in self.sandbox.requests if r.rel_path.endswith("/certify")]
        self.assertEqual(len(certify), 1, "certified once")
        self.assertEqual(len(self.in_kleer("invoice", f"odoo-move-{move_id}")), 1)
