from odoo import fields, models


class ResPartnerCategory(models.Model):
    _inherit = "res.partner.category"

    # Per company: each company has its own Kleer, with its own entry ids.
    kleer_entry_id = fields.Integer(
        "Kleer dimension entry id",
        company_dependent=True,
        copy=False,
        help="The Kleer dimension entry (category) this tag stands for; "
        "set by the categories sync.",
    )
    kleer_dimension_id = fields.Integer(
        "Kleer dimension id",
        company_dependent=True,
        copy=False,
        help="The Kleer dimension of the entry (on a parent tag: the dimension it stands for).",
    )
