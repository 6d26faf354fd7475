""" "Sync now" buttons and last successful runs in the Kleer settings."""

from odoo import api, fields, models

from .kleer_sync import SYNC_FLAGS
from .tools import KLEER_MANAGER, check_user_action


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    kleer_last_sync_customers = fields.Datetime(compute="_compute_kleer_last_syncs")
    kleer_last_sync_products = fields.Datetime(compute="_compute_kleer_last_syncs")
    kleer_last_sync_rates = fields.Datetime(compute="_compute_kleer_last_syncs")
    kleer_last_sync_users = fields.Datetime(compute="_compute_kleer_last_syncs")
    kleer_last_sync_categories = fields.Datetime(compute="_compute_kleer_last_syncs")

    @api.depends("company_id")
    def _compute_kleer_last_syncs(self):
        State = self.env["kleer.sync.state"].sudo()
        for settings in self:
            states = {
                s.sync: s.last_success
                for s in State.search([("company_id", "=", settings.company_id.id)])
            }
            for name in SYNC_FLAGS:
                settings[f"kleer_last_sync_{name}"] = states.get(name, False)

    def _kleer_sync_now(self, name):
        check_user_action(self, group=KLEER_MANAGER)
        self.ensure_one()
        company = self.company_id
        # The run's own message: its state is committed on another cursor,
        # which this request's snapshot (repeatable read) does not see.
        ok, message = self.env["kleer.sync"].with_company(company)._run_sync_report(name, company)
        if ok is None:  # another run of this sync was going
            title, kind = self.env._("Kleer sync skipped"), "warning"
        elif ok:
            title, kind = self.env._("Kleer sync done"), "success"
        else:
            title, kind = self.env._("Kleer sync failed"), "danger"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message or "",
                "type": kind,
                "sticky": ok is False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_kleer_sync_now_customers(self):
        return self._kleer_sync_now("customers")

    def action_kleer_sync_now_products(self):
        return self._kleer_sync_now("products")

    def action_kleer_sync_now_rates(self):
        return self._kleer_sync_now("rates")

    def action_kleer_sync_now_users(self):
        return self._kleer_sync_now("users")

    def action_kleer_sync_now_categories(self):
        return self._kleer_sync_now("categories")
