"""Exchange rates from Kleer.

For each active currency other than the company's, Kleer is asked for the
rate on today's date (Kleer's ``exchange-rate`` carries no date of its own,
so the rate's date is the day asked for). Kleer gives units of the company
currency for one unit of the currency (e.g. 1 EUR = 11.425 SEK); Odoo stores
the inverse (units of the currency per company currency), which is what
writing ``inverse_company_rate`` does. Nothing is written when the latest
Odoo rate already equals Kleer's.
"""

from decimal import Decimal

from odoo import api, fields, models

from .errors import KleerMappingError

REL_TOLERANCE = 1e-9


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

    @api.model
    def _kleer_sync_rates(self, company, run):
        currencies = self.env["res.currency"].search(
            [("active", "=", True), ("id", "!=", company.currency_id.id)], order="name"
        )
        stats = dict(written=0, unchanged=0, failed=0)
        for currency in currencies:
            try:
                with self.env.cr.savepoint():
                    stats[
                        "written" if self._kleer_rate_apply(company, run, currency) else "unchanged"
                    ] += 1
            except Exception as exc:  # noqa: BLE001 - logged, the rest go on
                stats["failed"] += 1
                self.env["kleer.job"]._record_pull_failure(
                    company, "res.currency", "pull", currency.id, exc, currency.name
                )
        return self.env._(
            "%(written)s written, %(unchanged)s unchanged, %(failed)s failed", **stats
        )

    @api.model
    def _kleer_rate_apply(self, company, run, currency):
        """Write today's rate of ``currency`` when it differs; True if written."""
        today = fields.Date.context_today(self.with_company(company))
        found = run.client(company).exchange_rate(
            currency.name, company.currency_id.name, on_date=today
        )
        rate = found.rate
        if rate is None or rate <= Decimal(0):
            raise KleerMappingError(
                self.env._("Kleer gave no usable rate for %(cur)s.", cur=currency.name)
            )
        Rate = self.env["res.currency.rate"].with_company(company)
        root = company.root_id
        latest = Rate.search(
            [
                ("currency_id", "=", currency.id),
                ("company_id", "=", root.id),
                ("name", "<=", today),
            ],
            order="name desc",
            limit=1,
        )
        value = float(rate)
        if latest and abs(latest.inverse_company_rate - value) <= REL_TOLERANCE * value:
            return False
        if latest and latest.name == today:
            latest.write({"inverse_company_rate": value})
        else:
            Rate.create(
                {
                    "currency_id": currency.id,
                    "company_id": root.id,
                    "name": today,
                    "inverse_company_rate": value,
                }
            )
        return True


class ResCurrency(models.Model):
    _inherit = "res.currency"

    @api.model
    def _kleer_job_pull(self, job, run):
        currency = self.browse(job.kleer_ref).exists()
        if not currency:
            raise KleerMappingError(job.env._("The currency no longer exists."))
        written = self.env["kleer.sync"]._kleer_rate_apply(job.company_id, run, currency)
        return {"message": job.env._("Rate written.") if written else job.env._("Rate unchanged.")}
