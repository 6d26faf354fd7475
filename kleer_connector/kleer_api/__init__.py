"""The Kleer classic API protocol: HTTP, XML, XSD checks and typed errors.

No Odoo import here: this package is tested on its own (``tests/`` at the
repository root) and used by the addon's models through thin mappings.
Inside the package, imports are relative so that it works both as
``odoo.addons.kleer_connector.kleer_api`` and as a top-level ``kleer_api``.
"""

from . import errors, money, types, xmlcodec
from .client import PRODUCTION_URL, TEST_URL, KleerClient, check_base_url, redact
from .errors import (
    KleerAuthError,
    KleerBadResponse,
    KleerConfigError,
    KleerError,
    KleerNotFound,
    KleerPermissionError,
    KleerRateLimited,
    KleerTLSError,
    KleerAmountMismatch,
    KleerTransientError,
    KleerUnknownOutcome,
    KleerUnsupported,
    KleerValidationError,
)
