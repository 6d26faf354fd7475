"""Shared set-up: a real Kleer sandbox on 127.0.0.1 and a company configured
against it. The registry is put in test mode so that the queue's own cursors
(claim, run, isolated log) share the test transaction."""

from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase, _super_send

from ..kleer_api.sandbox import SandboxServer


class LoopbackRequests:
    """Odoo raises every timeout under 10 s to 10 s in tests; the fault tests
    need the client's real timeouts. Only loopback is reached."""

    @classmethod
    def _request_handler(cls, s, r, /, **kw):
        if r.url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
            return _super_send(s, r, **kw)
        return super()._request_handler(s, r, **kw)


def kleer_connection(sandbox):
    """The company fields that connect a company to ``sandbox``."""
    return {
        "kleer_enabled": True,
        "kleer_environment": "custom",
        "kleer_base_url": sandbox.base_url,
        "kleer_company_id": str(sandbox.company_id),
        "kleer_token": sandbox.token,
    }


# Who uses the connector, by Odoo's own groups: an internal user with no
# accounting right, Invoicing's billing user, Accounting's adviser, an
# auditor (read-only accounting), and the admin who configures Kleer.
ROLES = {
    "plain": "base.group_user",
    "billing": "base.group_user,account.group_account_invoice",
    "manager": "base.group_user,account.group_account_manager",
    "auditor": "base.group_user,account.group_account_readonly",
    "admin": "base.group_system,account.group_account_manager",
}


def company_user(env, login, company, role="billing", **vals):
    """A user of ``company`` alone with ``role``'s groups (a ``ROLES`` key,
    or the groups themselves)."""
    return new_test_user(
        env,
        login,
        groups=ROLES.get(role, role),
        company_id=company.id,
        company_ids=[(6, 0, company.ids)],
        **vals,
    )


class KleerCase(LoopbackRequests, TransactionCase):
    """The sandbox, and ``cls.company`` connected to it. A test class of
    invoices derives from ``InvoiceCase`` (test_invoice_common) instead."""

    sandbox_vat_unit = "percent"  # how the sandbox writes VAT: 25, or "fraction" 0.25

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = SandboxServer(seed=True, vat_unit=cls.sandbox_vat_unit)
        cls.sandbox.start()
        cls.addClassCleanup(cls.sandbox.stop)
        if not cls.registry.in_test_mode():  # an HttpCase has entered it
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.configure_kleer(cls.company)

    @classmethod
    def configure_kleer(cls, company, **extra):
        company.write(dict(kleer_connection(cls.sandbox), **extra))

    @classmethod
    def create_company(cls, name, **vals):
        """Another company, not connected to Kleer. ``chart_template_load``
        keeps Odoo from installing a localisation for its country."""
        return (
            cls.env["res.company"]
            .with_context(chart_template_load=True)
            .create(dict(vals, name=name))
        )

    @classmethod
    def company_user(cls, login, role="billing", company=None, **vals):
        """A user of ``company`` (``cls.company``) alone, with ``role``'s groups."""
        return company_user(cls.env, login, company or cls.company, role, **vals)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()

    def process_queue(self, **kw):
        return self.env["kleer.job"]._process_jobs(**kw)

    def sent(self, method=None, path=None):
        """Requests the sandbox received (path relative to the company)."""
        return [
            req
            for req in self.sandbox.requests
            if (method is None or req.method == method) and (path is None or req.rel_path == path)
        ]
