"""Credit notes that wait for their invoice to be certified in Kleer.

Kleer credits certified invoices only (``debit-invoice-nr`` is the credited
invoice's Kleer number). A credit note whose invoice is only a draft in
Kleer (or is still on its way there) is no failure: its ``post`` job stays
pending but not due (``error_kind`` "waiting"), the credit note shows
"Waiting for its invoice", and nobody gets an activity. The job is made due
again when the invoice-number cron sees the invoice certified (or deleted)
in Kleer, when the invoice's own job reaches Kleer or is ignored, when a
user presses Send to Kleer, and at the latest after ``WAIT_RECHECK``.
Waking a job only sets its ``next_try``: the queue's claim still runs it
once, and its handler reads the invoice in Kleer again before it sends. A
job the number cron cannot wake (a worker runs it, or its row is written
at that moment) makes the cron look again a minute later.
"""

from datetime import timedelta

from odoo import api, fields, models

from .errors import CONCURRENCY_ERRORS, KleerWaitForOriginal
from .tools import own_cursor

WAIT_RECHECK = timedelta(days=1)  # a waiting credit note looks again by itself
WAKE_RETRY = timedelta(minutes=1)  # the number cron again, after a wake it could not do
WAITING = "waiting"  # error_kind of a job that waits, not failed


class AccountMove(models.Model):
    _inherit = "account.move"

    kleer_state = fields.Selection(
        selection_add=[(WAITING, "Waiting for its invoice")],
        ondelete={WAITING: "set null"},
    )

    def _kleer_on_job_state(self, job, state, message=None):
        if state != WAITING:
            super()._kleer_on_job_state(job, state, message)
            if state in ("draft", "certified", "ignored"):
                # These invoices reached Kleer or will not: their credit
                # notes look again now (in this transaction, so they see it).
                self.env["kleer.job"]._kleer_wake(self._kleer_waiting_credit_note_jobs())
            return
        for move in self:
            move.write({"kleer_state": WAITING, "kleer_last_error": False})
            if move.kleer_activity_id.exists().active:
                # A person was asked to act on an earlier failure: no longer.
                move.kleer_activity_id.action_feedback(feedback=message or job.last_error)
                move.kleer_activity_id = False
            if message:
                move.message_post(body=message, subtype_xmlid="mail.mt_note")

    def _kleer_waiting_credit_note_jobs(self):
        """Waiting ``post`` jobs of the credit notes of these invoices."""
        refunds = self.env["account.move"].sudo().search([("reversed_entry_id", "in", self.ids)])
        if not refunds:
            return self.env["kleer.job"]
        return self.env["kleer.job"]._kleer_waiting_jobs(refunds)

    def _compute_kleer_retry_note(self):
        super()._compute_kleer_retry_note()
        waiting = self.filtered(lambda m: m.kleer_state == WAITING)
        if not waiting:
            return
        jobs = self.env["kleer.job"]._kleer_waiting_jobs(waiting)
        by_move = {job.res_id: job for job in jobs}
        for move in waiting:
            job = by_move.get(move.id)
            move.kleer_retry_note = job.last_error if job else False

    @api.model
    def _kleer_fetch_invoice_numbers(self, company, client):
        found = super()._kleer_fetch_invoice_numbers(company, client)
        self._kleer_wake_for_certified(company, client)
        return found

    @api.model
    def _kleer_wake_for_certified(self, company, client):
        """Wake the waiting credit notes whose invoice Kleer now shows
        certified (or deleted), reading Kleer's invoices of those dates
        page by page."""
        # Jobs a worker runs right now too: they may have read Kleer before
        # it showed the invoice certified, and go back to waiting for a day.
        jobs = (
            self.env["kleer.job"]
            .sudo()
            .search(
                [
                    ("company_id", "=", company.id),
                    ("res_model", "=", "account.move"),
                    ("operation", "=", "post"),
                    ("state", "in", ("pending", "sending")),
                    ("error_kind", "=", WAITING),
                ]
            )
        )
        refunds = self.browse(jobs.mapped("res_id")).exists()
        origins = refunds.reversed_entry_id.filtered("kleer_invoice_id")
        if not origins:
            return
        waiting = {origin.kleer_invoice_id: origin for origin in origins}
        dates = origins.mapped("invoice_date")
        ready = self.browse()
        for invoice in client.iter_invoices(filter="all", date_from=min(dates), date_to=max(dates)):
            origin = waiting.get(invoice.id)
            if origin and ((invoice.certified and invoice.invoice_nr) or invoice.disabled):
                ready |= waiting.pop(invoice.id)
            if not waiting:
                break
        jobs = jobs.filtered(lambda j: self.browse(j.res_id).reversed_entry_id in ready)
        woken = self.env["kleer.job"]._kleer_wake(
            jobs.filtered(lambda j: j.state == "pending"), own_transaction=True
        )
        if jobs - woken:
            # Being run, or written by someone else at this moment: their
            # credit notes are not known to go out. Look again soon rather
            # than leave them to the daily re-check.
            cron = self.env.ref("kleer_connector.cron_kleer_invoice_numbers")
            cron.sudo()._trigger(at=fields.Datetime.now() + WAKE_RETRY)


