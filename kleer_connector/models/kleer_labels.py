"""What the queue and the log did, in words ("Send invoice", not "post"):
operation codes stay the machine's key, people read these."""

from odoo import api, fields, models


def operation_label(env, operation, res_model=None):
    """The words for ``operation`` (on ``res_model``), in the env's language."""
    _ = env._
    by_model = {
        ("pull", "res.partner"): _("Fetch customer"),
        ("pull", "product.product"): _("Fetch product"),
        ("pull", "res.currency"): _("Fetch exchange rate"),
        ("pull", "kleer.user"): _("Fetch user"),
        ("pull", "res.partner.category"): _("Fetch category"),
    }
    labels = {
        "post": _("Send invoice"),
        "push": _("Send customer"),
        "pull": _("Fetch from Kleer"),
        "payment": _("Read payment status"),
        "invoice_number": _("Fetch invoice number"),
        "invoice_number_retry": _("Fetch invoice number"),
        "sync_customers": _("Customer sync"),
        "sync_products": _("Product sync"),
        "sync_rates": _("Exchange rate sync"),
        "sync_users": _("User sync"),
        "sync_categories": _("Category sync"),
        "sync_payments": _("Payment status sync"),
    }
    return by_model.get((operation, res_model)) or labels.get(operation) or operation or ""


class KleerJob(models.Model):
    _inherit = "kleer.job"

    operation = fields.Char("Operation code")
    operation_label = fields.Char("Operation", compute="_compute_operation_label")

    @api.depends("operation", "res_model")
    def _compute_operation_label(self):
        for job in self:
            job.operation_label = operation_label(self.env, job.operation, job.res_model)

    @api.depends("operation", "res_model", "record_name")
    def _compute_display_name(self):
        for job in self:
            label = operation_label(self.env, job.operation, job.res_model)
            job.display_name = f"{label}: {job.record_name or '-'}"


class KleerLog(models.Model):
    _inherit = "kleer.log"

    operation = fields.Char("Operation code")
    operation_label = fields.Char("Operation", compute="_compute_operation_label")

    @api.depends("operation", "res_model")
    def _compute_operation_label(self):
        for log in self:
            log.operation_label = operation_label(self.env, log.operation, log.res_model)

    @api.depends("operation", "res_model", "record_name")
    def _compute_summary(self):
        for log in self:
            label = operation_label(self.env, log.operation, log.res_model)
            log.summary = f"{label}: {log.record_name or '-'}"
