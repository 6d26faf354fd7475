from odoo import _, fields, models

from .tools import check_user_action


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    kleer_enabled = fields.Boolean(related="company_id.kleer_enabled", readonly=False)
    kleer_environment = fields.Selection(
        related="company_id.kleer_environment", readonly=False, groups="base.group_system"
    )
    kleer_base_url = fields.Char(
        related="company_id.kleer_base_url", readonly=False, groups="base.group_system"
    )
    kleer_company_id = fields.Char(related="company_id.kleer_company_id", readonly=False)
    kleer_token = fields.Char(
        related="company_id.kleer_token", readonly=False, groups="base.group_system"
    )
    kleer_invoice_mode = fields.Selection(related="company_id.kleer_invoice_mode", readonly=False)
    kleer_accrual = fields.Boolean(related="company_id.kleer_accrual", readonly=False)
    kleer_customer_sync = fields.Selection(related="company_id.kleer_customer_sync", readonly=False)
    kleer_sync_products = fields.Boolean(related="company_id.kleer_sync_products", readonly=False)
    kleer_sync_rates = fields.Boolean(related="company_id.kleer_sync_rates", readonly=False)
    kleer_sync_users = fields.Boolean(related="company_id.kleer_sync_users", readonly=False)
    kleer_sync_categories = fields.Boolean(
        related="company_id.kleer_sync_categories", readonly=False
    )
    kleer_responsible_id = fields.Many2one(
        related="company_id.kleer_responsible_id", readonly=False
    )
    kleer_default_product_id = fields.Many2one(
        related="company_id.kleer_default_product_id", readonly=False
    )
    kleer_default_account_id = fields.Many2one(
        related="company_id.kleer_default_account_id", readonly=False
    )
    kleer_vat_unit = fields.Selection(related="company_id.kleer_vat_unit", readonly=False)
    kleer_vat_unit_detected = fields.Selection(related="company_id.kleer_vat_unit_detected")
    kleer_certify_call = fields.Selection(related="company_id.kleer_certify_call", readonly=False)
    kleer_rate_call = fields.Selection(related="company_id.kleer_rate_call", readonly=False)
    kleer_write_verbs = fields.Selection(related="company_id.kleer_write_verbs", readonly=False)
    kleer_open_failures = fields.Integer(compute="_compute_kleer_open_failures")

    def _compute_kleer_open_failures(self):
        Log = self.env["kleer.log"]
        for settings in self:
            settings.kleer_open_failures = Log.search_count(
                [("company_id", "=", settings.company_id.id), ("state", "=", "open")]
            )

    def action_kleer_test_connection(self):
        """Test the values shown in the form, saved or not. It sends the
        token to the URL in the form: administrators only."""
        check_user_action(self, group="base.group_system")
        self.ensure_one()
        company = self.company_id
        url = {
            "custom": (self.kleer_base_url or "").strip(),
        }.get(self.kleer_environment) or company.new(
            {"kleer_environment": self.kleer_environment}
        )._kleer_base_url()
        ok, message = company._kleer_test_connection(
            url,
            self.kleer_company_id,
            self.sudo().kleer_token,
            vat_unit=self.kleer_vat_unit if self.kleer_vat_unit != "auto" else "percent",
            certify_call=self.kleer_certify_call,
            rate_call=self.kleer_rate_call,
            write_verbs=self.kleer_write_verbs,
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Kleer connection works") if ok else _("Kleer connection failed"),
                "message": message,
                "type": "success" if ok else "danger",
                "sticky": not ok,
            },
        }

    def action_kleer_open_log(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "kleer_connector.action_kleer_log_open"
        )
