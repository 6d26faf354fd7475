"""What a queue job can do: one line per (model, operation), naming the
method of that model that runs it, ``handler(job, run)`` (on the record, or
on the empty model for a pull by Kleer id). ``kleer.job`` runs nothing else:
a job whose pair is not here fails as an internal error, without a call."""

from collections import namedtuple

Operation = namedtuple("Operation", "handler description")

OPERATIONS = {
    ("account.move", "post"): Operation(
        "_kleer_job_post", "send an invoice or credit note, certify it (account_move_post_job.py)"
    ),
    ("account.move", "payment"): Operation(
        "_kleer_job_payment", "read one invoice's payment state again (kleer_sync_payments.py)"
    ),
    ("res.partner", "push"): Operation(
        "_kleer_job_push", "create or update the customer in Kleer (res_partner.py)"
    ),
    ("res.partner", "pull"): Operation(
        "_kleer_job_pull", "take one Kleer client in again (res_partner.py)"
    ),
    ("product.product", "pull"): Operation(
        "_kleer_job_pull", "take one Kleer product in again (product_pull.py)"
    ),
    ("res.currency", "pull"): Operation(
        "_kleer_job_pull", "write one currency's rate from Kleer again (kleer_sync_rates.py)"
    ),
    ("kleer.user", "pull"): Operation(
        "_kleer_job_pull", "take one Kleer user in again (kleer_sync_users.py)"
    ),
    ("res.partner.category", "pull"): Operation(
        "_kleer_job_pull", "take one Kleer dimension in again (kleer_sync_categories.py)"
    ),
}
