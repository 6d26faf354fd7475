"""Kleer users mirrored in Odoo (no Odoo login is created). The link to an
Odoo user, by email, gives the "our reference" of customers and invoices."""

from odoo import api, fields, models

from ..kleer_api import KleerNotFound, KleerPermissionError


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
    def _kleer_id_for_user(self, user, company, run=None):
        """Kleer user id for "our reference" (0 = none). With ``run`` (a
        batch of the queue), a user not mirrored yet (users sync not run
        since) is looked up in Kleer and mirrored."""
        found = self._kleer_for_user(user, company)
        if not found and user and run is not None:
            found = self._kleer_fetch_for_user(user, company, run)
        return found.kleer_id or 0

    @api.model
    def _kleer_fetch_for_user(self, user, company, run):
        """Kleer's active user with ``user``'s email, mirrored (empty when
        none). Kleer's user list is read at most once per batch."""
        emails = {(e or "").strip().lower() for e in (user.email, user.login)} - {""}
        kleer_users = run.cached(company, "users", lambda: self._kleer_read_users(company, run))
        match = [u for u in kleer_users if u.active and (u.email or "").strip().lower() in emails]
        if not match:
            return self.browse()
        self.env["kleer.sync"]._kleer_users_apply(company, match[:1])
        return self._kleer_for_user(user, company)

    @api.model
    def _kleer_read_users(self, company, run):
        try:
            return run.client(company).users()
        except (KleerPermissionError, KleerNotFound):
            # A token without the right to list users: the invoice goes out
            # without "our reference" rather than not at all.
            return []
