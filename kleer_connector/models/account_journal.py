"""The open Kleer failures of a sales journal's invoices, on its card of
Accounting's dashboard: counted when the card is shown, never stored."""

from collections import Counter

from odoo import fields, models

from .tools import KLEER_USER, check_user_action


class AccountJournal(models.Model):
    _inherit = "account.journal"

    kleer_failure_count = fields.Integer(
        "Kleer failures", compute="_compute_kleer_failure_count", groups=KLEER_USER
    )

    def _kleer_failed_moves(self):
        """{invoice id: journal id} of the invoices of these sales journals
        with an open Kleer log entry, and those entries (as the user sees them)."""
        journals = self.filtered(lambda j: j.type == "sale" and j.id)
        if not journals:
            return {}, self.env["kleer.log"]
        logs = self.env["kleer.log"].search(
            [("state", "=", "open"), ("res_model", "=", "account.move"), ("res_id", "!=", 0)]
        )
        moves = self.env["account.move"].search_fetch(
            [("id", "in", logs.mapped("res_id")), ("journal_id", "in", journals.ids)],
            ["journal_id"],
        )
        journal_of = {move.id: move.journal_id.id for move in moves}
        return journal_of, logs.filtered(lambda log: log.res_id in journal_of)

    def _compute_kleer_failure_count(self):
        journal_of, logs = self._kleer_failed_moves()
        counts = Counter(journal_of[log.res_id] for log in logs)
        for journal in self:
            journal.kleer_failure_count = counts[journal.id]

    def action_kleer_open_failures(self):
        """The card's "N Kleer failures": those log entries."""
        check_user_action(self)
        self.ensure_one()
        _journal_of, logs = self._kleer_failed_moves()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "kleer_connector.action_kleer_log_open"
        )
        action["domain"] = [("id", "in", logs.ids)]
        return action
