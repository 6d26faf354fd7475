import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..kleer_api import (
    PRODUCTION_URL,
    TEST_URL,
    KleerClient,
    KleerConfigError,
    KleerError,
    check_base_url,
    redact,
)
from ..kleer_api.client import DEFAULT_TIMEOUT, INVOICE_PAGE

VAT_UNITS = [("percent", "Percent (25)"), ("fraction", "Fraction (0.25)")]
# Kleer calls no public source confirms (kleer_api/client.py): the first of
# each is the connector's original choice and the default.
CERTIFY_CALLS = [
    ("post_certify", "POST client/invoice/{id}/certify"),
    ("put_certify", "PUT client/invoice/{id}/certify"),
    ("post_approve", "POST client/invoice/{id}/approve"),
]
RATE_CALLS = [
    ("query_kebab", "GET exchange-rate?from-currency=…&to-currency=…"),
    ("query_camel", "GET exchange-rate?fromCurrency=…&toCurrency=…"),
    ("path", "GET exchange-rate/{from}/{to}"),
]
WRITE_VERBS = [
    ("put_create", "PUT creates, POST updates"),
    ("post_create", "POST creates, PUT updates"),
]

_logger = logging.getLogger(__name__)

ENVIRONMENTS = [
    ("production", "Production (api.kleer.se)"),
    ("test", "Kleer test environment"),
    ("custom", "Custom URL (e.g. the Kleer sandbox)"),
]
# Where the connector connects, and as whom: Test connection tries them
# before they are saved (res_config_settings.py).
CONNECTION_FIELDS = ("kleer_environment", "kleer_base_url", "kleer_company_id", "kleer_token")

# Settings that turn a sync's cron on: (company field, cron xml id).
SYNC_CRONS = [
    ("kleer_customer_sync", "kleer_connector.cron_sync_customers"),
    ("kleer_sync_products", "kleer_connector.cron_sync_products"),
    ("kleer_sync_rates", "kleer_connector.cron_sync_rates"),
    ("kleer_sync_users", "kleer_connector.cron_sync_users"),
    ("kleer_sync_categories", "kleer_connector.cron_sync_categories"),
    ("kleer_sync_payments", "kleer_connector.cron_sync_payments"),
]


