# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Kleer sandbox: a local HTTP server speaking the subset of Kleer's classic XML API
the connector uses.

Usage in tests::

    with SandboxServer(seed=True) as sb:
        requests.get(sb.url("/client"), headers={"X-Token": sb.token})
        sb.faults.add("status", method="PUT", path=r"^/client/invoice$", status=503)
        sb.state.invoices(sb.company_id)      # stored objects as dicts
        sb.requests[-1].body                  # what the client sent

From a shell: ``PYTHONPATH=kleer_connector python -m kleer_api.sandbox --seed``.
Depends only on the stdlib, lxml and werkzeug; never on Odoo.
"""

from .app import RecordedRequest, SandboxApp
from .faults import Fault, FaultSet
from .seed import COMPANY_ID, OTHER_COMPANY_ID, OTHER_TOKEN, TOKEN
from .server import SandboxServer
from .store import ApiError, Store

__all__ = [
    "COMPANY_ID",
    "OTHER_COMPANY_ID",
    "OTHER_TOKEN",
    "TOKEN",
    "ApiError",
    "Fault",
    "FaultSet",
    "RecordedRequest",
    "SandboxApp",
    "SandboxServer",
    "Store",
]
