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
