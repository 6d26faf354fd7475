import re
from datetime import timedelta

from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..kleer_api import KleerBadResponse, xmlcodec
from .tools import RETENTION_DAYS, RETENTION_PARAM, check_user_action, days_param, own_cursor

# Stored request/response bodies are for reading, not replaying: attachments
# are shortened and very long bodies cut.
MAX_BODY_CHARS = 64 * 1024
_HEX_DATA = re.compile(rb"<data>([0-9A-Fa-f]{200,})</data>")

ERROR_KINDS = [
    ("config", "Configuration"),
    ("auth", "Authentication"),
    ("permission", "Permission"),
    ("not_found", "Not found"),
    ("validation", "Refused by Kleer"),
    ("tls", "TLS"),
    ("rate_limited", "Rate limited"),
    ("transient", "Kleer unavailable"),
    ("unknown_outcome", "Unknown outcome"),
    ("bad_response", "Unreadable answer"),
    ("mapping", "Missing mapping / data"),
    ("unsupported", "Call not supported by Kleer"),
    ("amount_mismatch", "Amounts differ in Kleer"),
    ("conflict", "Conflict"),
    ("internal", "Internal error"),
]


def shorten_body(body):
    """Bodies as people read them: file data shortened, XML indented, cut
    when very long."""
    if not body:
        return False
    if isinstance(body, str):
        body = body.encode()
    body = _HEX_DATA.sub(
        lambda m: b"<data>[%d bytes of file data]</data>" % (len(m.group(1)) // 2), body
    )
    text = _indent_xml(body) or body.decode("utf-8", "replace")
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + "\n[… cut]"
    return text


def _indent_xml(body):
    try:
        root = xmlcodec.parse(body)
    except KleerBadResponse:
        return None
    etree.indent(root)
    return etree.tostring(root, encoding="unicode")


# What makes two failures the same one; what a repeat updates.
SAME_FAILURE = (
    "company_id",
    "direction",
    "operation",
    "res_model",
    "res_id",
    "kleer_id",
    "level",
    "error_kind",
    "message",
)
REFRESHED = ("attempts", "job_id", "request_body", "response_body", "http_status")


class KleerLog(models.Model):
    _name = "kleer.log"
    _inherit = ["kleer.operation.mixin"]
    _description = "Kleer sync log entry"
    _order = "id desc"
    _rec_name = "summary"

    date = fields.Datetime(default=fields.Datetime.now, required=True, index=True)
    company_id = fields.Many2one("res.company", required=True, index=True)
    direction = fields.Selection(
        [("out", "Odoo → Kleer"), ("in", "Kleer → Odoo")], required=True, default="out"
    )
    level = fields.Selection(
        [("error", "Error"), ("warning", "Warning"), ("info", "Info")],
        required=True,
        default="error",
    )
    state = fields.Selection(
        [
            ("open", "Open"),
            ("reprocessed", "Reprocessed"),
            ("resolved", "Resolved"),
            ("ignored", "Ignored"),
            ("done", "Done"),
        ],
        required=True,
        default="open",
        index=True,
    )
    res_model = fields.Char("Odoo model")
    res_id = fields.Many2oneReference("Odoo record id", model_field="res_model")
    record_name = fields.Char("Odoo record")
    record_ref = fields.Reference(
        "_selection_record_models", string="Record", compute="_compute_record_ref"
    )
    kleer_id = fields.Integer("Kleer id")
    error_kind = fields.Selection(ERROR_KINDS)
    message = fields.Text()
    attempts = fields.Integer()
    request_body = fields.Text()
    response_body = fields.Text()
    http_status = fields.Integer("HTTP status")
    job_id = fields.Many2one("kleer.job", ondelete="set null", index=True)
    occurrences = fields.Integer(
        default=1, help="How often this same failure happened while the entry was open."
    )
    last_seen = fields.Datetime(default=fields.Datetime.now)

    @api.model
    def _selection_record_models(self):
        return [(model.model, model.name) for model in self.env["ir.model"].sudo().search([])]

    @api.depends("res_model", "res_id")
    def _compute_record_ref(self):
        for log in self:
            record = (
                self.env[log.res_model].browse(log.res_id).exists()
                if log.res_model in self.env and log.res_id
                else None
            )
            log.record_ref = f"{log.res_model},{log.res_id}" if record else False

    @api.model
    def _log_vals_clean(self, vals):
        """``vals`` as stored: bodies shortened, the token removed."""
        company = self.env["res.company"].browse(vals["company_id"])
        vals = dict(vals, res_id=vals.get("res_id") or 0)  # 0, not NULL: comparable
        for key in ("message", "request_body", "response_body"):
            if vals.get(key):
                vals[key] = company._kleer_redact(
                    shorten_body(vals[key]) if key != "message" else vals[key]
                )
        return vals

    @api.model
    def _log_here(self, vals):
        """Write a success entry in the current transaction: it is committed
        with the work it records, or not at all."""
        return self.sudo().create(self._log_vals_clean(vals)).id

    @api.model
    def _log_isolated(self, vals):
        """Write an entry through its own cursor, so it survives a rollback of
        the work that failed. Bodies are shortened, the token removed."""
        vals = self._log_vals_clean(vals)
        with own_cursor(self.env) as env:
            same = env["kleer.log"]._same_open_entry(vals)
            if same:
                same.write(
                    {
                        "occurrences": same.occurrences + 1,
                        "last_seen": fields.Datetime.now(),
                        **{k: vals[k] for k in REFRESHED if k in vals},
                    }
                )
                return same.id
            return env["kleer.log"].create(vals).id

    @api.model
    def _same_open_entry(self, vals):
        """The open entry of the same failure of the same record (counted
        there, so that a failure repeated each run does not flood the log)."""
        if vals.get("state", "open") != "open":
            return self.browse()
        domain = [("state", "=", "open")] + [
            (key, "=", vals.get(key) or (0 if key == "res_id" else False)) for key in SAME_FAILURE
        ]
        return self.search(domain, order="id desc", limit=1)

    @api.autovacuum
    def _gc_old_entries(self):
        """Info entries (each success writes one, with its request body) and
        entries resolved by a later success go after the retention (system
        parameter ``kleer_connector.retention_days``); errors and warnings
        that nobody resolved, open or ignored, stay."""
        days = days_param(self.env, RETENTION_PARAM, RETENTION_DAYS)
        cutoff = fields.Datetime.now() - timedelta(days=days)
        domain = [("date", "<", cutoff), "|", ("level", "=", "info"), ("state", "=", "resolved")]
        while logs := self.sudo().search(domain, limit=10000):
            logs.unlink()

    def _open_record_action(self):
        self.ensure_one()
        if not self.res_model or not self.res_id:
            return False
        return {
            "type": "ir.actions.act_window",
            "res_model": self.res_model,
            "res_id": self.res_id,
            "view_mode": "form",
            "target": "current",
        }

    def action_view_record(self):
        check_user_action(self)
        action = self._open_record_action()
        if not action:
            raise UserError(self.env._("This entry is not linked to an Odoo record."))
        return action

    def action_reprocess(self):
        jobs = check_user_action(self).job_id
        if not jobs:
            raise UserError(self.env._("These entries have no work to reprocess."))
        jobs.action_reprocess()
        return True

    def action_ignore(self):
        logs = check_user_action(self)
        logs.filtered(lambda log: log.state == "open").write({"state": "ignored"})
        logs.job_id.filtered(lambda j: j.state in ("pending", "failed"))._ignore()
        return True
