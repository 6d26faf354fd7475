"""The delivery queue: every piece of work exchanged with Kleer is a job.

A job is claimed in its own committed transaction (``FOR UPDATE SKIP
LOCKED`` then state ``sending``), so two workers never take the same one and
no row lock is held while Kleer is called. While it runs the job, the worker
holds an advisory lock on the job's id on a connection of its own: a job
found in ``sending`` whose lock is free lost its worker, so its outcome is
unknown; it is retried with ``check_remote`` set and the handler looks in
Kleer first. The work runs in another transaction that handlers commit the
moment Kleer answers.
"""

import logging
import random
import threading
import time
import traceback
import zlib
from contextlib import contextmanager
from datetime import timedelta

import psycopg2.errors

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import config

from ..kleer_api import KleerError, KleerUnknownOutcome
from .errors import CONCURRENCY_ERRORS, KleerMappingError, KleerUnknownOperation
from .kleer_operations import OPERATIONS
from .tools import (
    READER_LANG,
    RETENTION_DAYS,
    RETENTION_PARAM,
    check_user_action,
    days_param,
    own_cursor,
    record_reader,
    user_lang,
    wait_sync_lock,
)

_logger = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_ATTEMPTS = 8
BACKOFF_BASE = 60  # seconds; doubled per attempt
BACKOFF_MAX = 3600
MAX_RECOVERIES = 3  # a job that lost its worker this often waits for a person
TIME_MARGIN = 60  # seconds a batch keeps for its last job before Odoo's time limit
LOCK_JOB = 0x4B4C6A62  # first key of a job's advisory lock: "KLjb"
_clock = time.monotonic  # a module attribute, so that tests can move time
OPEN_STATES = ("pending", "sending", "failed")
# What the worker does, with superuser rights, is decided by these fields:
# set on creation only (like OCA queue_job's ``_protected_fields``). A
# Python object, so no RPC context can carry it.
PROTECTED_FIELDS = ("company_id", "direction", "operation", "res_model", "res_id", "kleer_ref")
EDIT_PROTECTED = object()


class KleerRun:
    """One batch: a Kleer client per company, and master data read once."""

    def __init__(self, now=None, job_ids=None):
        self._clients = {}
        self._cache = {}
        self.now = now  # the batch's clock and job filter (see upcoming())
        self.job_ids = job_ids

    def client(self, company):
        if company.id not in self._clients:
            self._clients[company.id] = company._kleer_client()
        return self._clients[company.id]

    def cached(self, company, key, loader):
        cache_key = (company.id, key)
        if cache_key not in self._cache:
            self._cache[cache_key] = loader()
        return self._cache[cache_key]

    def upcoming(self, env, company, res_model, operation, limit):
        """Record ids of the next due jobs of this kind, read without a lock:
        a hint for work done ahead for several records (one PDF rendering
        for many invoices), never a claim."""
        env.cr.execute(
            """
            SELECT res_id FROM kleer_job
             WHERE state = 'pending' AND (next_try IS NULL OR next_try <= %(now)s)
               AND company_id = %(company)s AND res_model = %(model)s
               AND operation = %(op)s {ids}
          ORDER BY priority, id
             LIMIT %(limit)s
            """.format(ids="AND id IN %(ids)s" if self.job_ids else ""),
            {
                "now": self.now or fields.Datetime.now(),
                "company": company.id,
                "model": res_model,
                "op": operation,
                "ids": tuple(self.job_ids or ()) or (0,),
                "limit": limit,
            },
        )
        return [row[0] for row in env.cr.fetchall()]

    def keep(self, company, key, value):
        self._cache[(company.id, key)] = value

    def take(self, company, key):
        """The value kept for ``key`` (once: it is forgotten), or None."""
        return self._cache.pop((company.id, key), None)

    def forget(self, company, key):
        self._cache.pop((company.id, key), None)

    def close(self):
        for client in self._clients.values():
            client.close()


@contextmanager
def create_lock(record, company):
    """Serialise "no Kleer id yet, create it, store its id" per (company,
    record) between workers: a transaction-level advisory lock held on a
    connection of its own until the block ends (the caller's cursor may
    commit inside). Callers re-read the Kleer id after a commit in the block,
    so that their snapshot starts after the lock was taken."""
    if record.env.registry.in_test_mode():
        # One connection for all cursors: a lock could only be re-entered.
        yield
        return
    with record.env.registry.cursor() as lock_cr:
        lock_cr.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            # crc32, not hash(): the same key in every worker process.
            (zlib.crc32(f"kleer:{company.id}:{record._name}".encode()) & 0x7FFFFFFF, record.id),
        )
        yield


