"""What the queue and the log did, in words ("Send invoice: INV/2026/00001"):
operation codes stay the machine's key, people read the labels of
``OPERATIONS`` and ``LOG_ONLY`` (kleer_operations.py)."""

from odoo import api, fields, models

from .kleer_operations import LOG_ONLY, OPERATIONS


def operation_label(env, operation, res_model=None):
    """The words for ``operation`` (on ``res_model``), in the env's language."""
    entry = OPERATIONS.get((res_model, operation))
    label = entry.label if entry else LOG_ONLY.get(operation)
    return env._(label) if label else operation or ""


class KleerOperationMixin(models.AbstractModel):
    """An operation on an Odoo record, as ``kleer.job`` and ``kleer.log``
    show it (they define ``res_model`` and ``record_name``)."""

    _name = "kleer.operation.mixin"
    _description = "Kleer operation in words"

    operation = fields.Char("Operation code", required=True)
    operation_label = fields.Char("Operation", compute="_compute_summary")
    summary = fields.Char(compute="_compute_summary")

    @api.depends("operation", "res_model", "record_name")
    @api.depends_context("lang")
    def _compute_summary(self):
        for rec in self:
            rec.operation_label = operation_label(rec.env, rec.operation, rec.res_model)
            rec.summary = f"{rec.operation_label}: {rec.record_name or '-'}"

    @api.depends("summary")
    @api.depends_context("lang")
    def _compute_display_name(self):
        for rec in self:
            rec.display_name = rec.summary