class KleerJob(models.Model):
    _inherit = "kleer.job"

    @api.model
    def _kleer_waiting_jobs(self, records):
        return self.sudo().search(
            [
                ("res_model", "=", records._name),
                ("res_id", "in", records.ids),
                ("operation", "=", "post"),
                ("state", "=", "pending"),
                ("error_kind", "=", WAITING),
            ]
        )

    @api.model
    def _kleer_wake(self, jobs, own_transaction=False):
        """Make waiting jobs due now; returns the jobs woken. In a
        transaction of its own (for a cron): a job written elsewhere at the
        same moment (a conflict) is not woken, and the caller knows it."""
        if not jobs:
            return jobs
        if own_transaction:
            try:
                with own_cursor(self.env) as env:
                    env.cr.execute(
                        "UPDATE kleer_job SET next_try = NULL WHERE id IN %s "
                        "AND state = 'pending' AND error_kind = %s RETURNING id",
                        (tuple(jobs.ids), WAITING),
                        log_exceptions=False,
                    )
                    woken = self.browse([row[0] for row in env.cr.fetchall()])
            except CONCURRENCY_ERRORS:
                woken = self.browse()
            jobs.invalidate_recordset(["next_try"])
        else:
            jobs.write({"next_try": False})
            woken = jobs
        if woken:
            self._trigger_queue()
        return woken

    @api.model
    def _enqueue(self, records, operation, company=None, direction="out", priority=10):
        # Send to Kleer on a waiting credit note: look again now.
        jobs = super()._enqueue(records, operation, company, direction, priority)
        waiting = jobs.filtered(lambda j: j.state == "pending" and j.error_kind == WAITING)
        if waiting:
            waiting.write({"next_try": False})
        return jobs

    def _fail(self, exc, run):
        if not isinstance(exc, KleerWaitForOriginal):
            return super()._fail(exc, run)
        if exc.certify_only:
            message = self.env._(
                "Waiting for %(invoice)s to be certified in Kleer: Kleer credits certified "
                "invoices only. This credit note is sent as soon as it is.",
                invoice=exc.origin_name,
            )
        else:
            message = self.env._(
                "Waiting for %(invoice)s to reach Kleer and be certified there: Kleer credits "
                "certified invoices only. This credit note is sent as soon as it is.",
                invoice=exc.origin_name,
            )
        changed = self.error_kind != WAITING or self.last_error != message
        self.write(
            {
                "state": "pending",
                "next_try": fields.Datetime.now() + WAIT_RECHECK,
                "error_kind": WAITING,
                "last_error": message,
                "attempts": 0,  # waiting is not trying: a later retry has its full budget
            }
        )
        self._set_target_state(WAITING, message if changed else None)
        self._commit()
        if changed:
            self.env["kleer.log"]._log_isolated(
                self._log_vals(level="info", state="done", message=message)
            )
        return None
