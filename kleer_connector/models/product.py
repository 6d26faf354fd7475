from odoo import api, fields, models

from .tools import check_connector_create, check_connector_write

# Set by the connector only: the Kleer product rows are sent with, and what
# says whether it exists there (tools.check_connector_fields).
KLEER_PROTECTED_FIELDS = ("kleer_product_id", "kleer_check_remote", "kleer_sync_hash")


class ProductProduct(models.Model):
    _inherit = "product.product"

    kleer_product_id = fields.Integer(
        "Kleer product id", company_dependent=True, copy=False, readonly=True, index=True
    )
    kleer_check_remote = fields.Datetime(
        "May exist in Kleer since",
        company_dependent=True,
        copy=False,
        readonly=True,
        help="Kleer was asked to create this product and its answer is not known: it is "
        "looked up in Kleer before it is created again.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        check_connector_create(self, vals_list, KLEER_PROTECTED_FIELDS)
        return super().create(vals_list)

    def write(self, vals):
        check_connector_write(self, vals, KLEER_PROTECTED_FIELDS)
        return super().write(vals)


class ProductTemplate(models.Model):
    _inherit = "product.template"

    kleer_product_id = fields.Integer(
        "Kleer product id",
        compute="_compute_kleer_product_id",
        inverse="_inverse_kleer_product_id",
        readonly=True,
        help="Kleer product of the single variant.",
    )

    def _compute_kleer_product_id(self):
        for template in self:
            variant = (
                template.product_variant_ids[:1]
                if len(template.product_variant_ids) == 1
                else False
            )
            template.kleer_product_id = variant.kleer_product_id if variant else 0

    def _inverse_kleer_product_id(self):
        for template in self:
            if len(template.product_variant_ids) == 1:
                template.product_variant_ids.kleer_product_id = template.kleer_product_id
