"""The queue's ``post`` job for an invoice: create it in Kleer once (or
adopt the one an interrupted attempt left there), check Kleer's amounts
before certifying, store the Kleer id and certification the moment Kleer
answers. The payload itself is built in account_move_kleer_invoice.py."""

from odoo import models

from ..kleer_api import KleerAmountMismatch, KleerUnsupported
from ..kleer_api.money import from_ore, to_ore
from .tools import reader_env


class AccountMove(models.Model):
    _inherit = "account.move"

    def _kleer_job_post(self, job, run):
        """Create the invoice in Kleer (once), certify it when the settings
        say so. Every Kleer id is committed the moment Kleer gives it. The
        messages use ``job``'s language, the reader's (see kleer.job)."""
        self.ensure_one()
        move = self
        company = job.company_id
        client = run.client(company)
        certify = company.kleer_invoice_mode == "certified"
        if not move.kleer_invoice_id and (job.check_remote or move.kleer_check_remote):
            found = client.find_invoices_by_foreign_id(move._kleer_foreign_id(), move.invoice_date)
            # One a user deleted in Kleer is not this invoice's home.
            found = [invoice for invoice in found if not invoice.disabled]
            if found:
                move._kleer_store(found[0].id, found[0])
                job._commit()
        created, warnings = False, []
        if not move.kleer_invoice_id:
            invoice = move._kleer_invoice_payload(company, run, job, warnings)
            kleer_id = job._create_in_kleer(move, lambda: client.create_invoice(invoice))
            move._kleer_store(kleer_id)
            job._commit()
            created = True
        not_certified = None
        if certify and not move.kleer_certified:
            # Read back: certified meanwhile (or a certify whose answer was
            # lost)? Else Kleer's own amounts are checked before certifying.
            # Only a read: stored and committed only when Kleer says
            # certified (a crash before would just read again).
            remote = client.invoice(move.kleer_invoice_id)
            if remote.certified:
                move._kleer_store(move.kleer_invoice_id, remote)
                job._commit()
            else:
                move._kleer_check_before_certify(remote, client)
                try:
                    client.certify_invoice(move.kleer_invoice_id)
                except KleerUnsupported as exc:
                    # No such call: one draft, one message, no retry loop.
                    not_certified = job.env._(
                        "Not certified: Kleer has no certify call %(call)s (HTTP %(status)s). "
                        "Certify it in Kleer; it was stored as a draft (or choose another "
                        "certify call in the Kleer settings).",
                        call=" ".join((exc.method or "", exc.url or "")),  # (no f-string: Babel)
                        status=exc.status,
                    )
                else:
                    # Committed with the job's success, not on its own: a
                    # crash before that commit leaves the invoice uncertified
                    # in Odoo, and the retry's read-back above finds it
                    # certified in Kleer (never certified twice).
                    move._kleer_store_certified(client)
        if move.kleer_certified:
            message = job.env._(
                "Certified in Kleer (Kleer id %(id)s); its Kleer invoice number follows shortly.",
                id=move.kleer_invoice_id,
            )
            if move.kleer_invoice_nr:
                message = job.env._(
                    "Certified in Kleer as invoice number %(nr)s (Kleer id %(id)s).",
                    nr=move.kleer_invoice_nr,
                    id=move.kleer_invoice_id,
                )
            state = "certified"
        else:
            message = job.env._(
                "Sent to Kleer as a draft (Kleer id %(id)s): certify it in Kleer. Changes "
                "made there later are not reflected back in Odoo.",
                id=move.kleer_invoice_id,
            )
            state = "draft"
        if not created and not job.check_remote and state == "draft" and not not_certified:
            message = job.env._(
                "Already in Kleer (id %(id)s); nothing sent.", id=move.kleer_invoice_id
            )
        if not_certified:
            message = "\n".join([message, not_certified])
        if warnings:
            message = "\n".join([message, *warnings])
        return {"kleer_id": move.kleer_invoice_id, "state": state, "message": message}

    def _kleer_check_before_certify(self, remote, client):
        """Certify only what Kleer holds as Odoo booked it: not deleted, and
        Kleer's own amount and VAT equal to Odoo's, to the öre (credit notes
        are negative in Kleer)."""
        self.ensure_one()
        if remote.disabled:
            self._kleer_refuse(
                reader_env(self)._(
                    "it was deleted in Kleer (Kleer id %(id)s) and is not certified.",
                    id=remote.id,
                )
            )
        kleer, odoo = self._kleer_amounts(remote)
        if kleer == odoo:
            return
        exchange = client.last_exchange
        raise KleerAmountMismatch(
            reader_env(self)._(
                "%(move)s: Kleer computes %(ka)s excl. VAT and %(kv)s VAT where Odoo booked "
                "%(oa)s and %(ov)s. Not certified: it stays a draft in Kleer (Kleer id %(id)s). "
                "Check the Kleer VAT unit in the settings, or correct the draft in Kleer, then "
                "Reprocess.",
                move=self.display_name,
                id=remote.id,
                **self._kleer_amount_words(kleer, odoo),
            ),
            method=exchange.method if exchange else None,
            url=exchange.url if exchange else None,
            status=exchange.status if exchange else None,
            response_body=exchange.response_body if exchange else None,
        )

    def _kleer_amounts(self, remote):
        """(Kleer's, Odoo's) amount excl. VAT and VAT of this invoice, in öre,
        as Kleer holds them (credit notes negative): equal to the öre when
        Kleer books what Odoo booked."""
        sign = -1 if self.move_type == "out_refund" else 1
        odoo = (sign * to_ore(self.amount_untaxed), sign * to_ore(self.amount_tax))
        return (remote.amount, remote.vat_amount), odoo

    def _kleer_amount_words(self, kleer, odoo):
        currency = self.currency_id.name

        def fmt(ore):
            return "?" if ore is None else f"{from_ore(ore)} {currency}"

        return {"ka": fmt(kleer[0]), "kv": fmt(kleer[1]), "oa": fmt(odoo[0]), "ov": fmt(odoo[1])}

    def _kleer_store_certified(self, client):
        """After certify: Kleer must show the invoice certified and numbered."""
        self.ensure_one()
        after = client.invoice(self.kleer_invoice_id)
        if not after.certified or not after.invoice_nr:
            raise KleerUnsupported(
                reader_env(self)._(
                    "Kleer accepted the certify call but shows invoice %(id)s %(what)s: the call "
                    "may not be the one that certifies. Not retried: check it in Kleer (and the "
                    "certify call in the Kleer settings), then Reprocess.",
                    id=self.kleer_invoice_id,
                    what=reader_env(self)._("without an invoice number")
                    if after.certified
                    else reader_env(self)._("still uncertified"),
                ),
                method=client.last_exchange.method,
                url=client.last_exchange.url,
                status=client.last_exchange.status,
                response_body=client.last_exchange.response_body,
            )
        # With its state, in one UPDATE: the job's success, committed with
        # it, announces it in a note (so the state is not tracked).
        self.with_context(tracking_disable=True)._kleer_store(
            self.kleer_invoice_id, after, kleer_state="certified", kleer_last_error=False
        )

    def _kleer_store(self, kleer_id, invoice=None, **state):
        vals = {"kleer_invoice_id": kleer_id, "kleer_check_remote": False, **state}
        if invoice is not None:
            vals.update(
                kleer_certified=bool(invoice.certified), kleer_invoice_nr=invoice.invoice_nr or 0
            )
        self.write(vals)
