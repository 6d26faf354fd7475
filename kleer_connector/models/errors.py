"""The Odoo side's errors: what the queue and the syncs raise or catch.
The protocol's typed errors (HTTP, validation, unknown outcome) are in
``kleer_api.errors``."""

import psycopg2.errors

from odoo.exceptions import UserError

# Another transaction wrote the same row: worth a retry, never a refusal.
CONCURRENCY_ERRORS = (
    psycopg2.errors.SerializationFailure,
    psycopg2.errors.DeadlockDetected,
    psycopg2.errors.LockNotAvailable,
)


class KleerMappingError(UserError):
    """Data that cannot be expressed in Kleer: waits for a person."""


class KleerUnknownOperation(Exception):
    """A job whose (model, operation) is not in ``OPERATIONS``: a bug in the
    code that queued it, never run."""


class KleerWaitForOriginal(Exception):  # noqa: N818 - a state, not an error
    """The credited invoice is not certified in Kleer yet: the credit note
    waits for it (account_move_credit_wait.py), not a failure."""

    def __init__(self, origin, certify_only):
        self.origin_name = origin.display_name
        # True: in Kleer as a draft; False: not in Kleer yet (on its way).
        self.certify_only = certify_only
        super().__init__(f"waiting for {origin.display_name} to be certified in Kleer")
