"""Kleer users mirrored in Odoo (no Odoo login is created). The link to an
Odoo user, by email, gives the "our reference" of customers and invoices."""

from odoo import api, fields, models


class KleerUser(models.Model):
    _name = "kleer.user"
    _description = "Kleer user"
    _order = "company_id, name"

    kleer_id = fields.Integer("Kleer id", required=True, index=True)
    name = fields.Char(required=True)
    email = fields.Char()
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    user_id = fields.Many2one(
        "res.users",
        "Odoo user",
        index=True,
        help="Linked by email on each sync; may be set by hand when the emails differ.",
    )
    user_locked = fields.Boolean(
        "Keep this link",
        help="Set when the Odoo user was chosen by hand: the sync no longer relinks by email.",
    )

    _sql_constraints = [
        (
            "company_kleer_uniq",
            "unique(company_id, kleer_id)",
            "A Kleer user is mirrored once per company.",
        ),
    ]

    @api.onchange("user_id")
    def _onchange_user_id(self):
        self.user_locked = True

    @api.model
    def _kleer_for_user(self, user, company):
        """The Kleer user standing for an Odoo user in a company (empty when none)."""
        if not user:
            return self.browse()
        found = self.sudo().search(
            [("company_id", "=", company.id), ("user_id", "=", user.id)],
            limit=1,
            order="active desc, id",
        )
        if not found and user.email:
            # Not linked yet (users sync not run since): match by email.
            found = self.sudo().search(
                [("company_id", "=", company.id), ("email", "=ilike", user.email.strip())],
                limit=1,
                order="active desc, id",
            )
        return found

    @api.model
    def _kleer_id_for_user(self, user, company):
        """Kleer user id for "our reference" (0 = none)."""
        return self._kleer_for_user(user, company).kleer_id or 0