class ResCompany(models.Model):
    _inherit = "res.company"

    kleer_enabled = fields.Boolean("Kleer connection active")
    kleer_environment = fields.Selection(
        ENVIRONMENTS,
        default="production",
        required=True,
        # Where the token is sent: as protected as the token itself.
        groups="base.group_system",
    )
    kleer_base_url = fields.Char(
        "Kleer API URL", help="Used with the custom environment.", groups="base.group_system"
    )
    kleer_company_id = fields.Char("Kleer company id")
    kleer_token = fields.Char("Kleer API token", groups="base.group_system", copy=False)
    kleer_connection_ok = fields.Datetime(
        "Kleer connection tested",
        readonly=True,
        copy=False,
        help="When Test connection last worked with the saved connection settings; "
        "cleared when they change.",
    )
    kleer_invoice_mode = fields.Selection(
        [("draft", "Draft (certify in Kleer)"), ("certified", "Certified")],
        default="draft",
        required=True,
    )
    kleer_accrual = fields.Boolean("Send accrual periods")
    kleer_customer_sync = fields.Selection(
        [
            ("none", "Off"),
            ("to_kleer", "Odoo to Kleer"),
            ("from_kleer", "Kleer to Odoo"),
            ("both", "Both ways"),
        ],
        default="none",
        required=True,
    )
    kleer_sync_products = fields.Boolean("Sync products from Kleer")
    kleer_sync_rates = fields.Boolean("Sync exchange rates from Kleer")
    kleer_sync_users = fields.Boolean("Sync users from Kleer")
    kleer_sync_categories = fields.Boolean("Sync categories from Kleer")
    kleer_responsible_id = fields.Many2one(
        "res.users",
        "Kleer responsible",
        domain="[('share', '=', False)]",
        help="Gets a to-do activity on each invoice Kleer refused (once per invoice); "
        "when empty, the person who created the invoice.",
    )
    kleer_default_product_id = fields.Many2one(
        "product.product",
        "Default Kleer product",
        help="Used for invoice lines whose product is not known in Kleer.",
    )
    kleer_default_account_id = fields.Many2one(
        "account.account",
        "Default sales account",
        help="Account number given to products the connector creates in Kleer "
        "when the product has no income account of its own.",
    )
    # Kleer's VAT unit is not documented: read in both forms, written in
    # this one. "auto" takes what Test connection found in Kleer's data.
    kleer_vat_unit = fields.Selection(
        [("auto", "Automatic (found by Test connection)"), *VAT_UNITS],
        "Kleer VAT unit",
        default="auto",
        required=True,
        help="How Kleer writes VAT and discount percentages. While it is not known, VAT is "
        "written as a percent and discounts in öre (never as a percentage).",
    )
    kleer_vat_unit_detected = fields.Selection(
        VAT_UNITS, "VAT unit found in Kleer", readonly=True, copy=False
    )
    kleer_certify_call = fields.Selection(
        CERTIFY_CALLS, "Kleer certify call", default="post_certify", required=True
    )
    kleer_rate_call = fields.Selection(
        RATE_CALLS, "Kleer exchange-rate call", default="query_kebab", required=True
    )
    kleer_write_verbs = fields.Selection(
        WRITE_VERBS,
        "Kleer product / dimension writes",
        default="put_create",
        required=True,
    )

    @api.constrains("kleer_environment", "kleer_base_url")
    def _check_kleer_base_url(self):
        for company in self.sudo():
            if company.kleer_environment == "custom" and company.kleer_base_url:
                try:
                    check_base_url(company.kleer_base_url)
                except KleerConfigError as exc:
                    raise ValidationError(str(exc)) from exc

    def _kleer_base_url(self):
        self.ensure_one()
        if self.kleer_environment == "test":
            return TEST_URL
        if self.kleer_environment == "custom":
            return (self.kleer_base_url or "").strip()
        return PRODUCTION_URL

    def _kleer_is_configured(self):
        self.ensure_one()
        company = self.sudo()
        return bool(
            company.kleer_enabled
            and company._kleer_base_url()
            and company.kleer_company_id
            and company.kleer_token
        )

    def _kleer_client(self, **kwargs):
        """A client for this company's Kleer; raises KleerConfigError when
        the settings are incomplete."""
        self.ensure_one()
        company = self.sudo()
        kwargs.setdefault("timeout", self._kleer_timeout())
        kwargs.setdefault("vat_unit", self._kleer_vat_unit() or "percent")
        kwargs.setdefault("certify_call", company.kleer_certify_call)
        kwargs.setdefault("rate_call", company.kleer_rate_call)
        kwargs.setdefault("write_verbs", company.kleer_write_verbs)
        kwargs.setdefault("invoice_page", self._kleer_invoice_page())
        return KleerClient(
            company._kleer_base_url(),
            company.kleer_company_id,
            company.kleer_token,
            **kwargs,
        )

    def _kleer_vat_unit(self):
        """ "percent" or "fraction" when known (set, or found by Test
        connection), else False: then VAT goes as a percent (the original
        choice) and discounts only in öre."""
        self.ensure_one()
        if self.kleer_vat_unit != "auto":
            return self.kleer_vat_unit
        return self.kleer_vat_unit_detected or False

    def _kleer_timeout(self):
        """(connect, read) seconds; system parameter ``kleer_connector.timeout``
        ("5,30") lets an admin adapt it without code."""
        value = self.env["ir.config_parameter"].sudo().get_param("kleer_connector.timeout")
        try:
            connect, read = (float(x) for x in value.split(","))
            return (connect, read)
        except (AttributeError, ValueError):
            return DEFAULT_TIMEOUT

    def _kleer_invoice_page(self):
        """Invoices asked for per page of Kleer's invoice list; system
        parameter ``kleer_connector.invoice_page`` (see kleer_api.client)."""
        value = self.env["ir.config_parameter"].sudo().get_param("kleer_connector.invoice_page")
        try:
            page = int(value)  # False when not set: 0
        except (TypeError, ValueError):
            return INVOICE_PAGE
        return page if page > 0 else INVOICE_PAGE

    def _kleer_redact(self, text):
        return redact(text, self.sudo().kleer_token)

    @api.model
    def _kleer_companies(self, flag=None):
        """Companies connected to Kleer (and with ``flag`` on, if given)."""
        companies = self.sudo().search([("kleer_enabled", "=", True)])
        companies = companies.filtered(lambda c: c._kleer_is_configured())
        if flag:
            companies = companies.filtered(lambda c: c[flag] not in (False, "none"))
        return companies

    def write(self, vals):
        changed = set(CONNECTION_FIELDS) & set(vals)
        if changed and "kleer_connection_ok" not in vals:
            # Other connection settings than the tested ones: untested again.
            untested = self.sudo().filtered(
                lambda c: any((c[f] or False) != (vals[f] or False) for f in changed)
            )
            super(ResCompany, untested).write({"kleer_connection_ok": False})
        res = super().write(vals)
        watched = {"kleer_enabled", "kleer_token", "kleer_company_id"}
        watched.update(field for field, _xmlid in SYNC_CRONS)
        if watched & set(vals):
            self._kleer_update_crons()
        return res

    @api.model
    def _kleer_update_crons(self):
        """A sync's cron runs only while some company is configured for it."""
        for flag, xmlid in SYNC_CRONS:
            cron = self.env.ref(xmlid, raise_if_not_found=False)
            if cron:
                wanted = bool(self._kleer_companies(flag))
                if cron.sudo().active != wanted:
                    cron.sudo().active = wanted

    def _kleer_test_connection(self, base_url, kleer_company_id, token, **choices):
        """Call Kleer with the given settings; return (ok, message). Then
        probe, read-only, the calls no public source confirms (``choices``:
        the client's ``rate_call``...) and say what each showed."""
        try:
            client = KleerClient(base_url, kleer_company_id, token, timeout=(5, 15), **choices)
            token_owner = client.me()
            info = client.company_info()
        except KleerError as exc:
            return False, self._kleer_explain(exc, token)
        lines = [
            self.env._(
                "Connected to Kleer company %(name)s (org. no. %(orgno)s, accounting "
                "currency %(currency)s) as %(user)s.",
                name=info.name,
                orgno=info.orgno or "-",
                currency=info.accounting_currency,
                user=token_owner.name,
            )
        ]
        lines += self._kleer_probe(client, info.accounting_currency, token)
        client.close()
        return True, "\n".join(lines)

    def _kleer_probe(self, client, accounting_currency, token):
        """Read-only probes: an exchange rate, the invoice list's paging, the
        VAT unit of what Kleer holds (stored when the connection tested is
        this company's own). One line each."""
        self.ensure_one()
        other = "SEK" if accounting_currency == "EUR" else "EUR"
        lines = []
        try:
            rate = client.exchange_rate(other, accounting_currency)
            lines.append(
                self.env._(
                    "Exchange rate: 1 %(f)s = %(r)s %(t)s.",
                    f=other,
                    r=rate.rate,
                    t=accounting_currency,
                )
            )
        except KleerError as exc:
            lines.append(
                self.env._(
                    "Exchange rate: not read with the chosen call (%(e)s); the rate sync will "
                    "fail until another call is chosen.",
                    e=self._kleer_explain(exc, token, next_step=False),
                )
            )
        try:
            if client.probe_paging():
                lines.append(self.env._("Invoice list paging: Kleer echoes the offset asked."))
            else:
                lines.append(
                    self.env._(
                        "Invoice list paging: Kleer ignores the offset; looking up invoices "
                        "whose answer was lost will stop with an error instead of reading page "
                        "1 again."
                    )
                )
        except KleerError as exc:
            lines.append(
                self.env._(
                    "Invoice list paging: not read (%(e)s).",
                    e=self._kleer_explain(exc, token, next_step=False),
                )
            )
        try:
            unit, count = client.probe_vat_unit()
        except KleerError as exc:
            unit, count = None, 0
            lines.append(
                self.env._(
                    "VAT unit: not read (%(e)s).",
                    e=self._kleer_explain(exc, token, next_step=False),
                )
            )
        else:
            # The selection's labels in the admin's language (VAT_UNITS is English).
            field = self._fields["kleer_vat_unit_detected"]
            names = dict(field._description_selection(self.env))
            if unit:
                lines.append(
                    self.env._(
                        "VAT unit: %(u)s, from %(n)s VAT figures of Kleer's products and invoices.",
                        u=names[unit],
                        n=count,
                    )
                )
            else:
                lines.append(
                    self.env._(
                        "VAT unit: not found (%(n)s VAT figures, of both forms or none); choose it "
                        "in the settings. Until then discounts go to Kleer in öre.",
                        n=count,
                    )
                )
        company = self.sudo()
        own = (
            client.base_url == company._kleer_base_url().rstrip("/")
            and str(client.company_id) == (company.kleer_company_id or "").strip()
            and token == company.kleer_token
        )
        # Nothing (or both forms) found: unknown again, so discounts go in öre.
        if own and (company.kleer_vat_unit_detected or False) != (unit or False):
            company.kleer_vat_unit_detected = unit or False
        return lines

    def _kleer_error_text(self, exc):
        """What a person reads of a failed call or job, in this environment's
        language (the reader's: see ``tools.reader_env``): for a Kleer error
        that carries Kleer's (or the network's) own words, the plain-words
        reason of its kind with those words verbatim (``_kleer_explain``).
        Other errors keep their own text: the connector's findings (amounts,
        an unsupported call, the schema check), already in the reader's
        language or naming what was seen. Token removed."""
        if isinstance(exc, KleerError) and (exc.detail or exc.kind == "config"):
            if self._kleer_reason_key(exc) in self._kleer_reasons(exc.status):
                return self._kleer_explain(exc, self.sudo().kleer_token, next_step=False)
        return self._kleer_redact(str(exc) or exc.__class__.__name__)

    @api.model
    def _kleer_reason_key(self, exc):
        # A 5xx reached Kleer: "could not be reached" would mislead.
        if exc.kind == "transient" and exc.status and exc.status >= 500:
            return "server_error"
        return exc.kind

    @api.model
    def _kleer_reasons(self, status=None):
        """Per error kind: (plain-words reason, what to do next)."""
        return {
            "config": (
                self.env._("The Kleer settings are incomplete or invalid"),
                self.env._("Complete the Kleer settings, then press Test connection."),
            ),
            "auth": (
                self.env._("Kleer refused the API token (wrong or revoked token)"),
                self.env._("Enter the API token Kleer support issued, then press Test connection."),
            ),
            "permission": (
                self.env._("The token has no access to this Kleer company"),
                self.env._("Check the Kleer company id, then press Test connection."),
            ),
            "not_found": (
                self.env._("Kleer does not know this company id or address"),
                self.env._("Check the Kleer company id and the environment or URL."),
            ),
            "tls": (
                self.env._("The secure connection to Kleer failed (TLS certificate error)"),
                self.env._("Check the URL and this server's certificates, then try again."),
            ),
            "transient": (
                self.env._("Kleer could not be reached"),
                self.env._(
                    "Check the environment or URL and this server's network, then try again."
                ),
            ),
            "server_error": (
                self.env._("Kleer had a technical error, HTTP %(status)s", status=status),
                self.env._("Wait a moment, then try again."),
            ),
            "rate_limited": (
                self.env._("Kleer asks to slow down"),
                self.env._("Wait a minute, then try again."),
            ),
            "bad_response": (
                self.env._("Kleer's answer could not be read"),
                self.env._("Check that the URL is Kleer's API, then try again."),
            ),
            "validation": (
                self.env._("Kleer refused the request"),
                self.env._("Check the Kleer settings, then try again."),
            ),
            "unknown_outcome": (
                # Only writes end so: whether Kleer stored it is looked up first.
                self.env._("Kleer did not answer; it may have stored the request"),
                self.env._("Try again in a moment."),
            ),
        }

    @api.model
    def _kleer_explain(self, exc, token=None, next_step=True):
        """Plain-words reason for a failed call, then Kleer's (or the
        network's) own words once, then what to do; token removed."""
        reason, step = self._kleer_reasons(exc.status).get(
            self._kleer_reason_key(exc),
            (
                self.env._("The Kleer call failed"),
                self.env._("Try again; if it fails again, see the Kleer sync log."),
            ),
        )
        # The client's own sentence repeats the reason: only its cause is added.
        detail = getattr(exc, "detail", None) or (
            str(exc) if exc.kind in ("config", "unsupported") else None
        )
        text = (
            self.env._("%(reason)s (%(detail)s)", reason=reason, detail=detail)
            if detail
            else reason
        )
        if next_step:
            text = self.env._("%(text)s. %(step)s", text=text, step=step)
        return redact(text, token)
