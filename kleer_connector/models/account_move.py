"""Customer invoices and credit notes and the Kleer queue: the Kleer fields,
posting enqueues a ``post`` job (never a call to Kleer in the user's
transaction), the Send to Kleer button, the guards on writes and reset to
draft, and what a job's state changes on the invoice (badge, activity, note).
"""

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .tools import check_connector_create, check_connector_fields, check_user_action

MOVE_STATES = [
    ("not_sent", "Not sent"),
    ("queued", "Queued"),
    ("draft", "Sent as draft"),
    ("certified", "Certified"),
    ("mismatch", "Draft: amounts differ"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
]
KLEER_MOVE_TYPES = ("out_invoice", "out_refund")


KLEER_STEERING_FIELDS = (
    "kleer_invoice_id",
    "kleer_invoice_nr",
    "kleer_certified",
    "kleer_certified_date",
    "kleer_check_remote",
)
# The connector's bookkeeping on an invoice: none of it touches the journal
# items, so such a write skips account's line sync and balance check and
# does not mark the invoice "manually modified".
KLEER_BOOKKEEPING_FIELDS = frozenset(KLEER_STEERING_FIELDS) | {"kleer_state", "kleer_last_error"}
# Set by the connector only: the steering fields, the state, which says
# whether confirming queues the invoice (_kleer_enqueue), and the to-do the
# queue updates and completes as superuser (_kleer_schedule_activity).
KLEER_PROTECTED_FIELDS = (*KLEER_STEERING_FIELDS, "kleer_state", "kleer_activity_id")


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "kleer.history.mixin"]

    kleer_invoice_id = fields.Integer("Kleer invoice id", copy=False, readonly=True, index=True)
    kleer_invoice_nr = fields.Integer("Kleer invoice number", copy=False, readonly=True)
    kleer_certified = fields.Boolean("Certified in Kleer", copy=False, readonly=True)
    # When Odoo learnt it (set by write): bounds the invoice-number look-up.
    kleer_certified_date = fields.Datetime("Certified in Kleer on", copy=False, readonly=True)
    kleer_state = fields.Selection(
        MOVE_STATES, "Kleer state", copy=False, readonly=True, index=True, tracking=True
    )
    kleer_last_error = fields.Text("Last Kleer error", copy=False, readonly=True)
    kleer_check_remote = fields.Datetime(
        "May exist in Kleer since",
        copy=False,
        readonly=True,
        help="Kleer was asked to create this invoice and its answer is not known: it is "
        "looked up in Kleer before it is sent again, whichever job sends it.",
    )
    # The to-do of the person who must act on a refusal: one per invoice,
    # marked done when the invoice later reaches Kleer.
    kleer_activity_id = fields.Many2one("mail.activity", copy=False, readonly=True)
    kleer_retry_note = fields.Char(
        compute="_compute_kleer_retry_note", groups="kleer_connector.group_kleer_user"
    )
    # Odoo Community has no period on invoices: these are sent as Kleer
    # accrual periods when the company's accrual setting is on.
    kleer_period_start = fields.Date("Accrual period start", copy=False)
    kleer_period_end = fields.Date("Accrual period end", copy=False)
    kleer_attachment_ids = fields.Many2many(
        "ir.attachment",
        "account_move_kleer_attachment_rel",
        "move_id",
        "attachment_id",
        string="Also send to Kleer",
        copy=False,
        domain="[('res_model', '=', 'account.move'), ('res_id', '=', id)]",
        help="Attachments of this invoice sent to Kleer with its PDF.",
    )

    @api.constrains("kleer_period_start", "kleer_period_end")
    def _check_kleer_period(self):
        for move in self:
            if (
                move.kleer_period_start
                and move.kleer_period_end
                and move.kleer_period_start > move.kleer_period_end
            ):
                raise UserError(self.env._("The accrual period ends before it starts."))

    # -- enqueueing ----------------------------------------------------------

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._kleer_enqueue(auto=True)
        return posted

    def _kleer_sendable(self):
        return self.filtered(
            lambda m: (
                m.state == "posted"
                and m.move_type in KLEER_MOVE_TYPES
                and m.company_id._kleer_is_configured()
            )
        )

    def _kleer_enqueue(self, auto=False):
        """Queue a ``post`` job per invoice (the queue is idempotent)."""
        moves = self._kleer_sendable()
        if auto:
            moves = moves.filtered(lambda m: m.kleer_state not in ("draft", "certified"))
        Job = self.env["kleer.job"].sudo()
        for company in moves.company_id:
            Job._enqueue(
                moves.filtered(lambda m, c=company: m.company_id == c), "post", company=company
            )
        return moves

    def action_kleer_send(self):
        """ "Send to Kleer" (button and list action): invoices posted before
        the connection existed, or a retry after a fix."""
        check_user_action(self)
        self.check_access("write")
        todo = self._kleer_sendable().filtered(lambda m: not m.kleer_certified)
        if not todo:
            raise UserError(
                self.env._(
                    "Nothing to send: only confirmed customer invoices and credit notes of a "
                    "company connected to Kleer, not yet certified there, can be sent."
                )
            )
        todo._kleer_enqueue()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": self.env._("%(n)s invoice(s) queued for Kleer.", n=len(todo)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    @api.model_create_multi
    def create(self, vals_list):
        # Nor born with them (a create, a copy, a default in the context).
        check_connector_create(self, vals_list, KLEER_PROTECTED_FIELDS)
        return super().create(vals_list)

    def write(self, vals):
        # What the queue does with an invoice (send, update, certify, adopt)
        # follows these: only the connector's own code, as superuser, sets them.
        check_connector_fields(self, vals, KLEER_PROTECTED_FIELDS)
        if vals.get("kleer_certified") and "kleer_certified_date" not in vals:
            vals = dict(vals, kleer_certified_date=fields.Datetime.now())
        if vals and self.env.su and set(vals) <= KLEER_BOOKKEEPING_FIELDS:
            # Untracked (the steering fields always; the state when a note
            # says it): one UPDATE.
            if set(vals) <= set(KLEER_STEERING_FIELDS) or self.env.context.get("tracking_disable"):
                return self._kleer_write_columns(vals)
        if vals and set(vals) <= KLEER_BOOKKEEPING_FIELDS:
            self = self.with_context(  # noqa: PLW0642 - only this write
                check_move_validity=False,
                skip_invoice_sync=True,
                skip_account_move_synchronization=True,
                skip_is_manually_modified=True,
            )
        return super().write(vals)

    def _kleer_write_columns(self, vals):
        """The connector's bookkeeping (doubt flag, Kleer id, certified, an
        untracked state) in one UPDATE. None of it is computed from or part
        of the accounting: account's write (journal and lock-date checks,
        line sync) has nothing to check in it, and cost up to three
        statements each of the four to six times the queue stores one."""
        if not self:
            return True
        self.flush_recordset(list(vals))
        assignments = SQL(", ").join(
            SQL("%s = %s", SQL.identifier(name), self._fields[name].convert_to_column(value, self))
            for name, value in vals.items()
        )
        self.env.cr.execute(
            SQL(
                "UPDATE account_move SET %s, write_uid = %s, "
                "write_date = (now() AT TIME ZONE 'UTC') WHERE id IN %s",
                assignments,
                self.env.uid,
                tuple(self.ids),
            )
        )
        # The values written are known: cached, not read again (a read of
        # the whole invoice each time the queue looks at its state).
        for name, value in vals.items():
            field = self._fields[name]
            self.env.cache.update(self, field, [field.convert_to_cache(value, self)] * len(self))
        self.invalidate_recordset(["write_uid", "write_date"])
        return True

    # -- reset to draft ---------------------------------------------------------

    def button_draft(self):
        """An invoice Kleer holds (or may hold) cannot be changed in Odoo
        alone: Odoo and Kleer would then disagree silently. One not sent yet
        may be reset; its waiting job is cancelled, and confirming it again
        queues a new one."""
        invoices = self.filtered(lambda m: m.move_type in KLEER_MOVE_TYPES)
        jobs = invoices._kleer_check_draftable()
        res = super().button_draft()
        if jobs:
            # Writing the job rows (not only reading them) makes this reset and
            # a worker's claim exclude each other: whichever commits second
            # fails on the row and retries, and then sees the other's state.
            jobs.log_ids.filtered(lambda log: log.state == "open").write({"state": "ignored"})
            jobs.write(
                {
                    "state": "ignored",
                    "last_error": self.env._("The invoice was reset to draft in Odoo."),
                }
            )
            invoices.filtered("kleer_state").sudo().write({"kleer_state": "not_sent"})
        return res

    def _kleer_check_draftable(self):
        """Refuse a reset of invoices Kleer holds or may hold; returns their
        open ``post`` jobs, which nothing has sent yet."""
        jobs = (
            self.env["kleer.job"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", self.ids),
                    ("operation", "=", "post"),
                    ("state", "in", ("pending", "sending", "failed")),
                ]
            )
        )
        for move in self:
            if move.kleer_certified:
                raise UserError(
                    self.env._(
                        "%(move)s is certified in Kleer (invoice number %(nr)s) and cannot be "
                        "changed there any more. Issue a credit note (Credit Note button) and, "
                        "if needed, a new invoice.",
                        move=move.display_name,
                        nr=move.kleer_invoice_nr or "-",
                    )
                )
            if move.kleer_invoice_id:
                raise UserError(
                    self.env._(
                        "%(move)s is already in Kleer as a draft (Kleer id %(id)s). Changing it "
                        "in Odoo would not change Kleer's copy. Correct it in Kleer, or certify "
                        "it there and issue a credit note from Odoo.",
                        move=move.display_name,
                        id=move.kleer_invoice_id,
                    )
                )
            if jobs.filtered(
                lambda j, m=move: j.res_id == m.id and (j.state == "sending" or j.check_remote)
            ):
                raise UserError(
                    self.env._(
                        "%(move)s is being sent to Kleer, or an attempt may have reached Kleer: "
                        "wait until the queue has checked (its Kleer state shows the outcome), "
                        "then try again.",
                        move=move.display_name,
                    )
                )
            if move.kleer_check_remote and not move.kleer_invoice_id:
                # No job waits (e.g. it was ignored), but the doubt stays.
                raise UserError(
                    self.env._(
                        "An attempt to send %(move)s may have reached Kleer and its answer was "
                        "lost. Press Send to Kleer first: the queue looks for it in Kleer before "
                        "anything else.",
                        move=move.display_name,
                    )
                )
        return jobs

    def _compute_kleer_retry_note(self):
        """ "Kleer answered …; next try 14:05" while a job waits to retry,
        in the reader's time zone (computed per reader, not stored)."""
        jobs = (
            self.env["kleer.job"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self.ids),
                    ("state", "=", "pending"),
                    ("next_try", "!=", False),
                    ("last_error", "!=", False),
                ]
            )
        )
        by_move = {job.res_id: job for job in jobs}
        for move in self:
            job = by_move.get(move.id)
            if not job:
                move.kleer_retry_note = False
                continue
            when = fields.Datetime.context_timestamp(move, job.next_try)
            today = fields.Datetime.context_timestamp(move, fields.Datetime.now()).date()
            fmt = "%H:%M" if when.date() == today else "%Y-%m-%d %H:%M"
            move.kleer_retry_note = self.env._(
                "%(error)s; next try %(when)s", error=job.last_error, when=when.strftime(fmt)
            )

    def _kleer_schedule_activity(self, message):
        """A to-do for the Kleer responsible (else the invoice's creator),
        once per invoice: a later failure updates its note."""
        for move in self:
            activity = move.kleer_activity_id.exists().filtered("active")
            if activity:
                activity.note = message
                continue
            user = move.company_id.kleer_responsible_id or move.create_uid
            if not user.active or user.share:
                user = move.company_id.kleer_responsible_id or self.env.ref("base.user_admin")
            move.kleer_activity_id = move.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Kleer did not take this invoice"),
                note=message,
                user_id=user.id,
            )

    def _kleer_on_job_state(self, job, state, message=None):
        for move in self:
            # A note says what happened: the state's tracking would repeat it.
            note = bool(message) and state in ("failed", "draft", "certified")
            vals = {}
            if state == "failed":
                # A draft whose amounts Kleer computes otherwise says so.
                failed = "mismatch" if job.error_kind == "amount_mismatch" else "failed"
                vals = {"kleer_state": failed, "kleer_last_error": message}
            elif state in ("queued", "ignored"):
                vals = {"kleer_state": state}
            elif state in ("draft", "certified", "done"):
                vals = {
                    "kleer_state": "certified" if move.kleer_certified else "draft",
                    "kleer_last_error": False,
                }
            # Only what changed (a certification stores its state itself).
            vals = {name: value for name, value in vals.items() if move[name] != value}
            if vals:
                move.with_context(tracking_disable=note).write(vals)
            if state == "failed":
                move._kleer_schedule_activity(message or job.last_error or "")
            elif state in ("draft", "certified", "done") and move.kleer_activity_id.exists().active:
                move.kleer_activity_id.action_feedback(feedback=self.env._("Sent to Kleer."))
                move.kleer_activity_id = False
            if state == "failed" and message:
                move._kleer_note(self.env._("Kleer: sending failed: %(msg)s", msg=message))
            elif note:
                move._kleer_note(message)

    def _kleer_note(self, body):
        """A note on the invoice, notifying nobody (as Odoo logs its own). The
        queue runs as superuser: its notes are OdooBot's, and as they never
        leave Odoo they need no e-mail address (nor its two look-ups)."""
        author = {}
        if self.env.uid == SUPERUSER_ID:
            root = self.env["ir.model.data"]._xmlid_to_res_id("base.partner_root")
            author = {"author_id": root, "email_from": False}
        self._message_log(body=body, **author)
