"""Pull syncs from Kleer: one cron per sync, each looping over the companies
that have it switched on. ``SYNCS`` lists them: the company setting that
switches each on and the method of this model that runs it (in the
master-data modules)."""

import logging
import traceback
from collections import namedtuple

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import UserError

from .kleer_job import KleerRun
from .tools import (
    KLEER_MANAGER,
    check_user_action,
    own_cursor,
    reader_lang,
    sync_lock_name,
    try_advisory_lock,
)

_logger = logging.getLogger(__name__)

# A sync: the res.company flag that switches it on, and the kleer.sync
# method ``method(company, run)`` that runs it and returns its summary.
Sync = namedtuple("Sync", "flag method")
SYNCS = {
    "customers": Sync("kleer_customer_sync", "_kleer_sync_customers"),  # kleer_sync_customers.py
    "products": Sync("kleer_sync_products", "_kleer_sync_products"),  # product_pull.py
    "rates": Sync("kleer_sync_rates", "_kleer_sync_rates"),  # kleer_sync_rates.py
    "users": Sync("kleer_sync_users", "_kleer_sync_users"),  # kleer_sync_users.py
    "categories": Sync("kleer_sync_categories", "_kleer_sync_categories"),
    "payments": Sync("kleer_sync_payments", "_kleer_sync_payments"),  # kleer_sync_payments.py
}
SYNC_FLAGS = {name: sync.flag for name, sync in SYNCS.items()}


class KleerSyncState(models.Model):
    """Last successful run of each sync, per company."""

    _name = "kleer.sync.state"
    _description = "Kleer sync run"
    _rec_name = "sync"

    company_id = fields.Many2one("res.company", required=True, index=True)
    sync = fields.Selection([(k, k.title()) for k in SYNC_FLAGS], required=True)
    last_success = fields.Datetime()
    last_run = fields.Datetime()
    last_message = fields.Char()

    _sql_constraints = [
        ("company_sync_uniq", "unique(company_id, sync)", "One state per sync and company."),
    ]


