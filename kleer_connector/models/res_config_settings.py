from odoo import api, fields, models

from .res_company import CONNECTION_FIELDS, ENVIRONMENTS
from .tools import check_user_action


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    kleer_enabled = fields.Boolean(related="company_id.kleer_enabled", readonly=False)
    # The connection is not related to the company: a related field is written
    # to the company as soon as the form is stored, which a button (Test
    # connection) does first. These reach the company on Save only
    # (set_values), so what is tested is never saved untested.
    kleer_environment = fields.Selection(
        ENVIRONMENTS, string="Kleer environment", groups="base.group_system"
    )
    kleer_base_url = fields.Char(
        "Kleer API URL", help="Used with the custom environment.", groups="base.group_system"
    )
    kleer_company_id = fields.Char("Kleer company id")
    kleer_token = fields.Char("Kleer API token", groups="base.group_system")
    kleer_tested = fields.Boolean(
        "Connection tested",
        help="Test connection worked with these values (reset when one is edited).",
    )
    kleer_connection_ok = fields.Datetime(related="company_id.kleer_connection_ok")
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

    @api.depends("company_id")
    def _compute_kleer_open_failures(self):
        Log = self.env["kleer.log"]
        for settings in self:
            settings.kleer_open_failures = Log.search_count(
                [("company_id", "=", settings.company_id.id), ("state", "=", "open")]
            )

    def _kleer_may_see_connection(self):
        return self.env.user.has_group("base.group_system")

    @api.model
    def get_values(self):
        res = super().get_values()
        company = self.env.company
        res["kleer_company_id"] = company.kleer_company_id
        if self._kleer_may_see_connection():
            res.update({f: company.sudo()[f] for f in CONNECTION_FIELDS})
        return res

    def set_values(self):
        res = super().set_values()
        company = self.company_id
        names = CONNECTION_FIELDS if self._kleer_may_see_connection() else ["kleer_company_id"]
        vals = {
            f: self[f] or False for f in names if (self[f] or False) != (company.sudo()[f] or False)
        }
        if self.kleer_tested:
            vals["kleer_connection_ok"] = fields.Datetime.now()
        if vals:
            company.write(vals)
        return res

    @api.onchange(*CONNECTION_FIELDS)
    def _onchange_kleer_connection(self):
        self.kleer_tested = False

    def _kleer_form_connection(self):
        """(url, Kleer company id, token) as shown in the form."""
        url = {
            "custom": (self.kleer_base_url or "").strip(),
        }.get(self.kleer_environment) or self.company_id.new(
            {"kleer_environment": self.kleer_environment}
        )._kleer_base_url()
        return url, self.kleer_company_id, self.sudo().kleer_token

    def action_kleer_test_connection(self):
        """Test the values shown in the form, saved or not (they are saved by
        Save only). It sends the token to the URL in the form: administrators
        only."""
        check_user_action(self, group="base.group_system")
        self.ensure_one()
        company = self.company_id
        url, kleer_company_id, token = self._kleer_form_connection()
        ok, message = company._kleer_test_connection(
            url,
            kleer_company_id,
            token,
            vat_unit=self.kleer_vat_unit if self.kleer_vat_unit != "auto" else "percent",
            certify_call=self.kleer_certify_call,
            rate_call=self.kleer_rate_call,
            write_verbs=self.kleer_write_verbs,
        )
        self.kleer_tested = ok
        saved = company.sudo()
        unsaved = [f for f in CONNECTION_FIELDS if (self[f] or False) != (saved[f] or False)]
        if not unsaved:
            saved.kleer_connection_ok = ok and fields.Datetime.now()
        if ok and unsaved:
            message += "\n" + self.env._("These connection settings are not saved yet: press Save.")
        if ok and not company.kleer_default_product_id:
            message += "\n" + self.env._(
                "Lines without a product need a default Kleer product: once the connection "
                "is saved, press Create default product under Test connection."
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Kleer connection works")
                if ok
                else self.env._("Kleer connection failed"),
                "message": message,
                "type": "success" if ok else "danger",
                "sticky": not ok,
                # Reload the form: the onboarding button shows what was found.
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_kleer_open_log(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "kleer_connector.action_kleer_log_open"
        )
