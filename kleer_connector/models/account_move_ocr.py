"""Swedish OCR payment references on the invoices of a Kleer company."""

from odoo import models

from ..kleer_api import ocr


class AccountMove(models.Model):
    _inherit = "account.move"

    def _kleer_wants_ocr(self):
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.company_id.country_id.code == "SE"
            and self.company_id._kleer_is_configured()
        )

    def _get_invoice_computed_reference(self):
        """Swedish invoices of a Kleer company get a valid OCR reference:
        l10n_se's own models are kept when the journal chooses one (its
        level-3 length digit corrected), anything else becomes an OCR with
        length digit and Luhn check digit."""
        ref = super()._get_invoice_computed_reference()
        if not ref or not self._kleer_wants_ocr():
            return ref
        model = self.journal_id.invoice_reference_model
        if model == "se_ocr3":
            if not ocr.is_valid(ref, length_digit=True):
                ref = ocr.with_length_digit(ref[:-2])
            return ref
        if model in ("se_ocr2", "se_ocr4") and ocr.is_valid(ref):
            return ref
        if self.journal_id.invoice_reference_type == "partner":
            partner = self.partner_id.commercial_partner_id
            base = partner.ref if (partner.ref or "").isdigit() else str(partner.id)
        else:
            base = str(self.id)
        return ocr.with_length_digit(base)
