"""What a queue job can do: one line per (model, operation), naming the
method of that model that runs it, ``handler(job, run)`` (on the record, or
on the empty model for a pull by Kleer id), and the words people read for it
("Send invoice", not "post"). ``kleer.job`` runs nothing else: a job whose
pair is not here fails as an internal error, without a call."""

from collections import namedtuple

from odoo.tools import LazyTranslate

# Lazy: the table is built at import, the words are read in the reader's
# language (``env._(label)``); Odoo's export finds them by ``_lt``.
_lt = LazyTranslate(__name__)

# ``sync``: the sync (kleer_sync.SYNCS) that writes the same records; the
# job runs while no run of it does (kleer.job._execute).
Operation = namedtuple("Operation", "handler label description sync", defaults=(None,))

OPERATIONS = {
    ("account.move", "post"): Operation(
        "_kleer_job_post",
        _lt("Send invoice"),
        "send an invoice or credit note, certify it (account_move_post_job.py)",
    ),
    ("account.move", "payment"): Operation(
        "_kleer_job_payment",
        _lt("Read payment status"),
        "read one invoice's payment state again (kleer_sync_payments.py)",
        sync="payments",
    ),
    ("res.partner", "push"): Operation(
        "_kleer_job_push",
        _lt("Send customer"),
        "create or update the customer in Kleer (res_partner.py)",
    ),
    ("res.partner", "pull"): Operation(
        "_kleer_job_pull",
        _lt("Fetch customer"),
        "take one Kleer client in again (res_partner.py)",
        sync="customers",
    ),
    ("product.product", "pull"): Operation(
        "_kleer_job_pull",
        _lt("Fetch product"),
        "take one Kleer product in again (product_pull.py)",
        sync="products",
    ),
    ("res.currency", "pull"): Operation(
        "_kleer_job_pull",
        _lt("Fetch exchange rate"),
        "write one currency's rate from Kleer again (kleer_sync_rates.py)",
        sync="rates",
    ),
    ("kleer.user", "pull"): Operation(
        "_kleer_job_pull",
        _lt("Fetch user"),
        "take one Kleer user in again (kleer_sync_users.py)",
        sync="users",
    ),
    ("res.partner.category", "pull"): Operation(
        "_kleer_job_pull",
        _lt("Fetch category"),
        "take one Kleer dimension in again (kleer_sync_categories.py)",
        sync="categories",
    ),
}

# Operations only the log names (no job runs them), by operation code; and the
# words for a push or a pull on a model the table does not list.
LOG_ONLY = {
    "invoice_number": _lt("Fetch invoice number"),
    "invoice_number_retry": _lt("Fetch invoice number"),
    "sync_customers": _lt("Customer sync"),
    "sync_products": _lt("Product sync"),
    "sync_rates": _lt("Exchange rate sync"),
    "sync_users": _lt("User sync"),
    "sync_categories": _lt("Category sync"),
    "sync_payments": _lt("Payment status sync"),
    "push": _lt("Send customer"),
    "pull": _lt("Fetch from Kleer"),
}
