from odoo import api, fields, models
from odoo.exceptions import UserError


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    # Odoo Community has no line periods (deferred_start_date/end_date are
    # Enterprise's): these are ours, and the Enterprise ones win when present.
    kleer_period_start = fields.Date("Period start", copy=True)
    kleer_period_end = fields.Date("Period end", copy=True)

    @api.constrains("kleer_period_start", "kleer_period_end")
    def _check_kleer_period(self):
        for line in self:
            if (
                line.kleer_period_start
                and line.kleer_period_end
                and line.kleer_period_start > line.kleer_period_end
            ):
                raise UserError(
                    self.env._("The period of line %(l)s ends before it starts.", l=line.name or "")
                )

    def _kleer_period(self, company):
        """(start, end) sent as the row's accrual period, or None."""
        self.ensure_one()
        if not company.kleer_accrual:
            return None
        start, end = self.kleer_period_start, self.kleer_period_end
        if (
            "deferred_start_date" in self._fields
            and self.deferred_start_date
            and self.deferred_end_date
        ):
            start, end = self.deferred_start_date, self.deferred_end_date
        return (start, end) if start and end else None
