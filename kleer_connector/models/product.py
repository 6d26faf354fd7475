from odoo import fields, models


class ProductProduct(models.Model):
    _name = "product.product"
    _inherit = ["product.product", "kleer.protected.mixin"]
    # The Kleer product rows are sent with, and whether it exists there.
    _kleer_protected_fields = ("kleer_product_id", "kleer_check_remote", "kleer_sync_hash")

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
