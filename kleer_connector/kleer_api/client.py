"""The Kleer classic API adapter: one method per endpoint.

Every endpoint lives in this file with its source (keys of
``shared/kleer/api-notes.md``: ORN, RUBY, TOKI, ALBA, DEV, XSD) and its
confidence tag, so that correcting a path is a one-line change here.
"""

import ipaddress
import logging
import math
import tempfile
import time
from decimal import Decimal
from html import escape
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, InvalidHeader, NewConnectionError
from urllib3.util.retry import Retry

from . import xmlcodec as codec
from .errors import (
    KleerAuthError,
    KleerBadResponse,
    KleerConfigError,
    KleerError,
    KleerNotFound,
    KleerPermissionError,
    KleerRateLimited,
    KleerTLSError,
    KleerTransientError,
    KleerUnknownOutcome,
    KleerUnsupported,
    KleerValidationError,
)

_logger = logging.getLogger(__name__)

PRODUCTION_URL = "https://api.kleer.se/v1"  # [C] DEV, TOKI
TEST_URL = "https://test-api.kleer.se/v1"  # [1] TOKI

DEFAULT_TIMEOUT = (5, 30)  # (connect, read) seconds
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
SPOOL_BYTES = 1024 * 1024  # long lists go to disk past this
# Invoices asked for per page of the client-invoice list. [1] ALBA asks
# limit=1000 (supplier invoices); for client invoices the largest limit is
# unknown [?], and the XSD's paged-result says the server may reduce it
# (``limit`` then equals the rows returned) [X]: iter_invoices follows what
# it gets, by offset. System parameter ``kleer_connector.invoice_page``
# changes it without code (100 was the connector's first choice).
INVOICE_PAGE = 1000
# The page asked again when Kleer refuses INVOICE_PAGE (a 400 rather than a
# shorter page): the new API's largest limit [1] NEW, the connector's first.
SAFE_INVOICE_PAGE = 100
USER_AGENT = "odoo-kleer-connector/18.0"
REDACTED = "***"
# A Retry-After of years (or a broken header) must not park a job for ever
# nor overflow the date of its next try: a day at most.
RETRY_AFTER_MAX = 24 * 3600

# Calls no public source confirms [?]: each is a choice the company can
# change in its settings without code; the first of each is the default
# (the project's original choice).
CERTIFY_CALLS = {
    # POST …/client/invoice/{id}/certify -> ok, modelled on DEV's
    # "POST event/approve -> ok".
    "post_certify": ("POST", "client/invoice/{id}/certify"),
    "put_certify": ("PUT", "client/invoice/{id}/certify"),
    "post_approve": ("POST", "client/invoice/{id}/approve"),
}
RATE_CALLS = {
    # GET …/exchange-rate?from-currency=EUR&to-currency=SEK (the XSD's names)
    "query_kebab": ("exchange-rate", "from-currency", "to-currency"),
    # Kleer's confirmed list parameters are camelCase (invoiceDateLower).
    "query_camel": ("exchange-rate", "fromCurrency", "toCurrency"),
    # GET …/exchange-rate/EUR/SEK
    "path": ("exchange-rate/{from}/{to}", None, None),
}
WRITE_VERBS = {
    # (create on the collection, update on the item): Kleer's convention
    # for clients and invoices [C]; KPY's reverse as the alternative.
    "put_create": ("PUT", "POST"),
    "post_create": ("POST", "PUT"),
}


