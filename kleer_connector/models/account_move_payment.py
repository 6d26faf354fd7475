"""An invoice's payment state in Kleer and, when the company wants it, the
payment registered in Odoo for what was paid there (see kleer_sync_payments).

Never double: Odoo's own residual is the reference. What Kleer says remains
is compared with what Odoo still shows as open, and only the difference is
registered; a payment someone registered by hand counts. Exactly once: the
``kleer.payment`` key (invoice, amount paid in Kleer) is inserted in the
transaction that registers the payment, under a lock on the invoice.
"""

from odoo import fields, models

from ..kleer_api import KleerAmountMismatch
from ..kleer_api.money import from_ore, round_to_ore
from .tools import reader_env

PAYMENT_STATES = [
    ("open", "Open"),
    ("partial", "Partly paid"),
    ("paid", "Paid"),
    ("credited", "Credited"),
]


class AccountMove(models.Model):
    _inherit = "account.move"

    kleer_payment_state = fields.Selection(
        PAYMENT_STATES, "Kleer payment", copy=False, readonly=True, index=True
    )
    kleer_remaining = fields.Monetary(
        "Remaining in Kleer", currency_field="currency_id", copy=False, readonly=True
    )
    kleer_last_payment_date = fields.Date("Last payment in Kleer", copy=False, readonly=True)

    def _kleer_payment_apply(self, invoice, register):
        """Take in Kleer's ``invoice`` (a certified one, read from the list).
        Returns False when nothing was written, "state" when only the shown
        state changed, "paid" when a payment was registered."""
        self.ensure_one()
        total = round_to_ore(self.amount_total)
        remaining = max(invoice.remaining, 0)
        if invoice.credit_invoice_ids:
            # Kleer's remaining mixes the credit with any payment: no payment
            # can be told apart, so none is registered (the Odoo credit note
            # settles the invoice).
            state = "credited"
        elif remaining == 0:
            state = "paid"
        elif remaining < total:
            state = "partial"
        else:
            state = "open"
        vals = {}
        if self.kleer_payment_state != state:
            vals["kleer_payment_state"] = state
        if round_to_ore(self.kleer_remaining) != remaining:
            vals["kleer_remaining"] = float(from_ore(remaining))
        if (self.kleer_last_payment_date or None) != invoice.last_payment_date:
            vals["kleer_last_payment_date"] = invoice.last_payment_date or False
        result = False
        if register and state in ("partial", "paid"):
            result = self._kleer_payment_register(total - remaining, remaining, invoice)
        if vals:
            self.write(vals)
            result = result or "state"
        return result

    def _kleer_check_paid_total(self, invoice):
        """What Kleer shows as paid is registered only when Kleer's total is
        Odoo's: an invoice whose draft was corrected and certified by hand in
        Kleer may hold another, and Odoo would then record more (or less)
        than the customer paid. A list without amounts (not seen: the XSD
        and the sandbox have them) is taken as before: the connector
        certifies only equal amounts (``_kleer_check_before_certify``)."""
        kleer, odoo = self._kleer_amounts(invoice)
        if None in kleer or kleer == odoo:
            return
        raise KleerAmountMismatch(
            reader_env(self)._(
                "%(move)s: Kleer's invoice (Kleer id %(id)s) is %(ka)s excl. VAT and %(kv)s VAT, "
                "Odoo's %(oa)s and %(ov)s: what was paid in Kleer is not registered in Odoo. "
                "Register the payment by hand, or make the amounts agree, then Reprocess.",
                move=self.display_name,
                id=invoice.id,
                **self._kleer_amount_words(kleer, odoo),
            )
        )

    def _kleer_payment_register(self, kleer_paid, remaining, invoice):
        """Register in Odoo what Kleer shows as paid beyond what Odoo shows."""
        cr = self.env.cr
        # NOWAIT: a second worker on this invoice gives way at once (the
        # caller skips it). Under REPEATABLE READ a lock or key insert that
        # meets another worker's newer commit fails too, so a stale residual
        # is never acted on. Both failures are expected: not logged as errors.
        cr.execute(
            "SELECT id FROM account_move WHERE id = %s FOR UPDATE NOWAIT",
            [self.id],
            log_exceptions=False,
        )
        self.invalidate_recordset(["amount_residual", "payment_state"])
        due = round_to_ore(self.amount_residual) - remaining
        if due <= 0:
            return False  # already paid in Odoo (by hand, or an earlier run)
        # Only now: an invoice with nothing to register is no finding.
        self._kleer_check_paid_total(invoice)
        # The exactly-once key, in this transaction: a key already there means
        # this payment was registered once (and perhaps undone by a person).
        cr.execute(
            """
            INSERT INTO kleer_payment (company_id, move_id, kleer_paid, currency_id, amount,
                                       date, create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
                    now() at time zone 'UTC', now() at time zone 'UTC')
            ON CONFLICT (move_id, kleer_paid) DO NOTHING
            RETURNING id
            """,
            [
                self.company_id.id,
                self.id,
                kleer_paid,
                self.currency_id.id,
                float(from_ore(due)),
                invoice.last_payment_date,
                self.env.uid,
                self.env.uid,
            ],
            log_exceptions=False,
        )
        row = cr.fetchone()
        if not row:
            return False
        key = self.env["kleer.payment"].sudo().browse(row[0])
        company = self.company_id
        wizard = (
            self.env["account.payment.register"]
            .with_company(company)
            .with_context(active_model="account.move", active_ids=self.ids)
            .create(
                {
                    "payment_date": invoice.last_payment_date or fields.Date.context_today(self),
                    "journal_id": company._kleer_payment_journal().id,
                    "currency_id": self.currency_id.id,
                    "amount": float(from_ore(due)),
                    "payment_difference_handling": "open",
                }
            )
        )
        payment = wizard._create_payments()
        key.payment_id = payment[:1]
        self.message_post(
            body=reader_env(self)._(
                "Kleer: %(amount)s paid in Kleer (last payment %(date)s), registered as "
                "payment %(payment)s.",
                amount=f"{from_ore(due)} {self.currency_id.name}",
                date=invoice.last_payment_date or "-",
                payment=payment[:1].name,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return "paid"