class KleerSync(models.AbstractModel):
    _name = "kleer.sync"
    _description = "Kleer pull syncs"

    @api.model
    def _cron_sync(self, name):
        for company in self.env["res.company"]._kleer_companies(SYNC_FLAGS[name]):
            # Nobody reads a scheduled run as it ends: what it writes (its
            # message, the log) is in the company's language, never in that
            # of the cron's user. "Sync now" writes in its user's.
            lang = reader_lang(company.browse(), company)
            self.with_company(company).with_context(lang=lang)._run_sync(name, company)

    @api.model
    def _run_sync(self, name, company):
        return self._run_sync_report(name, company)[0]

    @api.model
    def _run_sync_report(self, name, company):
        """(True, False or None as ``_run_sync``, the run's message).

        Run one sync for one company on a cursor of its own (syncs commit
        in slices). A failure of the whole run (Kleer down, bad token) lands
        in the log and the cron goes on with the next company. Runs are
        exclusive per (company, sync): two at once (the cron and "Sync now")
        would both create what neither has committed yet, so a run that finds
        another one going skips with a note and returns None."""
        run = KleerRun()
        started = fields.Datetime.now()
        # The sync's own cursor must see this transaction's pending writes
        # (e.g. the settings just changed), and this env its writes after.
        self.env.flush_all()
        try:
            with try_advisory_lock(self.env, sync_lock_name(company, name)) as locked:
                if not locked:
                    return None, self._note_skipped(name, company)
                try:
                    with own_cursor(self.env) as env:
                        sync = self.with_env(env).with_company(company)
                        message = getattr(sync, SYNCS[name].method)(sync.env.company, run)
                except Exception as exc:  # noqa: BLE001 - logged, cron goes on
                    self._log_run_failure(name, company, exc)
                    self._save_state_isolated(
                        company,
                        name,
                        {
                            "last_run": started,
                            "last_message": self._error_text(company, exc)[:200],
                        },
                    )
                    return False, self._run_failure_text(company, exc)
                self._save_state_isolated(
                    company,
                    name,
                    {"last_run": started, "last_success": started, "last_message": message},
                )
        finally:
            run.close()
            self.env.invalidate_all()
        return True, message

    @api.model
    def _run_failure_text(self, company, exc):
        """What a person reads of a failed run: the reason once, then what to do."""
        from ..kleer_api import KleerError

        if isinstance(exc, KleerError):
            # Always the plain-words reason and a next step: the user acts now.
            return company._kleer_explain(exc, company.sudo().kleer_token)
        return self.env._(
            "%(error)s. See the Kleer sync log for the details.",
            error=self._error_text(company, exc),
        )

    @api.model
    def _error_text(self, company, exc):
        """``exc`` as its reader reads it, in this run's language."""
        return company.with_env(self.env)._kleer_error_text(exc)

    @api.model
    def _note_skipped(self, name, company):
        message = self.env._(
            "Skipped: a %(sync)s sync of this company was already running.", sync=name
        )
        _logger.info("Kleer sync %s for %s skipped: already running", name, company.name)
        self._save_state_isolated(company, name, {"last_message": message})
        self.env["kleer.log"]._log_isolated(
            {
                "company_id": company.id,
                "direction": "in",
                "operation": f"sync_{name}",
                "level": "info",
                "state": "done",
                "message": message,
            }
        )
        return message

    @api.model
    def _save_state_isolated(self, company, name, vals):
        """Write the run's state on a cursor of its own. The running sync
        and a skipped one may write the same row at once: a serialization
        failure is retried, not taken for a failed run."""
        for attempt in range(3):
            try:
                with own_cursor(self.env) as env:
                    self.with_env(env)._save_state(company.with_env(env), name, vals)
                return
            except (psycopg2.errors.SerializationFailure, psycopg2.errors.UniqueViolation):
                if attempt == 2:
                    raise

    @api.model
    def _save_state(self, company, name, vals):
        State = self.env["kleer.sync.state"].sudo()
        state = State.search([("company_id", "=", company.id), ("sync", "=", name)])
        # Kleer users read this message: never with the token in it.
        vals = dict(vals, last_message=company._kleer_redact(vals.get("last_message")) or False)
        if state:
            state.write(vals)
        else:
            State.create(dict(vals, company_id=company.id, sync=name))

    @api.model
    def _last_success(self, company, name):
        state = (
            self.env["kleer.sync.state"]
            .sudo()
            .search([("company_id", "=", company.id), ("sync", "=", name)])
        )
        return state.last_success

    @api.model
    def _log_run_failure(self, name, company, exc):
        from ..kleer_api import KleerError

        if not isinstance(exc, KleerError):
            # The server log too: the traceback with the token removed.
            _logger.error(
                "Kleer sync %s failed for %s:\n%s",
                name,
                company.name,
                company._kleer_redact("".join(traceback.format_exception(exc))),
            )
        self.env["kleer.log"]._log_isolated(
            {
                "company_id": company.id,
                "direction": "in",
                "operation": f"sync_{name}",
                "level": "error",
                "state": "open",
                "error_kind": getattr(exc, "kind", "internal"),
                "message": self._error_text(company, exc),
                "request_body": getattr(exc, "request_body", None) or False,
                "response_body": getattr(exc, "response_body", None) or False,
                "http_status": getattr(exc, "status", None) or False,
            }
        )

    @api.model
    def action_sync_now(self, name):
        """ "Sync now" button: run it for the current company, in this request.
        Public, so callable over RPC: Kleer managers only."""
        check_user_action(self, group=KLEER_MANAGER)
        if name not in SYNC_FLAGS:
            raise UserError(self.env._("Unknown Kleer sync: %(name)s", name=name))
        company = self.env.company
        return self._run_sync(name, company)
