"""Payment status from Kleer: a pull sync over the certified invoices that
Odoo still shows as not fully paid.

Kleer's certified invoice list carries ``remaining`` (öre, the invoice's
currency) and ``last-payment-date``; it is read by invoice-date windows of
at most a page of open invoices each (the page the client asks for, 1,000,
see kleer_api.client.INVOICE_PAGE), without files, so the cost is about one
request per page of open invoices, never one per invoice; a server that
answers shorter pages is followed by offset. Each invoice is then handled by
``account.move._kleer_payment_apply``.

``kleer.payment`` is the exactly-once key of a payment registered from
Kleer: one row per (invoice, amount paid in Kleer), unique in the database
and written in the same transaction as the payment.
"""

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .errors import KleerMappingError


class KleerPayment(models.Model):
    _name = "kleer.payment"
    _description = "Payment registered from Kleer"
    _order = "id desc"
    _rec_name = "move_id"

    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    move_id = fields.Many2one(
        "account.move", "Invoice", required=True, ondelete="cascade", readonly=True
    )
    kleer_paid = fields.Integer(
        "Paid in Kleer (öre)",
        required=True,
        readonly=True,
        help="Invoice total less Kleer's remaining amount, in öre of the invoice's currency, "
        "when this payment was registered.",
    )
    payment_id = fields.Many2one("account.payment", readonly=True, ondelete="set null")
    amount = fields.Monetary(readonly=True, currency_field="currency_id")
    currency_id = fields.Many2one("res.currency", readonly=True)
    date = fields.Date("Kleer's last payment date", readonly=True)

    _sql_constraints = [
        (
            "move_paid_uniq",
            "unique(move_id, kleer_paid)",
            "A payment from Kleer is registered once per invoice and paid amount.",
        ),
    ]


class ResCompany(models.Model):
    _inherit = "res.company"

    kleer_sync_payments = fields.Boolean("Read payment status from Kleer")
    kleer_register_payments = fields.Boolean(
        "Register Kleer payments in Odoo",
        help="Register what Kleer shows as paid as a payment in Odoo, reconciled with the "
        "invoice, on the journal below.",
    )
    kleer_payment_journal_id = fields.Many2one(
        "account.journal",
        "Journal for Kleer payments",
        domain="[('type', 'in', ('bank', 'cash'))]",
    )

    @api.constrains("kleer_payment_journal_id")
    def _check_kleer_payment_journal(self):
        for company in self:
            journal = company.kleer_payment_journal_id
            if journal and (journal.type not in ("bank", "cash") or journal.company_id != company):
                raise ValidationError(
                    self.env._("Kleer payments go to a bank or cash journal of the same company.")
                )

    def _kleer_payment_journal(self):
        """The journal for payments read from Kleer; refused (the whole run
        fails, logged) when payments are to be registered without one."""
        self.ensure_one()
        if not self.kleer_payment_journal_id:
            raise KleerMappingError(
                self.env._(
                    "Registering Kleer payments is on but no journal is chosen: choose one in "
                    "Settings › Kleer (Payment journal)."
                )
            )
        return self.kleer_payment_journal_id


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    kleer_sync_payments = fields.Boolean(related="company_id.kleer_sync_payments", readonly=False)
    kleer_register_payments = fields.Boolean(
        related="company_id.kleer_register_payments", readonly=False
    )
    kleer_payment_journal_id = fields.Many2one(
        related="company_id.kleer_payment_journal_id",
        readonly=False,
        domain="[('type', 'in', ('bank', 'cash')), ('company_id', '=', company_id)]",
    )
    kleer_last_sync_payments = fields.Datetime(compute="_compute_kleer_last_syncs")

    def action_kleer_sync_now_payments(self):
        return self._kleer_sync_now("payments")


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

    @api.model
    def _kleer_sync_payments(self, company, run):
        register = company.kleer_register_payments
        if register:
            company._kleer_payment_journal()
        moves = self.env["account.move"].search(
            [
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("kleer_certified", "=", True),
                ("kleer_invoice_id", "!=", 0),
                ("payment_state", "in", ("not_paid", "partial")),
            ],
            order="invoice_date, id",
        )
        stats = dict(read=0, written=0, paid=0, busy=0, failed=0)
        client = run.client(company)
        for window in _date_windows(moves, client.invoice_page):
            by_kleer_id = {m.kleer_invoice_id: m for m in window}
            dates = window.mapped("invoice_date")
            for invoice in client.iter_invoices(
                filter="certified", date_from=min(dates), date_to=max(dates)
            ):
                move = by_kleer_id.pop(invoice.id, None)
                if move is not None:
                    stats["read"] += 1
                    self._kleer_payment_one(company, move, invoice, register, stats)
                if not by_kleer_id:
                    break
        return self.env._(
            "%(read)s invoices read, %(written)s updated, %(paid)s payments registered, "
            "%(busy)s busy, %(failed)s failed",
            **stats,
        )

    @api.model
    def _kleer_payment_one(self, company, move, invoice, register, stats):
        """Apply one invoice in a transaction of its own (committed when it
        wrote something): the payment and its key commit together."""
        cr = self.env.cr
        try:
            with cr.savepoint():
                result = move._kleer_payment_apply(invoice, register)
        except (
            psycopg2.errors.LockNotAvailable,
            psycopg2.errors.SerializationFailure,
            psycopg2.errors.UniqueViolation,
        ):
            # Another worker has this invoice (or just registered its
            # payment): it is done there, or by the next run.
            self.env.invalidate_all()
            stats["busy"] += 1
            return
        except Exception as exc:  # noqa: BLE001 - logged, the rest go on
            self.env.invalidate_all()
            stats["failed"] += 1
            self.env["kleer.job"]._record_pull_failure(
                company, "account.move", "payment", invoice.id, exc, move.display_name
            )
            return
        if result:
            stats["written"] += 1
            stats["paid"] += result == "paid"
            cr.commit()  # pylint: disable=invalid-commit  # the sync's own cursor


def _date_windows(moves, page):
    """Consecutive invoice-date windows of at most ``page`` open invoices (a
    date is never split; one date with more is a window of its own), so that
    a window's list read is one page when Kleer holds no others of those
    dates, even when open invoices are spread over years. ``moves`` are
    sorted by invoice date."""
    window, day_moves, day = moves.browse(), moves.browse(), None
    for move in moves:
        if move.invoice_date != day:
            if window and len(window) + len(day_moves) > page:
                yield window
                window = moves.browse()
            window |= day_moves
            day_moves, day = moves.browse(), move.invoice_date
        day_moves |= move
    if window and len(window) + len(day_moves) > page:
        yield window
        window = moves.browse()
    window |= day_moves
    if window:
        yield window


class AccountMove(models.Model):
    _inherit = "account.move"

    @api.model
    def _kleer_job_payment(self, job, run):
        """Reprocess of a failed payment read: that one invoice, read again."""
        company = job.company_id
        move = self.search(
            [("company_id", "=", company.id), ("kleer_invoice_id", "=", job.kleer_ref)], limit=1
        )
        if not move:
            raise KleerMappingError(job.env._("No Odoo invoice has this Kleer id any more."))
        invoice = run.client(company).invoice(job.kleer_ref)
        result = move._kleer_payment_apply(invoice, company.kleer_register_payments)
        return {
            "message": job.env._("Payment registered.")
            if result == "paid"
            else job.env._("Payment state read.")
        }
