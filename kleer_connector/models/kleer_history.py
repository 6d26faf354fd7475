"""A record's Kleer history (its jobs and log entries) one click away: the
smart buttons of the invoice and partner forms."""

from odoo import fields, models

from .tools import KLEER_USER, check_user_action


class KleerHistoryMixin(models.AbstractModel):
    _name = "kleer.history.mixin"
    _description = "Kleer jobs and log entries of a record"

    kleer_job_count = fields.Integer(
        "Kleer jobs", compute="_compute_kleer_counts", groups=KLEER_USER
    )
    kleer_log_count = fields.Integer(
        "Kleer log entries", compute="_compute_kleer_counts", groups=KLEER_USER
    )

    def _kleer_history_domain(self):
        return [("res_model", "=", self._name), ("res_id", "in", self.ids)]

    def _compute_kleer_counts(self):
        # As the user: record rules hide another company's entries.
        counts = {}
        for model in ("kleer.job", "kleer.log"):
            groups = self.env[model]._read_group(
                self._kleer_history_domain(), ["res_id"], ["__count"]
            )
            counts[model] = dict(groups)
        for record in self:
            record.kleer_job_count = counts["kleer.job"].get(record.id, 0)
            record.kleer_log_count = counts["kleer.log"].get(record.id, 0)

    def _kleer_history_action(self, model, name):
        check_user_action(self)
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": model,
            "view_mode": "list,form",
            "domain": self._kleer_history_domain(),
            "context": {"create": False},
        }

    def action_kleer_open_jobs(self):
        return self._kleer_history_action("kleer.job", self.env._("Kleer queue"))

    def action_kleer_open_logs(self):
        return self._kleer_history_action("kleer.log", self.env._("Kleer sync log"))
