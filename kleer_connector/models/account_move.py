from odoo import _, fields, models

MOVE_STATES = [
    ("not_sent", "Not sent"),
    ("queued", "Queued"),
    ("draft", "Sent as draft"),
    ("certified", "Certified"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
]


class AccountMove(models.Model):
    _inherit = "account.move"

    kleer_invoice_id = fields.Integer("Kleer invoice id", copy=False, readonly=True, index=True)
    kleer_invoice_nr = fields.Integer("Kleer invoice number", copy=False, readonly=True)
    kleer_certified = fields.Boolean("Certified in Kleer", copy=False, readonly=True)
    kleer_state = fields.Selection(
        MOVE_STATES, "Kleer state", copy=False, readonly=True, index=True, tracking=True
    )
    kleer_last_error = fields.Text("Last Kleer error", copy=False, readonly=True)

    def _kleer_on_job_state(self, job, state, message=None):
        for move in self:
            vals = {}
            if state == "failed":
                vals = {"kleer_state": "failed", "kleer_last_error": message}
            elif state in ("queued", "ignored"):
                vals = {"kleer_state": state}
            elif state in ("draft", "certified", "done"):
                vals = {
                    "kleer_state": "certified" if move.kleer_certified else "draft",
                    "kleer_last_error": False,
                }
            if vals:
                move.write(vals)
            if state == "failed" and message:
                move.message_post(
                    body=_("Kleer: sending failed: %(msg)s", msg=message),
                    subtype_xmlid="mail.mt_note",
                )
