"""Fields only the connector sets on a partner or product (its Kleer id, the
doubt flag, the sync hash): what the queue acts on, refused to anyone else."""

from odoo import api, models

from .tools import check_connector_create, check_connector_write


class KleerProtectedMixin(models.AbstractModel):
    _name = "kleer.protected.mixin"
    _description = "Fields only the Kleer connector sets"

    # Set by the connector only (tools.check_connector_fields); an unchanged
    # value passes a write (Odoo's partner merge writes every field back).
    _kleer_protected_fields = ()

    @api.model_create_multi
    def create(self, vals_list):
        check_connector_create(self, vals_list, self._kleer_protected_fields)
        return super().create(vals_list)

    def write(self, vals):
        check_connector_write(self, vals, self._kleer_protected_fields)
        return super().write(vals)
