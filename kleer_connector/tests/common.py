"""Shared set-up: a real Kleer sandbox on 127.0.0.1 and a company configured
against it. The registry is put in test mode so that the queue's own cursors
(claim, run, isolated log) share the test transaction."""

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
