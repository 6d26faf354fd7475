from odoo import _, fields, models

PARTNER_STATES = [
    ("not_sent", "Not sent"),
    ("queued", "Queued"),
    ("synced", "In Kleer"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
]


class ResPartner(models.Model):
    _inherit = "res.partner"

    # Per company: a partner may be a different client in each company's Kleer.
    kleer_client_id = fields.Integer(
        "Kleer client id", company_dependent=True, copy=False, index=True
    )
    kleer_state = fields.Selection(
        PARTNER_STATES, "Kleer state", company_dependent=True, copy=False
    )

    def _kleer_on_job_state(self, job, state, message=None):
        new_state = {"done": "synced"}.get(state, state)
        for partner in self:
            if partner.kleer_state != new_state:
                partner.kleer_state = new_state
            if state == "failed" and message:
                partner.message_post(
                    body=_("Kleer: sending this customer failed: %(msg)s", msg=message),
                    subtype_xmlid="mail.mt_note",
                )
