"""Kleer's invoice numbers of certified invoices, fetched by a cron
(Kleer numbers an invoice some time after it is certified)."""

import logging
from datetime import timedelta

from odoo import api, fields, models

from ..kleer_api import KleerError
from .errors import CONCURRENCY_ERRORS
from .tools import (
    NUMBER_WINDOW_DAYS,
    NUMBER_WINDOW_PARAM,
    days_param,
    own_cursor,
    reader_env,
)

_logger = logging.getLogger(__name__)

NUMBER_ATTEMPTS = 3  # tries to store one Kleer invoice number
NUMBER_LOCK_TIMEOUT = 5.0  # seconds one try waits for a row lock


class AccountMove(models.Model):
    _inherit = "account.move"

    @api.model
    def _cron_kleer_invoice_numbers(self):
        for company in self.env["res.company"]._kleer_companies():
            try:
                client = company._kleer_client()
                try:
                    self.with_company(company)._kleer_fetch_invoice_numbers(company, client)
                finally:
                    client.close()
            except KleerError as exc:  # the next run tries again
                _logger.warning("Kleer: invoice numbers of %s not fetched: %s", company.name, exc)

    @api.model
    def _kleer_fetch_invoice_numbers(self, company, client):
        """Store Kleer's number on certified invoices that lack it, reading
        Kleer's certified invoices of those dates page by page (one request
        per page, not one per invoice). Only invoices certified in the last
        days (``kleer_connector.invoice_number_days``) are looked for, so one
        that never gets its number cannot stretch every run back to its date."""
        days = days_param(self.env, NUMBER_WINDOW_PARAM, NUMBER_WINDOW_DAYS)
        since = fields.Datetime.now() - timedelta(days=days)
        self._kleer_log_numbers_out_of_window(company, since, days)
        moves = self.search(
            [
                ("company_id", "=", company.id),
                ("kleer_certified", "=", True),
                ("kleer_invoice_nr", "=", 0),
                ("kleer_invoice_id", "!=", 0),
                ("kleer_certified_date", ">=", since),
            ]
        )
        if not moves:
            return 0
        by_kleer_id = {m.kleer_invoice_id: m for m in moves}
        dates = moves.mapped("invoice_date")
        found = 0
        for invoice in client.iter_invoices(
            filter="certified", date_from=min(dates), date_to=max(dates)
        ):
            move = by_kleer_id.pop(invoice.id, None)
            if move and invoice.invoice_nr and move._kleer_store_number(invoice.invoice_nr):
                found += 1
            if not by_kleer_id:
                break
        moves.invalidate_recordset(["kleer_invoice_nr"])
        return found

    @api.model
    def _kleer_log_numbers_out_of_window(self, company, since, days):
        """Invoices certified before the window still without their Kleer
        number: one open log entry each, for a person, written once."""
        moves = self.search(
            [
                ("company_id", "=", company.id),
                ("kleer_certified", "=", True),
                ("kleer_invoice_nr", "=", 0),
                ("kleer_invoice_id", "!=", 0),
                ("kleer_certified_date", "<", since),
            ]
        )
        logged = set(
            self.env["kleer.log"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", moves.ids),
                    ("operation", "=", "invoice_number"),
                ]
            )
            .mapped("res_id")
        )
        for move in moves.filtered(lambda m: m.id not in logged):
            self.env["kleer.log"]._log_isolated(
                {
                    "company_id": company.id,
                    "direction": "in",
                    "operation": "invoice_number",
                    "res_model": "account.move",
                    "res_id": move.id,
                    "record_name": move.display_name,
                    "kleer_id": move.kleer_invoice_id,
                    "level": "warning",
                    "state": "open",
                    "error_kind": "not_found",
                    "message": reader_env(move)._(
                        "Certified in Kleer (Kleer id %(id)s) on %(date)s, but its Kleer "
                        "invoice number was not found, and it is no longer looked for after "
                        "%(days)s days. Check the invoice in Kleer.",
                        id=move.kleer_invoice_id,
                        # A day in the company's time zone, not a UTC timestamp.
                        date=fields.Datetime.context_timestamp(
                            move.with_context(tz=company.partner_id.tz or "UTC"),
                            move.kleer_certified_date,
                        ).date(),
                        days=days,
                    ),
                }
            )

    def _kleer_store_number(self, number):
        """Store Kleer's invoice number in a transaction of its own: a send
        job writing this invoice at the same moment costs this invoice a
        retry (or, failing that, the next run), never the numbers stored
        before it. Returns whether it was stored."""
        self.ensure_one()
        error = None
        for _attempt in range(NUMBER_ATTEMPTS):
            try:
                with own_cursor(self.env) as env:
                    # Wait for a send job's short transaction, not for ever.
                    timeout_ms = int(NUMBER_LOCK_TIMEOUT * 1000)
                    env.cr.execute("SET LOCAL lock_timeout = %s", (timeout_ms,))
                    # Expected failures: not logged as bad queries.
                    env.cr.execute(
                        "UPDATE account_move SET kleer_invoice_nr = %s WHERE id = %s",
                        (number, self.id),
                        log_exceptions=False,
                    )
                return True
            except CONCURRENCY_ERRORS as exc:
                error = exc
        self.env["kleer.log"]._log_isolated(
            {
                "company_id": self.company_id.id,
                "operation": "invoice_number_retry",
                "res_model": self._name,
                "res_id": self.id,
                "record_name": self.display_name,
                "kleer_id": self.kleer_invoice_id,
                "level": "warning",
                "state": "done",
                "error_kind": "transient",
                "message": reader_env(self)._(
                    "Kleer invoice number %(nr)s not stored (the invoice was being written "
                    "elsewhere: %(e)s); the next run tries again.",
                    nr=number,
                    e=error,
                ),
            }
        )
        return False
