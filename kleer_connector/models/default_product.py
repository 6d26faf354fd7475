"""Onboarding: the default Kleer product (used by lines without a product),
created in Kleer and Odoo in one click after the first successful Test
connection. Found before it is created, on both sides, so that pressing the
button twice makes one product in Odoo and one in Kleer."""

from odoo import Command, models
from odoo.exceptions import UserError

from .kleer_job import KleerRun
from .tools import KLEER_MANAGER, check_user_action, own_cursor

# Its article number: Odoo's Internal Reference and Kleer's foreign-id.
DEFAULT_PRODUCT_CODE = "KLEER-DEFAULT"


class ResCompany(models.Model):
    _inherit = "res.company"

    def _kleer_default_sales_account(self):
        """The Kleer setting "Default sales account", else the default account
        of the company's first sales journal."""
        self.ensure_one()
        journal = self.env["account.journal"].search(
            [("company_id", "=", self.id), ("type", "=", "sale")], limit=1
        )
        return self.kleer_default_account_id or journal.default_account_id

    def _kleer_setup_default_product(self):
        """The default Kleer product of this company: the one set, else the
        Odoo product with the default article number, else a new one; then
        its Kleer product (found by that article number, else created), its
        id committed at once. Runs on a cursor of its own: what Kleer created
        is never rolled back with the request. Returns the product's name and
        Kleer id (read there: this request's snapshot may not see them)."""
        self.ensure_one()
        self.env.flush_all()
        with own_cursor(self.env) as env:
            company = self.with_env(env)
            product = company._kleer_default_product_find_or_create()
            run = KleerRun()
            try:
                product._kleer_ensure_product(company, run)
            finally:
                run.close()
            if company.kleer_default_product_id != product:
                company.kleer_default_product_id = product
            result = (product.display_name, product.kleer_product_id)
        self.env.invalidate_all()
        return result

    def _kleer_default_product_find_or_create(self):
        self.ensure_one()
        Product = self.env["product.product"].with_company(self)
        product = self.kleer_default_product_id or Product.search(
            [("default_code", "=", DEFAULT_PRODUCT_CODE), ("company_id", "in", (self.id, False))],
            limit=1,
        )
        if product:
            return product.with_company(self)
        account = self._kleer_default_sales_account()
        if not account:
            raise UserError(
                self.env._(
                    "%(company)s has no sales account to give the default Kleer product. "
                    "Choose a Default sales account in the Kleer settings, then try again.",
                    company=self.name,
                )
            )
        return Product.create(
            {
                "name": self.env._("Other sales"),
                "default_code": DEFAULT_PRODUCT_CODE,
                "type": "service",
                "company_id": self.id,
                "sale_ok": True,
                "purchase_ok": False,
                "list_price": 0.0,
                "taxes_id": [Command.set(self.account_sale_tax_id.ids)],
                "property_account_income_id": account.id,
            }
        )


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    def action_kleer_create_default_product(self):
        """ "Create default product": Kleer managers, on the saved and tested
        connection (the product is created in that Kleer)."""
        check_user_action(self, group=KLEER_MANAGER)
        self.ensure_one()
        company = self.company_id
        if not (company._kleer_is_configured() and company.kleer_connection_ok):
            raise UserError(
                self.env._(
                    "Save the Kleer connection and press Test connection first: the default "
                    "product is created in that Kleer."
                )
            )
        name, kleer_id = company.sudo()._kleer_setup_default_product()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Default Kleer product"),
                "message": self.env._(
                    "%(product)s is the default Kleer product (Kleer product %(id)s). Lines "
                    "without a product are sent with it.",
                    product=name,
                    id=kleer_id,
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