class KleerJob(models.Model):
    _name = "kleer.job"
    _inherit = ["kleer.operation.mixin"]
    _description = "Kleer delivery job"
    _order = "priority, id"

    company_id = fields.Many2one("res.company", required=True, index=True)
    direction = fields.Selection(
        [("out", "Odoo → Kleer"), ("in", "Kleer → Odoo")], required=True, default="out"
    )
    res_model = fields.Char("Odoo model", required=True)
    res_id = fields.Many2oneReference("Odoo record id", model_field="res_model")
    record_name = fields.Char("Odoo record")
    kleer_ref = fields.Integer("Kleer id to fetch", help="For jobs that pull from Kleer.")
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("sending", "Sending"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("ignored", "Ignored"),
        ],
        default="pending",
        required=True,
        index=True,
    )
    priority = fields.Integer(default=10)
    attempts = fields.Integer(default=0)
    next_try = fields.Datetime(index=True)
    sending_since = fields.Datetime()
    recoveries = fields.Integer(
        help="How often this job was found in Sending after its worker stopped."
    )
    check_remote = fields.Boolean(
        help="The last attempt may have reached Kleer: look there before sending."
    )
    error_kind = fields.Char()
    last_error = fields.Text()
    kleer_id = fields.Integer("Kleer id")
    done_date = fields.Datetime()
    log_ids = fields.One2many("kleer.log", "job_id")

    def write(self, vals):
        protected = sorted(set(vals) & set(PROTECTED_FIELDS))
        if protected and self.env.context.get("kleer_edit_protected") is not EDIT_PROTECTED:
            raise AccessError(
                self.env._(
                    "A Kleer job's target cannot be changed: %(fields)s",
                    fields=", ".join(protected),
                )
            )
        return super().write(vals)

    def init(self):
        # At most one open job per record and operation.
        self.env.cr.execute(
            """
            CREATE UNIQUE INDEX IF NOT EXISTS kleer_job_open_uniq
                ON kleer_job (company_id, res_model, COALESCE(res_id, 0),
                              COALESCE(kleer_ref, 0), operation)
             WHERE state IN ('pending', 'sending', 'failed')
            """
        )

    # -- enqueueing ----------------------------------------------------------

    @api.model
    def _enqueue(self, records, operation, company=None, direction="out", priority=10):
        """Queue ``operation`` for each record (one open job at most); a
        failed job is set pending again. Returns the jobs."""
        jobs = self.browse()
        company = company or self.env.company
        existing = self.search(
            [
                ("company_id", "=", company.id),
                ("res_model", "=", records._name),
                ("res_id", "in", records.ids),
                ("operation", "=", operation),
                ("state", "in", OPEN_STATES),
            ]
        )
        by_res = {job.res_id: job for job in existing}
        new_vals = []
        for record in records:
            job = by_res.get(record.id)
            if job:
                if job.state == "failed":
                    job.write({"state": "pending", "next_try": False})
                jobs |= job
                continue
            new_vals.append(
                {
                    "company_id": company.id,
                    "direction": direction,
                    "operation": operation,
                    "res_model": records._name,
                    "res_id": record.id,
                    "record_name": record.display_name,
                    "priority": priority,
                }
            )
        jobs |= self.create(new_vals)
        jobs._set_target_state("queued")
        self._trigger_queue()
        return jobs

    @api.model
    def _enqueue_pull(self, model, operation, kleer_ref, company, record_name=None):
        """Queue a pull of one Kleer object (used to reprocess inbound failures)."""
        job = self.search(
            [
                ("company_id", "=", company.id),
                ("res_model", "=", model),
                ("kleer_ref", "=", kleer_ref),
                ("operation", "=", operation),
                ("state", "in", OPEN_STATES),
            ],
            limit=1,
        )
        if not job:
            job = self.create(
                {
                    "company_id": company.id,
                    "direction": "in",
                    "operation": operation,
                    "res_model": model,
                    "res_id": 0,
                    "kleer_ref": kleer_ref,
                    "record_name": record_name or f"Kleer {kleer_ref}",
                }
            )
        return job

    @api.model
    def _record_pull_failure(self, company, model, operation, kleer_ref, exc, record_name=None):
        """A record pulled from Kleer could not be taken in: keep a failed
        job (so Reprocess fetches it again) and an open log entry. Written
        through its own cursor, so the sync's rollback cannot lose it."""
        kind, _retry, _maybe = self._classify(exc)
        if kind == "internal":
            _logger.exception("Kleer pull %s %s failed", operation, kleer_ref)
        # In the language of this sync run (its reader's, see kleer.sync).
        message = company.with_env(self.env)._kleer_error_text(exc)
        with own_cursor(self.env) as env:
            job = env["kleer.job"]._enqueue_pull(model, operation, kleer_ref, company, record_name)
            job.write(
                {
                    "state": "failed",
                    "attempts": job.attempts + 1,
                    "error_kind": kind,
                    "last_error": message,
                }
            )
            vals = job._log_vals(
                level="error", state="open", error_kind=kind, message=message, exc=exc
            )
        self.env["kleer.log"]._log_isolated(vals)

    @api.model
    def _trigger_queue(self, at=None):
        cron = self.env.ref("kleer_connector.cron_process_queue", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at=at)

    @api.autovacuum
    def _gc_done_jobs(self):
        """Done jobs older than the retention (system parameter
        ``kleer_connector.retention_days``) go; failed, ignored and open ones
        stay. What a done job did is on its record (Kleer id, state)."""
        days = days_param(self.env, RETENTION_PARAM, RETENTION_DAYS)
        cutoff = fields.Datetime.now() - timedelta(days=days)
        while jobs := self.sudo().search(
            [("state", "=", "done"), ("done_date", "<", cutoff)], limit=10000
        ):
            jobs.unlink()

    # -- user actions --------------------------------------------------------

    def action_reprocess(self):
        jobs = check_user_action(self)
        todo = jobs.filtered(lambda j: j.state in ("failed", "ignored", "pending"))
        todo.write({"state": "pending", "next_try": False})
        todo.log_ids.filtered(lambda log: log.state == "open").write({"state": "reprocessed"})
        todo._set_target_state("queued")
        if todo:
            self._trigger_queue()
        return True

    def action_ignore(self):
        jobs = check_user_action(self)
        jobs.log_ids.filtered(lambda log: log.state == "open").write({"state": "ignored"})
        jobs._ignore()
        return True

    def _ignore(self):
        todo = self.filtered(lambda j: j.state in ("pending", "failed"))
        todo.write({"state": "ignored"})
        todo._set_target_state("ignored")

    def action_process_now(self):
        """Run these jobs now, in this request (still claimed one by one).
        They are set pending on a cursor of their own, committed: a job row
        written in this request's transaction would stay locked until it
        ends, and the claim (SKIP LOCKED) would pass it by."""
        jobs = check_user_action(self)
        if not jobs:  # an empty selection is nothing, never "everything"
            return True
        with own_cursor(self.env) as env:
            jobs.with_env(env).action_reprocess()
        jobs._process_jobs(job_ids=jobs.ids, time_limit=self._time_budget(cron=False))
        return True

    def action_view_record(self):
        check_user_action(self)
        self.ensure_one()
        if not self.res_id:
            raise UserError(self.env._("This job is not linked to an Odoo record."))
        return {
            "type": "ir.actions.act_window",
            "res_model": self.res_model,
            "res_id": self.res_id,
            "view_mode": "form",
        }

    # -- processing ----------------------------------------------------------

    @api.model
    def _cron_process_queue(self, limit=BATCH_SIZE):
        done = self._process_jobs(limit=limit, time_limit=self._time_budget(cron=True))
        remaining = self._due_count()
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _time_budget(self, cron):
        """Seconds a batch may take jobs: Odoo kills a cron (or request) that
        runs past its real-time limit, so stop taking jobs well before it."""
        limit = config.get("limit_time_real") or 0
        if cron and (config.get("limit_time_real_cron") or 0) > 0:
            limit = config["limit_time_real_cron"]
        if limit <= 0:
            return None
        budget = max(limit - TIME_MARGIN, limit / 2)
        # The limit counts from the start of the request or of the cron run
        # (which may call this method up to 10 times in a row).
        started = getattr(threading.current_thread(), "start_time", None)
        if started:
            budget -= max(time.time() - started, 0)
        return max(budget, 0.001)

    @api.model
    def _due_count(self, now=None):
        now = now or fields.Datetime.now()
        return self.search_count(
            ["&", ("state", "=", "pending"), "|", ("next_try", "=", False), ("next_try", "<=", now)]
        )

    @api.model
    def _process_jobs(self, limit=BATCH_SIZE, job_ids=None, now=None, time_limit=None):
        """Claim and run due jobs one at a time, taking none after
        ``time_limit`` seconds; returns how many ran. ``job_ids`` limits the
        run to these jobs (an empty list: none)."""
        if job_ids is not None and not job_ids:
            return 0
        now = now or fields.Datetime.now()
        deadline = _clock() + time_limit if time_limit else None
        # Jobs run on cursors of their own: they must see this transaction's
        # writes, and this environment must see theirs afterwards.
        self.env.flush_all()
        self._recover_stale()
        run = KleerRun(now=now, job_ids=job_ids)
        done = 0
        # The connection whose advisory lock says "this job's worker is
        # alive" (in test mode every cursor shares one connection: none).
        lock_cr = None if self.env.registry.in_test_mode() else self.env.registry.cursor()
        if lock_cr is not None:
            # Each job's lock lives as long as a transaction of this
            # connection, idle while Kleer is called: a server-wide idle
            # timeout must not end it (the job would look dead and run
            # twice). Set for the session (committed), once per batch.
            lock_cr.execute("SET idle_in_transaction_session_timeout = 0")
            lock_cr.commit()
        try:
            # At least one job per batch, however late: the queue moves on.
            while done < limit and (deadline is None or not done or _clock() < deadline):
                job_id = self._claim(now, job_ids, lock_cr)
                if not job_id:
                    break
                done += 1
                try:
                    self._run_one(job_id, run)
                except Exception:  # noqa: BLE001 - one job never ends the batch
                    _logger.exception("Kleer job %s could not be settled", job_id)
                    if lock_cr is not None:
                        lock_cr.rollback()  # its lock is free: recovered at once
                    self._recover_stale()
                finally:
                    if lock_cr is not None:
                        lock_cr.rollback()  # the job's lock
        finally:
            if lock_cr is not None:
                # Back to the pool, whose next borrower's reset() runs RESET ALL.
                lock_cr.close()
            run.close()
            self.env.invalidate_all()
        return done

    @api.model
    def _claim(self, now, job_ids=None, lock_cr=None):
        """Take the next due job in a transaction of its own: lock its row
        (rows another worker holds are skipped) and its advisory lock on
        ``lock_cr`` (kept while the job runs), mark it ``sending``, commit."""
        # One statement: the row lock (SKIP LOCKED) and the state.
        query = """
            UPDATE kleer_job
               SET state = 'sending', attempts = attempts + 1,
                   sending_since = %(stamp)s, write_date = %(stamp)s
             WHERE id = (
                   SELECT id FROM kleer_job
                    WHERE state = 'pending' AND (next_try IS NULL OR next_try <= %(now)s)
                      {ids} AND id NOT IN %(busy)s
                 ORDER BY priority, id
                    LIMIT 1
                      FOR UPDATE SKIP LOCKED)
         RETURNING id
        """.format(ids="AND id IN %(ids)s" if job_ids else "")
        params = {"now": now, "ids": tuple(job_ids or ()) or (0,), "busy": (0,)}
        for _attempt in range(10):
            try:
                with own_cursor(self.env) as env:
                    params["stamp"] = fields.Datetime.now()
                    # A row another worker just committed fails a repeatable
                    # read snapshot: expected, so not logged; try again.
                    env.cr.execute(query, params, log_exceptions=False)
                    row = env.cr.fetchone()
                    if not row:
                        return None
                    if lock_cr is not None:
                        # Held until the job is settled (see _process_jobs).
                        lock_cr.execute(
                            "SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_JOB, row[0])
                        )
                        if not lock_cr.fetchone()[0]:  # being recovered right now
                            env.cr.rollback()  # not claimed
                            params["busy"] += (row[0],)
                            continue
                    return row[0]
            except psycopg2.errors.SerializationFailure:
                continue
        return None

    @api.model
    def _recover_stale(self):
        """Jobs left in ``sending`` whose worker no longer holds their lock
        (it died, or failed to settle them): their outcome is unknown, so they
        go back to pending with ``check_remote``; one that lost its worker
        ``MAX_RECOVERIES`` times waits for a person instead. Returns their ids."""
        rows = []
        for _attempt in range(10):
            try:
                # (not named ``cr``: Odoo's _() would pick the closed cursor from locals)
                with own_cursor(self.env) as stale_env:
                    rows = self._recover_dead(stale_env.cr)
                break
            except CONCURRENCY_ERRORS:
                # A worker settled one of them meanwhile: look again.
                rows = []
                continue
        for job_id, recoveries in rows:
            job = self.sudo().browse(job_id)
            lang = job._kleer_reader_lang()
            job = job.with_context(lang=lang)
            given_up = recoveries >= MAX_RECOVERIES
            if given_up:
                message = job.env._(
                    "The worker stopped %(n)s times while running this job; it waits for a "
                    "person. Kleer will be checked before it is sent again.",
                    n=recoveries,
                )
                with own_cursor(self.env) as target_env:
                    target_job = job.with_env(target_env).with_context(lang=lang)
                    target_job.last_error = message
                    target_job._set_target_state("failed", message)
            else:
                message = job.env._(
                    "The worker stopped while sending; Kleer will be checked "
                    "before this is sent again."
                )
            self.env["kleer.log"]._log_isolated(
                job._log_vals(
                    level="error" if given_up else "warning",
                    state="open" if given_up else "done",
                    error_kind="unknown_outcome",
                    message=message,
                )
            )
        return [job_id for job_id, _n in rows]

    @api.model
    def _recover_dead(self, stale_cr):
        """In ``stale_cr``'s transaction: set the dead ``sending`` jobs back
        (see ``_recover_stale``); their advisory locks, taken here, are held
        until it commits, so no worker claims them meanwhile."""
        stale_cr.execute(
            "SELECT id FROM kleer_job WHERE state = 'sending' ORDER BY id FOR UPDATE SKIP LOCKED",
            log_exceptions=False,
        )
        dead = []
        for (job_id,) in stale_cr.fetchall():
            stale_cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_JOB, job_id))
            if stale_cr.fetchone()[0]:
                dead.append(job_id)
        if not dead:
            return []
        stale_cr.execute(
            """
            UPDATE kleer_job
               SET check_remote = TRUE, next_try = NULL,
                   recoveries = CASE WHEN COALESCE(recoveries, 0) + 1 >= %(max)s
                                     THEN 0 ELSE COALESCE(recoveries, 0) + 1 END,
                   state = CASE WHEN COALESCE(recoveries, 0) + 1 >= %(max)s
                                THEN 'failed' ELSE 'pending' END,
                   error_kind = 'unknown_outcome'
             WHERE id IN %(ids)s
         RETURNING id, CASE WHEN state = 'failed' THEN %(max)s ELSE recoveries END
            """,
            {"ids": tuple(dead), "max": MAX_RECOVERIES},
        )
        return sorted(stale_cr.fetchall())

    @api.model
    def _run_one(self, job_id, run):
        with own_cursor(self.env, user=SUPERUSER_ID, context={}) as env:
            cr = env.cr
            job = env["kleer.job"].browse(job_id)
            # Its messages (log, chatter) in the language of who reads them.
            job = job.with_company(job.company_id).with_context(lang=job._kleer_reader_lang(run))
            try:
                result = job._execute(run) or {}
            except Exception as exc:  # noqa: BLE001 - every failure is logged
                cr.rollback()
                env.invalidate_all(flush=False)
                job._fail(exc, run)
                return
            try:
                job._succeed(result, run)
            except CONCURRENCY_ERRORS as exc:
                # Someone wrote the record while its state was stored. The
                # Kleer id is committed already: the retry (soon) finds it and
                # only settles the states.
                cr.rollback()
                env.invalidate_all(flush=False)
                job._fail(exc, run)

    def _execute(self, run):
        """Call the handler that ``OPERATIONS`` names for the job's (model,
        operation), ``handler(job, run)``. Handlers commit the job's cursor
        right after Kleer answers a write, so the Kleer id can never be
        rolled back."""
        self.ensure_one()
        operation = OPERATIONS.get((self.res_model, self.operation))
        if operation is None:
            # Whatever a job row says, only what the table lists runs.
            raise KleerUnknownOperation(
                self.env._(
                    "No handler for operation %(op)s on %(model)s.",
                    op=self.operation,
                    model=self.res_model,
                )
            )
        if not self.company_id._kleer_is_configured():
            raise KleerMappingError(
                self.env._("Kleer is not configured for %(company)s.", company=self.company_id.name)
            )
        # The handler runs without a language: what Kleer receives (unit,
        # country and product names) must not depend on who reads. What a
        # person reads (refusals, messages) is written in the reader's
        # language, which it carries apart (tools.reader_env).
        Model = (
            self.env[self.res_model]
            .with_context(lang=None, **{READER_LANG: self._kleer_reader_lang(run)})
            .with_company(self.company_id)
        )
        target = Model.browse(self.res_id).exists() if self.res_id else Model
        if self.res_id and not target:
            raise KleerMappingError(self.env._("The Odoo record no longer exists."))
        if operation.sync:
            # A pull and its sync write the same records (a partner per Kleer
            # client): one at a time, as two runs of a sync are.
            with wait_sync_lock(self.env, self.company_id, operation.sync):
                return getattr(target, operation.handler)(self, run)
        return getattr(target, operation.handler)(self, run)

    def _commit(self):
        """Commit the job's own transaction (never the user's: jobs run on a
        cursor of their own). Used by handlers right after Kleer answers."""
        self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _create_in_kleer(self, record, create, commit=True):
        """Return ``create()``, the id of the object Kleer created for
        ``record``. Whether an object may exist in Kleer follows the record,
        not the job: ``record.kleer_check_remote`` is set (and committed)
        before Kleer is asked and kept until the caller stores the id, so a
        lost answer, a dead worker or a new job looks in Kleer first. Only a
        refusal (4xx: Kleer stored nothing) clears it."""
        record.sudo().kleer_check_remote = fields.Datetime.now()
        if commit:
            self._commit()
        try:
            return create()
        except KleerError as exc:
            if exc.status and 400 <= exc.status < 500:
                record.sudo().kleer_check_remote = False
                if commit:
                    self._commit()
            raise

    def _succeed(self, result, run):
        exchange = self._last_exchange(run)
        self.write(
            {
                "state": "done",
                "done_date": fields.Datetime.now(),
                "check_remote": False,
                "error_kind": False,
                "last_error": False,
                "kleer_id": result.get("kleer_id") or self.kleer_id,
            }
        )
        self.log_ids.filtered(lambda log: log.state in ("open", "reprocessed")).write(
            {"state": "resolved"}
        )
        self._set_target_state(result.get("state", "done"), result.get("message"))
        # The success entry is committed with the job's state, in the same
        # transaction: no cursor of its own (only failures need one, to
        # survive the rollback of their work).
        self.env["kleer.log"]._log_here(
            self._log_vals(
                level="info",
                state="done",
                message=result.get("message") or self.env._("Done."),
                kleer_id=result.get("kleer_id") or self.kleer_id,
                exchange=exchange,
            )
        )
        self._commit()

    def _fail(self, exc, run):
        kind, retry, check_remote = self._classify(exc)
        if kind == "internal":
            _logger.exception("Kleer job %s (%s) failed", self.id, self.operation)
        # The job's environment is in its reader's language (_run_one).
        message = self.company_id._kleer_error_text(exc)
        if retry and self.attempts >= MAX_ATTEMPTS:
            retry = False
            message = self.env._(
                "%(msg)s (gave up after %(n)s attempts)", msg=message, n=self.attempts
            )
        vals = {
            "error_kind": kind,
            "last_error": message,
            "check_remote": self.check_remote or check_remote,
        }
        if retry:
            vals.update(state="pending", next_try=self._next_try(exc))
        else:
            vals.update(state="failed", next_try=False)
        self.write(vals)
        if not retry:
            self._set_target_state("failed", message)
        else:
            # The retry runs at its time, not at the cron's next tick.
            self._trigger_queue(at=vals["next_try"])
        self._commit()
        exchange = self._last_exchange(run)
        self.env["kleer.log"]._log_isolated(
            self._log_vals(
                level="error" if not retry else "warning",
                state="open" if not retry else "done",
                error_kind=kind,
                message=message
                if not retry
                else self.env._(
                    "%(msg)s (will retry at %(when)s)",
                    msg=message,
                    when=self._kleer_reader_time(vals["next_try"], run),
                ),
                exchange=exchange,
                exc=exc,
            )
        )

    @api.model
    def _classify(self, exc):
        """(error kind, retry?, may Kleer have stored it?)"""
        if isinstance(exc, CONCURRENCY_ERRORS):
            # Another worker wrote the same row (e.g. one customer on two
            # invoices): try again soon; Kleer may have answered before.
            return "transient", True, True
        if isinstance(exc, KleerUnknownOutcome):
            return exc.kind, True, True
        if isinstance(exc, KleerError):
            # A 5xx after a write may still have stored it ("Tekniskt fel").
            maybe_stored = bool(exc.status and exc.status >= 500 and exc.method != "GET")
            return exc.kind, exc.retryable, maybe_stored
        if isinstance(exc, (UserError, ValidationError)):
            return "mapping", False, False
        return "internal", False, False

    def _next_try(self, exc):
        if isinstance(exc, CONCURRENCY_ERRORS):
            return fields.Datetime.now() + timedelta(seconds=random.uniform(1, 5))
        delay = min(BACKOFF_BASE * 2 ** max(self.attempts - 1, 0), BACKOFF_MAX)
        delay *= random.uniform(0.8, 1.2)  # jitter: workers do not retry in step
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            delay = max(delay, retry_after)
        return fields.Datetime.now() + timedelta(seconds=delay)

    def _last_exchange(self, run):
        client = run._clients.get(self.company_id.id)
        return client.last_exchange if client else None

    def _kleer_reader(self, run=None):
        """Who reads this job's messages: its record's creator
        (``tools.record_reader``), else no user (the company's language and
        time zone apply). A batch (``run``) looks it up once per job."""
        self.ensure_one()

        def creator_id():
            if not self.res_id or self.res_model not in self.env:
                return False
            # (no exists() first: _execute checks, the read tells too)
            return record_reader(self.env[self.res_model].browse(self.res_id)).id

        reader_id = (
            creator_id()
            if run is None
            else run.cached(self.company_id, ("reader", self.id), creator_id)
        )
        return self.env["res.users"].sudo().browse(reader_id)

    def _kleer_reader_time(self, value, run=None):
        """``value`` (UTC) as its reader reads it: in the reader's time zone
        (else the company's), to the minute, zone named."""
        tz = self._kleer_reader(run).tz or self.company_id.partner_id.tz or "UTC"
        local = fields.Datetime.context_timestamp(self.with_context(tz=tz), value)
        return local.strftime("%Y-%m-%d %H:%M %Z")

    def _kleer_reader_lang(self, run=None):
        """The reader's language (else the company's): jobs run with an empty
        context, which would write every chatter note and log entry in
        English. A batch (``run``) looks it up once per company and reader."""
        reader = self._kleer_reader(run)
        if run is None:
            return user_lang(reader, self.company_id)
        return run.cached(
            self.company_id,
            ("reader_lang", reader.id),
            lambda: user_lang(reader, self.company_id),
        )

    def _log_vals(
        self, level, state, message, error_kind=False, kleer_id=False, exchange=None, exc=None
    ):
        self.ensure_one()
        vals = {
            "company_id": self.company_id.id,
            "direction": self.direction,
            "operation": self.operation,
            "res_model": self.res_model,
            "res_id": self.res_id,
            "record_name": self.record_name,
            "kleer_id": kleer_id or self.kleer_id or self.kleer_ref,
            "level": level,
            "state": state,
            "error_kind": error_kind,
            "message": message,
            "attempts": self.attempts,
            "job_id": self.id,
        }
        source = exc if isinstance(exc, KleerError) else exchange
        if isinstance(exc, Exception) and not isinstance(
            exc, (KleerError, UserError, ValidationError)
        ):
            vals["message"] = f"{message}\n\n{''.join(traceback.format_exception(exc))[-4000:]}"
        if source is not None:
            vals.update(
                request_body=getattr(source, "request_body", None) or False,
                response_body=getattr(source, "response_body", None) or False,
                http_status=getattr(source, "status", None) or False,
            )
        return vals

    def _set_target_state(self, state, message=None):
        """Tell the records their Kleer state (badge, chatter)."""
        for job in self:
            if not job.res_id or job.direction != "out":
                continue
            record = self.env[job.res_model].browse(job.res_id).exists()
            if record:
                record.with_company(job.company_id)._kleer_on_job_state(job, state, message)