def _retry_policy():
    """Retries for idempotent reads only. A write is resent by urllib3 only
    when the connection could not be opened (the request never left)."""
    return Retry(
        total=3,
        connect=2,
        read=2,
        status=2,
        other=0,  # TLS and protocol errors are not fixed by resending
        backoff_factor=0.5,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class Exchange:
    """One request and its answer, token redacted, for the sync log."""

    __slots__ = ("method", "url", "request_body", "status", "response_body", "seconds")

    def __init__(self, method, url, request_body):
        self.method = method
        self.url = url
        self.request_body = request_body
        self.status = None
        self.response_body = None
        self.seconds = None


class KleerClient:
    def __init__(
        self,
        base_url,
        company_id,
        token,
        *,
        timeout=DEFAULT_TIMEOUT,
        session=None,
        max_response_bytes=MAX_RESPONSE_BYTES,
        vat_unit=codec.PERCENT,
        certify_call="post_certify",
        rate_call="query_kebab",
        write_verbs="put_create",
        invoice_page=INVOICE_PAGE,
    ):
        if not base_url or not company_id or not token:
            raise KleerConfigError(
                "Kleer is not configured: base URL, company id and API token are needed"
            )
        if not str(company_id).strip().isdigit():
            raise KleerConfigError(f"Kleer company id must be a number, not {company_id!r}")
        check_base_url(base_url)
        token = str(token).strip()
        if not token.isprintable() or not token.isascii():
            # Never quoted: an HTTP library would echo it in its exception.
            raise KleerConfigError("The Kleer API token holds characters a header cannot carry")
        self.base_url = base_url.rstrip("/")
        self.company_id = int(str(company_id).strip())
        self._token = token
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        for name, value, known in (
            ("VAT unit", vat_unit, codec.VAT_UNITS),
            ("certify call", certify_call, CERTIFY_CALLS),
            ("exchange-rate call", rate_call, RATE_CALLS),
            ("product / dimension writes", write_verbs, WRITE_VERBS),
        ):
            if value not in known:
                raise KleerConfigError(f"Unknown Kleer {name}: {value!r}")
        # Unit in which VAT and discount percentages are written (read: both).
        self.vat_unit = vat_unit
        self.certify_call = certify_call
        self.rate_call = rate_call
        self.write_verbs = write_verbs
        if not isinstance(invoice_page, int) or invoice_page < 1:
            raise KleerConfigError(f"Kleer invoice page must be a number above 0: {invoice_page!r}")
        self.invoice_page = invoice_page
        self.session = session or self._new_session()
        self.last_exchange = None
        self.request_count = 0

    def __repr__(self):  # never show the token
        return f"<KleerClient {self.base_url} company {self.company_id}>"

    @staticmethod
    def _new_session():
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=_retry_policy())
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self):
        self.session.close()

    # -- transport -----------------------------------------------------------

    def _url(self, path):
        return f"{self.base_url}/company/{self.company_id}/{path.lstrip('/')}"

    def _request(self, method, path, *, body=None, params=None, stream_to=None):
        """Send one request; return the parsed root element of the answer.

        ``body`` is an lxml element: it is checked against Kleer's XSD before
        anything is sent, so a schema fault never reaches Kleer. With
        ``stream_to`` (a file), a successful answer is written there and the
        file is returned, rewound, unparsed.
        """
        url = self._url(path)
        data = None
        if body is not None:
            codec.validate(body)
            data = codec.to_bytes(body)
        exchange = Exchange(method, url, data)
        self.last_exchange = exchange
        is_write = method != "GET"
        headers = {
            "X-Token": self._token,
            "Accept": "application/xml",
            "User-Agent": USER_AGENT,
        }
        if data is not None:
            headers["Content-Type"] = "application/xml; charset=utf-8"
        started = time.monotonic()
        self.request_count += 1
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                stream=True,
                # A redirect would carry X-Token to wherever it points
                # (requests drops only Authorization): never follow one.
                allow_redirects=False,
            )
            exchange.status = response.status_code
            if stream_to is not None and response.status_code < 400:
                size = self._read_body(response, exchange, sink=stream_to)
                raw = f"[{size} bytes, streamed]".encode()
            else:
                raw = self._read_body(response, exchange)
        except KleerError:
            raise
        except requests.exceptions.SSLError as exc:
            raise self._error(
                KleerTLSError, f"TLS error talking to Kleer: {exc}", exchange, detail=_cause(exc)
            ) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise self._error(
                KleerTransientError,
                f"Kleer could not be reached in time: {exc}",
                exchange,
                detail=_cause(exc),
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            if is_write:
                raise self._error(
                    KleerUnknownOutcome,
                    "Kleer did not answer in time; the request may have been stored",
                    exchange,
                    detail=_cause(exc),
                ) from exc
            raise self._error(
                KleerTransientError,
                f"Kleer did not answer in time: {exc}",
                exchange,
                detail=_cause(exc),
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            if is_write and not _never_sent(exc):
                raise self._error(
                    KleerUnknownOutcome,
                    "The connection to Kleer broke after the request was sent; "
                    "it may have been stored",
                    exchange,
                    detail=_cause(exc),
                ) from exc
            raise self._error(
                KleerTransientError,
                f"Kleer could not be reached: {exc}",
                exchange,
                detail=_cause(exc),
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise self._error(
                KleerTransientError,
                f"HTTP error talking to Kleer: {exc}",
                exchange,
                detail=_cause(exc),
            ) from exc
        finally:
            exchange.seconds = round(time.monotonic() - started, 3)
        exchange.response_body = redact(raw, self._token)
        status = response.status_code
        if status >= 300:
            raise self._status_error(status, raw, response.headers, exchange)
        if stream_to is not None:
            stream_to.seek(0)
            return stream_to
        try:
            return codec.parse(raw)
        except KleerBadResponse as exc:
            if is_write:
                raise self._error(
                    KleerUnknownOutcome,
                    f"Kleer's answer to a write could not be read ({exc}); it may have been stored",
                    exchange,
                ) from exc
            raise self._error(KleerBadResponse, str(exc), exchange, detail=str(exc)) from exc

    def _read_body(self, response, exchange, sink=None):
        """The answer's bytes (or, with ``sink``, their count once written
        there), refused past ``max_response_bytes``."""
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._error(
                        KleerUnknownOutcome if exchange.method != "GET" else KleerBadResponse,
                        f"Kleer's answer is larger than {self.max_response_bytes} bytes, refused",
                        exchange,
                    )
                if sink is not None:
                    sink.write(chunk)
                else:
                    chunks.append(chunk)
        finally:
            response.close()
        return size if sink is not None else b"".join(chunks)

    def _iter_list(self, path, root_tag, item_tag, convert):
        """Yield the objects of a long, unpaged list one at a time. The answer
        is spooled to a temporary file (to disk past 1 MiB) and parsed as a
        stream, so memory does not grow with the list and the connection is
        not held while the caller works."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            self._request("GET", path, stream_to=spool)
            try:
                yield from codec.iter_items(spool, root_tag, item_tag, convert)
            except KleerBadResponse as exc:
                raise self._error(
                    KleerBadResponse, str(exc), self.last_exchange, detail=str(exc)
                ) from exc

    def _error(self, cls, message, exchange, **kw):
        # Texts built from exceptions or from Kleer's answer may hold the
        # token (an echoing server, a header error): remove it at the source.
        if kw.get("detail"):
            kw["detail"] = redact(kw["detail"], self._token)
        return cls(
            redact(message, self._token),
            method=exchange.method,
            url=exchange.url,
            status=exchange.status,
            request_body=exchange.request_body,
            response_body=redact(exchange.response_body, self._token),
            **kw,
        )

    def _redirect_error(self, status, headers, exchange):
        location = headers.get("Location") or "?"
        message = (
            f"Kleer answered with a redirect ({status}) to {location}; redirects are not "
            "followed: check the Kleer API URL"
        )
        if exchange.method != "GET":
            # Whatever answered may have stored the write before redirecting.
            return self._error(
                KleerUnknownOutcome, f"{message} (it may have been stored)", exchange
            )
        return self._error(KleerConfigError, message, exchange)

    def _status_error(self, status, raw, headers, exchange):
        if status < 400:
            return self._redirect_error(status, headers, exchange)
        kleer_message = codec.error_message(raw)
        detail = kleer_message or _short(raw)
        if status == 401:
            return self._error(
                KleerAuthError,
                f"Kleer refused the API token (401): {detail}",
                exchange,
                detail=detail,
            )
        if status == 403:
            return self._error(
                KleerPermissionError,
                f"The token has no access to this Kleer company or action (403): {detail}",
                exchange,
                detail=detail,
            )
        if status == 404:
            return self._error(
                KleerNotFound, f"Not found in Kleer (404): {detail}", exchange, detail=detail
            )
        if status == 429:
            return self._error(
                KleerRateLimited,
                f"Kleer asks to slow down (429): {detail}",
                exchange,
                detail=detail,
                retry_after=_retry_after(headers.get("Retry-After")),
            )
        if status >= 500:
            return self._error(
                KleerTransientError,
                f"Kleer had an error ({status}): {detail}",
                exchange,
                detail=detail,
                retry_after=_retry_after(headers.get("Retry-After")),
            )
        return self._error(
            KleerValidationError,
            f"Kleer refused the request ({status}): {detail}",
            exchange,
            detail=detail,
        )

    def _get(self, path, tag, params=None):
        return codec.expect_root(self._request("GET", path, params=params), tag)

    def _create(self, path, body, method="PUT"):
        root = self._request(method, path, body=body)
        codec.expect_root(root, "created")
        return int(root.findtext("id"))

    def _save(self, path, body, method="POST"):
        codec.expect_root(self._request(method, path, body=body), "saved")

    # -- company and users ---------------------------------------------------

    def company_info(self):
        # GET company/{cid}/info -> company-information   [C] ORN, PYPE
        return codec.company_info_from_xml(self._get("info", "company-information"))

    def me(self):
        # GET company/{cid}/user/me -> user (the token's owner)   [C] ORN, TOKI
        return codec.user_from_xml(self._get("user/me", "user"))

    def users(self):
        return list(self.iter_users())

    def iter_users(self):
        # GET company/{cid}/user -> users (unpaged)   [C] ORN, PYPE, TOKI, ABRD
        return self._iter_list("user", "users", "user", codec.user_from_xml)

    # -- clients -------------------------------------------------------------

    def clients(self):
        return list(self.iter_clients())

    def iter_clients(self):
        # GET company/{cid}/client -> clients (unpaged)   [C] ORN, RUBY
        return self._iter_list("client", "clients", "client", codec.client_from_xml)

    def client(self, client_id):
        # GET company/{cid}/client/{id} -> client   [1] ALBA
        return codec.client_from_xml(self._get(f"client/{int(client_id)}", "client"))

    def create_client(self, client):
        # PUT company/{cid}/client -> created   [1] RUBY (verb, path)
        return self._create("client", codec.client_to_xml(client))

    def update_client(self, client_id, client):
        # POST company/{cid}/client/{id} -> saved   [1] RUBY
        self._save(f"client/{int(client_id)}", codec.client_to_xml(client))

    def find_clients_by_foreign_id(self, foreign_id):
        # No confirmed foreign-id look-up for clients [?]: list and match.
        return [c for c in self.clients() if c.foreign_id == foreign_id]

    def delivery_types(self):
        # GET company/{cid}/client/deliverytype   [C] ORN, XSD
        root = self._get("client/deliverytype", "client-delivery-types")
        return [codec.delivery_type_from_xml(d) for d in root.findall("client-delivery-type")]

    # -- products ------------------------------------------------------------

    def products(self):
        return list(self.iter_products())

    def iter_products(self):
        # GET company/{cid}/product -> products (unpaged)   [C] ORN, XSD
        return self._iter_list("product", "products", "product", codec.product_from_xml)

    def product(self, product_id):
        # GET company/{cid}/product/{id}   [C] ORN, XSD
        return codec.product_from_xml(self._get(f"product/{int(product_id)}", "product"))

    def create_product(self, product):
        # PUT company/{cid}/product -> created   [?] by the API's convention
        # (verbs: the ``write_verbs`` setting)
        return self._create(
            "product",
            codec.product_to_xml(product, self.vat_unit),
            WRITE_VERBS[self.write_verbs][0],
        )

    def update_product(self, product_id, product):
        # POST company/{cid}/product/{id} -> saved   [?] by the API's convention
        self._save(
            f"product/{int(product_id)}",
            codec.product_to_xml(product, self.vat_unit),
            WRITE_VERBS[self.write_verbs][1],
        )

    def find_products_by_foreign_id(self, foreign_id):
        return [p for p in self.products() if p.foreign_id == foreign_id]

    # -- dimensions ("categories") -------------------------------------------

    def dimensions(self):
        # GET company/{cid}/dimension   [C] ORN, XSD
        root = self._get("dimension", "dimensions")
        return [codec.dimension_from_xml(d) for d in root.findall("dimension")]

    def dimension_entries(self, dimension_id):
        # GET company/{cid}/dimension/{did}/entry   [C] ORN, XSD
        root = self._get(f"dimension/{int(dimension_id)}/entry", "dimension-entries")
        return [codec.dimension_entry_from_xml(e) for e in root.findall("dimension-entry")]

    def create_dimension_entry(self, dimension_id, entry):
        # PUT company/{cid}/dimension/{did}/entry   [?] path; body [X]
        # (verb: the ``write_verbs`` setting)
        return self._create(
            f"dimension/{int(dimension_id)}/entry",
            codec.dimension_entry_to_xml(entry),
            WRITE_VERBS[self.write_verbs][0],
        )

    # -- client invoices -----------------------------------------------------

    def invoices(
        self,
        *,
        filter=None,  # noqa: A002 - Kleer's own parameter name
        query=None,
        date_from=None,
        date_to=None,
        offset=0,
        limit=100,
        ignore_files=True,
    ):
        # GET company/{cid}/client/invoice   [C] ORN, ALBA; offset/limit [X]
        params = {"offset": offset, "limit": limit}
        if filter:
            params["filter"] = filter
        if query:
            params["query"] = query
        if date_from:
            params["invoiceDateLower"] = date_from.isoformat()
        if date_to:
            params["invoiceDateUpper"] = date_to.isoformat()
        if ignore_files:
            params["ignoreFiles"] = "true"
        root = self._get("client/invoice", "client-invoices", params=params)
        return codec.invoice_page_from_xml(root)

    def iter_invoices(self, page_size=None, **filters):
        """Every invoice of the list, page by page; a page shorter than
        asked (a server that reduces ``limit``) is followed by offset."""
        page_size = page_size or self.invoice_page
        offset = 0
        while True:
            try:
                page = self.invoices(offset=offset, limit=page_size, **filters)
            except KleerValidationError:
                # INVOICE_PAGE is a guess [?]: a Kleer that refuses it gets
                # the safe page, for the rest of this client's life.
                if page_size <= SAFE_INVOICE_PAGE:
                    raise
                page_size = self.invoice_page = SAFE_INVOICE_PAGE
                continue
            if page.offset != offset:
                # offset/limit are assumed names [?]: a Kleer that ignores
                # them answers page 1 again, and a look-up by foreign id
                # would miss what it stored (then send it twice).
                raise self._error(
                    KleerUnsupported,
                    f"Kleer answered the invoice list at offset {page.offset} where "
                    f"{offset} was asked: its paging is not the one the connector uses",
                    self.last_exchange,
                )
            yield from page.invoices
            offset += len(page.invoices)
            if not page.invoices or offset >= page.size:
                return

    def invoice(self, invoice_id):
        # GET company/{cid}/client/invoice/{id}?ignoreFiles=true   [1] ALBA;
        # ignoreFiles [C] ORN on the list: the PDF (megabytes of hex) is
        # never needed when reading an invoice back.
        return codec.invoice_from_xml(
            self._get(
                f"client/invoice/{int(invoice_id)}",
                "client-invoice",
                params={"ignoreFiles": "true"},
            )
        )

    def find_invoices_by_foreign_id(self, foreign_id, invoice_date=None):
        """Invoices whose foreign-id is exactly ``foreign_id``.

        With ``invoice_date`` the list is narrowed by the confirmed
        ``invoiceDateLower/Upper`` filter [C] and matched here exactly; the
        free-text ``query`` (matching unconfirmed [?]) is used only without it.
        """
        if invoice_date:
            found = self.iter_invoices(date_from=invoice_date, date_to=invoice_date)
        else:
            found = self.iter_invoices(query=foreign_id)
        return [inv for inv in found if inv.foreign_id == foreign_id]

    def create_invoice(self, invoice):
        # PUT company/{cid}/client/invoice -> created (a draft)   [1] ORN
        return self._create("client/invoice", codec.invoice_to_xml(invoice, self.vat_unit))

    def update_invoice(self, invoice_id, invoice):
        # POST company/{cid}/client/invoice/{id} -> saved   [X]/[?]
        self._save(
            f"client/invoice/{int(invoice_id)}", codec.invoice_to_xml(invoice, self.vat_unit)
        )

    def certify_invoice(self, invoice_id):
        # [?] NOT confirmed by any public source: the ``certify_call``
        # setting (CERTIFY_CALLS), POST …/client/invoice/{id}/certify -> ok
        # by default. The answer carries no invoice number: callers read the
        # invoice back (invoice(id)) to see it certified and numbered.
        method, path = CERTIFY_CALLS[self.certify_call]
        try:
            root = self._request(method, path.format(id=int(invoice_id)))
        except (KleerNotFound, KleerValidationError) as exc:
            # Kleer explains its refusals in an <error> body; a bare 404 or
            # 405 means the call itself does not exist.
            if exc.status in (404, 405) and not codec.error_message(exc.response_body):
                raise self._error(
                    KleerUnsupported,
                    f"Kleer has no certify call {method} {path} ({exc.status})",
                    self.last_exchange,
                ) from exc
            raise
        codec.expect_root(root, "ok")

    # -- exchange rates ------------------------------------------------------

    def exchange_rate(self, from_currency, to_currency, on_date=None):
        # GET company/{cid}/exchange-rate?from-currency=&to-currency=   [?]
        # path unconfirmed (the ``rate_call`` setting, RATE_CALLS); element
        # exchange-rate [X]. rate = units of to-currency for one unit of
        # from-currency (the project's choice).
        path, from_param, to_param = RATE_CALLS[self.rate_call]
        params = {}
        if from_param:
            params = {from_param: from_currency, to_param: to_currency}
        if on_date:
            params["date"] = on_date.isoformat()
        path = path.format(**{"from": from_currency, "to": to_currency})
        return codec.exchange_rate_from_xml(self._get(path, "exchange-rate", params=params))

    # -- read-only probes (Test connection) ------------------------------------

    def probe_paging(self):
        """True when Kleer echoes the invoice list's ``offset`` (1 asked)."""
        return self.invoices(offset=1, limit=1).offset == 1

    def probe_vat_unit(self, max_invoices=20):
        """(unit or None, what it was read from): the VAT unit of the
        products and latest invoice rows Kleer already holds, read raw. A
        non-zero value <= 1 is a fraction, above 1 a percent; None when
        there is nothing to read or the two forms are mixed."""
        values = []

        def raw_vats(tag):
            return lambda el: [
                Decimal(x.text) for x in el.iterfind(tag) if x.text and Decimal(x.text)
            ]

        for vats in self._iter_list("product", "products", "product", raw_vats("vat-percentage")):
            values += vats
        size = self.invoices(limit=1).size
        if size:
            page = self._get(
                "client/invoice",
                "client-invoices",
                params={
                    "offset": max(size - max_invoices, 0),
                    "limit": max_invoices,
                    "ignoreFiles": "true",
                },
            )
            for invoice in page.iterfind("client-invoice"):
                values += raw_vats("rows/row/vat")(invoice)
        units = {codec.FRACTION if abs(v) <= 1 else codec.PERCENT for v in values}
        return (units.pop() if len(units) == 1 else None), len(values)


def _chain(exc):
    """``exc`` and the exceptions behind it (its arguments, cause, context and
    urllib3's ``reason``), each once, depth first: the nearest first."""
    stack, seen = [exc], set()
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        reason = getattr(cur, "reason", None)
        stack.append(reason if isinstance(reason, BaseException) else None)
        stack.extend((cur.__context__, cur.__cause__))
        stack.extend(a for a in reversed(cur.args) if isinstance(a, BaseException))


def _never_sent(exc):
    """True when a ConnectionError happened while opening the connection, so
    the request cannot have reached Kleer."""
    never = (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError)
    return any(isinstance(cur, never) for cur in _chain(exc))


def _retry_after(value):
    """Seconds to wait from a Retry-After header, or None when absent or
    unreadable. urllib3 reads both forms (delay-seconds, HTTP-date; a past
    date is 0); the wait is rounded up and capped."""
    if not value:
        return None
    try:
        seconds = Retry(0).parse_retry_after(value)
    except InvalidHeader:
        return None
    return min(math.ceil(seconds), RETRY_AFTER_MAX)


def _cause(exc, limit=200):
    """The network's own reason for ``exc`` ("Connection refused", "timed
    out"), else its text, shortened: what a person can act on."""
    for cur in _chain(exc):
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror
    text = str(exc)
    return text[:limit] + ("…" if len(text) > limit else "")


def _short(raw, limit=300):
    text = (raw or b"").decode("utf-8", "replace").strip()
    return text[:limit] + ("…" if len(text) > limit else "") if text else "no details"


def redact(text, token):
    """Remove the token from text (or bytes) meant for logs and users, also
    as an echo may spell it: XML/HTML-escaped or URL-encoded."""
    if not text or not token:
        return text
    variants = {token, escape(token), quote(token, safe="")}
    if isinstance(text, bytes):
        for variant in variants:
            text = text.replace(variant.encode(), REDACTED.encode())
        return text
    for variant in variants:
        text = text.replace(variant, REDACTED)
    return text


LOOPBACK_NAMES = ("localhost",)


def check_base_url(url):
    """Refuse a Kleer URL that would expose the token: only ``https://``,
    plain ``http://`` only to this machine (the sandbox)."""
    try:
        parts = urlsplit((url or "").strip())
        host = parts.hostname or ""
    except ValueError as exc:
        raise KleerConfigError(f"Not a valid Kleer API URL: {url!r}") from exc
    if not host or parts.scheme not in ("https", "http") or parts.username or parts.password:
        raise KleerConfigError(f"Not a valid Kleer API URL: {url!r}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise KleerConfigError(
            f"Plain http:// is allowed only to this machine (the sandbox), not to {host}: "
            "use https://"
        )
    return url


def _is_loopback(host):
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
