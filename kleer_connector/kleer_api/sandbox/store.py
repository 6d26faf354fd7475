# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""State of the sandbox: companies, tokens and the stored Kleer objects.

Objects are kept as the lxml elements that were posted (ids and read-only fields set by the
server), so answers echo exactly what a client sent, in the XSD's element order.
All public methods are thread-safe (one re-entrant lock).
"""

import copy
import datetime
import decimal
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field

from lxml import etree

from .xmlutil import (
    XmlError,
    child,
    child_text,
    el,
    insert_ordered,
    parse_xml,
    remove_child,
    schema_errors,
    set_child,
    to_dict,
    xsd_sequence,
)

KINDS = ("user", "client", "product", "dimension", "dimension-entry", "client-invoice")
# Ids come from per-type counters; distinct ranges make a mixed-up id fail loudly.
DEFAULT_COUNTERS = {
    "user": 1,
    "client": 201,
    "product": 101,
    "dimension": 1,
    "dimension-entry": 10,
    "client-invoice": 5001,
    "row": 90001,
}
FIRST_INVOICE_NR = 1001
INVOICE_FILTERS = ("all", "certified", "certifiable", "sendable")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# Read-only optional invoice elements: ignored on write, kept from the stored invoice on update.
_INVOICE_READ_ONLY = (
    "credit-invoices",
    "aggregated-invoices",
    "certified-date",
    "client-agreement-ref",
    "last-payment-date",
    "approved",
    "invoice-deliveries",
    "factoring",
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STATE_FORMAT = "kleer-sandbox-state"


class ApiError(Exception):
    """A failure answered as ``<error><message>`` with an HTTP status."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def round_half_up(value):
    """Round a Decimal to an integer, halves away from zero (commercial rounding)."""
    return int(decimal.Decimal(value).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


VAT_UNITS = ("percent", "fraction")


def row_amounts(row, vat_unit="percent"):
    """(net, vat) of a client-invoice-row in öre: net = qty*price - discount; vat = net*vat%.

    ``vat_unit`` is the store's convention for ``vat`` and a discount ``percentage``: 25
    (percent) or 0.25 (fraction). A value in the other form is taken literally, as a Kleer
    that knows one convention would."""
    scale = 100 if vat_unit == "percent" else 1
    quantity = decimal.Decimal(child_text(row, "quantity", "0") or "0")
    price = decimal.Decimal(child_text(row, "price", "0") or "0")
    gross = round_half_up(quantity * price)
    discount = child(row, "discount")
    net = gross
    if discount is not None and len(discount):
        kind = discount[0]
        if kind.tag == "absolute":
            net = gross - int(kind.text)
        else:
            net = gross - round_half_up(gross * decimal.Decimal(kind.text) / scale)
    vat_pct = decimal.Decimal(child_text(row, "vat", "0") or "0")
    return net, round_half_up(net * vat_pct / scale)


def parse_date(text, name):
    if not _DATE_RE.match(text or ""):
        raise ApiError(400, f"{name}: expected a date YYYY-MM-DD, got {text!r}")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name}: invalid date {text!r}") from None


def _xml_bool(text):
    return (text or "").strip() in ("true", "1")


@dataclass
class _Company:
    info: etree._Element
    delivery_types: list = field(default_factory=list)  # [(name, is_default)]
    rates: list = field(default_factory=list)  # [(from, to, "YYYY-MM-DD", "rate")]
    next_invoice_nr: int = FIRST_INVOICE_NR
    objects: dict = field(default_factory=lambda: {kind: {} for kind in KINDS})
    entry_dimension: dict = field(default_factory=dict)  # dimension-entry id -> dimension id


class Store:
    """Everything the sandbox holds. ``seeder(store)`` fills a fresh store (see seed.populate)."""

    def __init__(self, state_file=None, seeder=None, vat_unit="percent"):
        if vat_unit not in VAT_UNITS:
            raise ValueError(f"vat_unit must be one of {', '.join(VAT_UNITS)}, not {vat_unit!r}")
        self.vat_unit = vat_unit  # how VAT and discount percentages are written: 25 or 0.25
        self.lock = threading.RLock()
        self.state_file = os.fspath(state_file) if state_file else None
        self.seeder = seeder
        self._loading = False
        self._wipe()
        if self.state_file and os.path.exists(self.state_file):
            self.load(self.state_file)
        else:
            self.reset()

    # ------------------------------------------------------------------ setup
    def _wipe(self):
        self._companies = {}
        self._tokens = {}  # token -> (user id, company id)
        self._counters = dict(DEFAULT_COUNTERS)

    def reset(self):
        """Back to the seed (or empty without a seeder); rewrites the state file."""
        with self.lock:
            self._wipe()
            if self.seeder:
                self._loading = True
                try:
                    self.seeder(self)
                finally:
                    self._loading = False
            self._changed()

    def add_company(
        self,
        cid,
        name,
        orgno,
        currency="SEK",
        bankgiro=None,
        supplier_invoice_email="",
        delivery_types=(("Email", True), ("Mail", False), ("Efaktura", False)),
    ):
        info = el(
            "company-information",
            None,
            el("name", name),
            el("orgno", orgno),
            el("accounting-currency", currency),
            el("bankgiro", bankgiro) if bankgiro is not None else None,
            el("supplier-invoice-email", supplier_invoice_email),
        )
        with self.lock:
            self._companies[int(cid)] = _Company(
                info=info, delivery_types=[(n, bool(d)) for n, d in delivery_types]
            )
            self._changed()
        return int(cid)

    def add_token(self, token, user_id, cid):
        with self.lock:
            self._tokens[token] = (int(user_id), int(cid))
            self._changed()

    def add_user(self, cid, name, email, active=True, foreign_id=None, id=None):
        user = el(
            "user",
            None,
            el("id", 0),
            el("foreign-id", foreign_id) if foreign_id is not None else None,
            el("name", name),
            el("email", email),
            el("active", "true" if active else "false"),
        )
        with self.lock:
            return self._insert(self._company(cid), "user", user, id)

    def add_dimension(self, cid, name, description="", foreign_id=None, active=True, id=None):
        dim = el(
            "dimension",
            None,
            el("id", 0),
            el("foreign-id", foreign_id) if foreign_id is not None else None,
            el("name", name),
            el("description", description),
            el("active", "true" if active else "false"),
        )
        with self.lock:
            return self._insert(self._company(cid), "dimension", dim, id)

    def add_rate(self, cid, from_currency, to_currency, rate, date="2000-01-01"):
        """1 ``from_currency`` = ``rate`` ``to_currency`` from ``date`` on."""
        parse_date(date, "date")
        with self.lock:
            self._company(cid).rates.append(
                (from_currency.upper(), to_currency.upper(), date, str(rate))
            )
            self._changed()

    # ------------------------------------------------------------ internals
    def _company(self, cid):
        try:
            return self._companies[int(cid)]
        except (KeyError, ValueError):
            raise ApiError(404, f"no company {cid}") from None

    def _next_id(self, kind):
        value = self._counters[kind]
        self._counters[kind] = value + 1
        return value

    def _insert(self, comp, kind, element, id=None):
        if id is None:
            id = self._next_id(kind)
        else:
            id = int(id)
            self._counters[kind] = max(self._counters[kind], id + 1)
        set_child(element, "id", id, _order(kind))
        comp.objects[kind][id] = element
        self._changed()
        return id

    def _changed(self):
        if self.state_file and not self._loading:
            self.save(self.state_file)

    def _get(self, comp, kind, id, label=None):
        try:
            return comp.objects[kind][int(id)]
        except (KeyError, ValueError):
            raise ApiError(404, f"{label or kind} {id} not found") from None

    @staticmethod
    def _accept(body, root):
        """A private, XSD-valid copy of ``body`` (element, bytes or str) whose root is ``root``."""
        if isinstance(body, (bytes, str)):
            try:
                body = parse_xml(body)
            except XmlError as exc:
                raise ApiError(400, f"xml: {exc}") from None
        errors = schema_errors(body)
        if errors:
            raise ApiError(400, "schema: " + "; ".join(errors[:5]))
        if body.tag != root:
            raise ApiError(400, f"expected a <{root}> element, got <{body.tag}>")
        return copy.deepcopy(body)

    def _check_user(self, comp, element, path, allow_zero=True):
        node = child(element, path.split("/")[0])
        if node is None:
            return
        uid = int(child_text(element, path, "0") or 0)
        if uid == 0 and allow_zero:
            return
        if uid not in comp.objects["user"]:
            raise ApiError(400, f"{path}: no user with id {uid}")

    def _check_entries(self, comp, container, label):
        if container is None:
            return
        for ref in container:
            eid = int(child_text(ref, "id", "0") or 0)
            if eid not in comp.objects["dimension-entry"]:
                raise ApiError(400, f"{label}: no dimension entry with id {eid}")

    def _check_delivery_type(self, comp, element, old, label):
        node = child(element, "delivery-type")
        value = (node.text or "").strip() if node is not None else ""
        if not value:
            # Empty: the company default on create, the stored value on update.
            value = (
                child_text(old, "delivery-type")
                if old is not None
                else self._default_delivery(comp)
            )
            if value:
                set_child(element, "delivery-type", value, _order(element.tag))
            return
        if value not in [name for name, _ in comp.delivery_types]:
            raise ApiError(400, f"{label} delivery-type: unknown delivery type {value!r}")

    @staticmethod
    def _default_delivery(comp):
        for name, default in comp.delivery_types:
            if default:
                return name
        return ""

    @staticmethod
    def _keep_if_absent(element, old, tags):
        if old is None:
            return
        order = _order(element.tag)
        for tag in tags:
            stored = child(old, tag)
            if child(element, tag) is None and stored is not None:
                insert_ordered(element, copy.deepcopy(stored), order)

    # ---------------------------------------------------------------- auth
    def authenticate(self, token, cid):
        """User id of ``token`` for company ``cid``; ApiError 401/403 otherwise."""
        with self.lock:
            owner = self._tokens.get(token or "")
            if owner is None:
                raise ApiError(401, "Invalid token")
            if owner[1] != int(cid):
                raise ApiError(403, f"Token has no access to company {cid}")
            return owner[0]

    # ------------------------------------------------------------- clients
    def create_client(self, cid, body, id=None):
        with self.lock:
            comp = self._company(cid)
            client = self._accept(body, "client")
            self._check_client(comp, client, None)
            return self._insert(comp, "client", client, id)

    def update_client(self, cid, id, body):
        with self.lock:
            comp = self._company(cid)
            old = self._get(comp, "client", id)
            client = self._accept(body, "client")
            self._keep_if_absent(client, old, ("template", "approver", "dimension-entries"))
            self._check_client(comp, client, old)
            set_child(client, "id", int(id), _order("client"))
            comp.objects["client"][int(id)] = client
            self._changed()
            return int(id)

    def _check_client(self, comp, client, old):
        self._check_user(comp, client, "user/id")
        self._check_user(comp, client, "approver/id")
        self._check_entries(comp, child(client, "dimension-entries"), "client dimension-entries")
        self._check_delivery_type(comp, client, old, "client")

    # ------------------------------------------------------------ products
    def create_product(self, cid, body, id=None):
        with self.lock:
            comp = self._company(cid)
            product = self._accept(body, "product")
            self._check_entries(
                comp, child(product, "dimension-entries"), "product dimension-entries"
            )
            return self._insert(comp, "product", product, id)

    def update_product(self, cid, id, body):
        with self.lock:
            comp = self._company(cid)
            old = self._get(comp, "product", id)
            product = self._accept(body, "product")
            self._keep_if_absent(product, old, ("dimension-entries",))
            self._check_entries(
                comp, child(product, "dimension-entries"), "product dimension-entries"
            )
            set_child(product, "id", int(id), _order("product"))
            comp.objects["product"][int(id)] = product
            self._changed()
            return int(id)

    # ---------------------------------------------------------- dimensions
    def create_dimension_entry(self, cid, did, body, id=None):
        with self.lock:
            comp = self._company(cid)
            self._get(comp, "dimension", did)
            entry = self._entry_from_writeable(
                comp, int(did), self._accept(body, "dimension-entry-writeable"), None
            )
            eid = self._insert(comp, "dimension-entry", entry, id)
            comp.entry_dimension[eid] = int(did)
            self._changed()
            return eid

    def update_dimension_entry(self, cid, did, eid, body):
        with self.lock:
            comp = self._company(cid)
            self._get(comp, "dimension", did)
            if comp.entry_dimension.get(int(eid)) != int(did):
                raise ApiError(404, f"dimension-entry {eid} not found in dimension {did}")
            entry = self._entry_from_writeable(
                comp, int(did), self._accept(body, "dimension-entry-writeable"), int(eid)
            )
            set_child(entry, "id", int(eid), _order("dimension-entry"))
            comp.objects["dimension-entry"][int(eid)] = entry
            self._changed()
            return int(eid)

    def _entry_from_writeable(self, comp, did, writeable, eid):
        # Stored as a <dimension-entry>: same fields, but id first and foreign-id before name.
        foreign_id = child_text(writeable, "foreign-id", None)
        if foreign_id:
            for other_id, other in comp.objects["dimension-entry"].items():
                if (
                    other_id != eid
                    and comp.entry_dimension.get(other_id) == did
                    and child_text(other, "foreign-id") == foreign_id
                ):
                    raise ApiError(
                        400,
                        f"foreign-id {foreign_id!r} is already used by dimension entry {other_id}",
                    )
        entry = el("dimension-entry", None, el("id", 0))
        for tag in xsd_sequence("dimension-entry")[1:]:
            node = child(writeable, tag)
            if node is not None:
                entry.append(copy.deepcopy(node))
        return entry

    # ------------------------------------------------------------ invoices
    def create_invoice(self, cid, body, id=None):
        """Store an uncertified draft; amount and vat are computed from the rows."""
        with self.lock:
            comp = self._company(cid)
            invoice = self._accept(body, "client-invoice")
            self._prepare_invoice(comp, invoice, None)
            order = _order("client-invoice")
            for tag, value in (
                ("invoice-nr", 0),
                ("certified", "false"),
                ("sent", "false"),
                ("remaining", 0),
            ):
                set_child(invoice, tag, value, order)
            set_child(invoice, "disabled", "false", order)
            return self._insert(comp, "client-invoice", invoice, id)

    def update_invoice(self, cid, id, body):
        with self.lock:
            comp = self._company(cid)
            old = self._get(comp, "client-invoice", id)
            if _xml_bool(child_text(old, "certified")):
                raise ApiError(400, "certified invoices cannot be changed")
            invoice = self._accept(body, "client-invoice")
            self._prepare_invoice(comp, invoice, old)
            order = _order("client-invoice")
            for tag in ("id", "invoice-nr", "certified", "sent", "remaining", "disabled"):
                set_child(invoice, tag, child_text(old, tag), order)
            comp.objects["client-invoice"][int(id)] = invoice
            self._changed()
            return int(id)

    def _prepare_invoice(self, comp, invoice, old):
        order = _order("client-invoice")
        for tag in _INVOICE_READ_ONLY:
            remove_child(invoice, tag)
        self._keep_if_absent(invoice, old, _INVOICE_READ_ONLY + ("files",))

        client_id = int(child_text(invoice, "client-ref/id", "0") or 0)
        client = comp.objects["client"].get(client_id)
        if client is None:
            raise ApiError(400, f"client-ref: no client with id {client_id}")
        if child(invoice, "end-client") is not None:
            end_id = int(child_text(invoice, "end-client/id", "0") or 0)
            if end_id not in comp.objects["client"]:
                raise ApiError(400, f"end-client: no client with id {end_id}")
        self._check_user(comp, invoice, "our-reference/id")
        self._check_user(comp, invoice, "approver/id")
        debit_nr = int(child_text(invoice, "debit-invoice-nr", "0") or 0)
        if debit_nr and self._certified_by_nr(comp, debit_nr) is None:
            raise ApiError(
                400, f"debit-invoice-nr: no certified invoice with invoice-nr {debit_nr}"
            )
        self._check_delivery_type(comp, invoice, old, "invoice")
        self._check_currency_rate(comp, invoice)
        for tag in ("vat-nr", "country-code"):
            # Empty: the client's value on create, the stored value on update.
            if not child_text(invoice, tag).strip():
                fallback = child_text(old, tag) if old is not None else child_text(client, tag)
                if fallback:
                    set_child(invoice, tag, fallback, order)

        old_row_ids = set()
        if old is not None:
            old_row_ids = {int(child_text(r, "id", "0") or 0) for r in child(old, "rows")}
        amount = vat = 0
        row_order = xsd_sequence("client-invoice-row")
        for index, row in enumerate(child(invoice, "rows"), start=1):
            product_id = int(child_text(row, "product/id", "0") or 0)
            product = comp.objects["product"].get(product_id)
            if product is None:
                raise ApiError(400, f"row {index}: product: no product with id {product_id}")
            self._check_entries(comp, child(row, "dimensions"), f"row {index} dimensions")
            if child(product, "account-nr") is not None:
                # Kleer derives the row account from the product.
                set_child(row, "account-nr", child_text(product, "account-nr"), row_order)
            row_id = int(child_text(row, "id", "0") or 0)
            if row_id not in old_row_ids:
                row_id = self._next_id("row")
            set_child(row, "id", row_id, row_order)
            net, row_vat = row_amounts(row, self.vat_unit)
            amount += net
            vat += row_vat
        set_child(invoice, "amount", amount, order)
        set_child(invoice, "vat", vat, order)

    @staticmethod
    def _check_currency_rate(comp, invoice):
        """``currency-rate`` is the project's documented direction: units of
        the accounting currency for one unit of the invoice currency (as the
        exchange-rate answer). A rate far from the sandbox's own (an inverted
        one, say) is refused."""
        text = child_text(invoice, "currency-rate").strip()
        if not text:
            return
        rate = decimal.Decimal(text)
        currency = child_text(invoice, "currency").upper()
        accounting = child_text(comp.info, "accounting-currency").upper()
        if rate <= 0:
            raise ApiError(400, f"currency-rate: must be positive, got {text}")
        if currency == accounting:
            if rate != 1:
                raise ApiError(
                    400, f"currency-rate: {currency} is the accounting currency, rate must be 1"
                )
            return
        day = child_text(invoice, "invoice-date")[:10]
        known = [
            (d, r) for f, t, d, r in comp.rates if f == currency and t == accounting and d <= day
        ]
        if known:
            expected = decimal.Decimal(max(known)[1])
            if not expected / 2 <= rate <= expected * 2:
                raise ApiError(
                    400,
                    f"currency-rate: {text} is far from 1 {currency} = {expected} {accounting}; "
                    f"send {accounting} per one {currency}",
                )

    def _certified_by_nr(self, comp, invoice_nr):
        for invoice in comp.objects["client-invoice"].values():
            if int(child_text(invoice, "invoice-nr", "0") or 0) == invoice_nr and _xml_bool(
                child_text(invoice, "certified")
            ):
                return invoice
        return None

    def disable_invoice(self, cid, id):
        """What a user deleting an invoice in Kleer leaves: ``disabled`` true."""
        with self.lock:
            invoice = self._get(self._company(cid), "client-invoice", id)
            set_child(invoice, "disabled", "true", _order("client-invoice"))
            self._changed()

    def certify_invoice(self, cid, id, now=None):
        """Assign the next invoice number; returns it."""
        with self.lock:
            comp = self._company(cid)
            invoice = self._get(comp, "client-invoice", id)
            if _xml_bool(child_text(invoice, "certified")):
                raise ApiError(400, f"client-invoice {id} is already certified")
            debit_nr = int(child_text(invoice, "debit-invoice-nr", "0") or 0)
            debit = self._certified_by_nr(comp, debit_nr) if debit_nr else None
            if debit_nr and debit is None:
                raise ApiError(
                    400, f"debit-invoice-nr: no certified invoice with invoice-nr {debit_nr}"
                )
            order = _order("client-invoice")
            number = comp.next_invoice_nr
            comp.next_invoice_nr += 1
            now = now or datetime.datetime.now().replace(microsecond=0)
            set_child(invoice, "invoice-nr", number, order)
            set_child(invoice, "certified", "true", order)
            set_child(invoice, "certified-date", now.isoformat(), order)
            total = int(child_text(invoice, "amount", "0") or 0) + int(
                child_text(invoice, "vat", "0") or 0
            )
            if debit is not None:
                credits = child(debit, "credit-invoices")
                if credits is None:
                    credits = insert_ordered(debit, etree.Element("credit-invoices"), order)
                credits.append(el("client-invoice", None, el("id", int(id))))
                # The credit note settles what is left of the debit invoice
                # (as far as it reaches), so neither stays open for it.
                left = int(child_text(debit, "remaining", "0") or 0)
                settled = min(max(left, 0), -total) if total < 0 else 0
                set_child(debit, "remaining", left - settled, order)
                total += settled
            set_child(invoice, "remaining", total, order)
            self._changed()
            return number

    def record_payment(self, cid, id, amount=None, date=None):
        """A customer payment on a certified invoice, as Kleer's own screens
        (bank matching) would register it: ``amount`` in öre of the invoice's
        currency (default: all that remains), ``date`` YYYY-MM-DD (default
        today). Lowers ``remaining`` and sets ``last-payment-date``; returns
        the new remaining."""
        day = str(parse_date(date, "date")) if date else datetime.date.today().isoformat()
        with self.lock:
            comp = self._company(cid)
            invoice = self._get(comp, "client-invoice", id)
            if not _xml_bool(child_text(invoice, "certified")):
                raise ApiError(400, f"client-invoice {id} is not certified: nothing to pay")
            left = int(child_text(invoice, "remaining", "0") or 0)
            amount = left if amount is None else int(amount)
            if amount <= 0 or amount > left:
                raise ApiError(
                    400, f"amount: must be between 1 and the remaining {left} öre, got {amount}"
                )
            order = _order("client-invoice")
            set_child(invoice, "remaining", left - amount, order)
            set_child(invoice, "last-payment-date", day, order)
            self._changed()
            return left - amount

    def query_invoices(
        self,
        cid,
        filter="all",
        query=None,
        date_lower=None,
        date_upper=None,
        offset=0,
        limit=DEFAULT_LIMIT,
        ignore_files=False,
    ):
        """(copies of the matching invoices on this page, total matches), ordered by id."""
        if filter not in INVOICE_FILTERS:
            raise ApiError(
                400, f"filter: expected one of {', '.join(INVOICE_FILTERS)}, got {filter!r}"
            )
        lower = str(parse_date(date_lower, "invoiceDateLower")) if date_lower else None
        upper = str(parse_date(date_upper, "invoiceDateUpper")) if date_upper else None
        if offset < 0:
            raise ApiError(400, "offset: must be >= 0")
        if limit < 1:
            raise ApiError(400, "limit: must be >= 1")
        limit = min(limit, MAX_LIMIT)
        needle = (query or "").lower()
        with self.lock:
            comp = self._company(cid)
            matches = []
            for _id, invoice in sorted(comp.objects["client-invoice"].items()):
                certified = _xml_bool(child_text(invoice, "certified"))
                if filter == "certified" and not certified:
                    continue
                if filter == "certifiable" and (
                    certified or _xml_bool(child_text(invoice, "disabled"))
                ):
                    continue
                if filter == "sendable" and not (
                    certified and not _xml_bool(child_text(invoice, "sent"))
                ):
                    continue
                day = child_text(invoice, "invoice-date")[:10]
                if (lower and day < lower) or (upper and day > upper):
                    continue
                if query and not (
                    child_text(invoice, "foreign-id") == query
                    or any(
                        needle in child_text(invoice, tag).lower()
                        for tag in ("your-reference", "notes", "po-nr")
                    )
                ):
                    continue
                matches.append(invoice)
            page = [copy.deepcopy(inv) for inv in matches[offset : offset + limit]]
        if ignore_files:
            for invoice in page:
                remove_child(invoice, "files")
        return page, len(matches)

    # ------------------------------------------------------- exchange rate
    def exchange_rate(self, cid, from_currency, to_currency, on=None):
        """Rate string: 1 from_currency = rate to_currency, the latest one valid on ``on``."""
        src, dst = from_currency.upper(), to_currency.upper()
        day = str(parse_date(on, "date")) if on else "9999-12-31"
        with self.lock:
            comp = self._company(cid)
            if src == dst:
                return "1"
            found = [(d, r) for f, t, d, r in comp.rates if f == src and t == dst and d <= day]
        if not found:
            raise ApiError(404, f"no exchange rate {src} to {dst}")
        return max(found)[1]

    # ---------------------------------------------------------------- reads
    def company_ids(self):
        with self.lock:
            return sorted(self._companies)

    def tokens(self):
        """{token: (user id, company id)}"""
        with self.lock:
            return dict(self._tokens)

    def company_info(self, cid):
        with self.lock:
            return copy.deepcopy(self._company(cid).info)

    def delivery_types(self, cid):
        with self.lock:
            return list(self._company(cid).delivery_types)

    def element(self, kind, cid, id):
        """A copy of one stored object as an lxml element, or None."""
        with self.lock:
            found = self._company(cid).objects[kind].get(int(id))
            return copy.deepcopy(found) if found is not None else None

    def elements(self, kind, cid, dimension_id=None):
        """Copies of all stored objects of ``kind`` in a company, ordered by id."""
        with self.lock:
            comp = self._company(cid)
            items = sorted(comp.objects[kind].items())
            if kind == "dimension-entry" and dimension_id is not None:
                items = [
                    (i, e) for i, e in items if comp.entry_dimension.get(i) == int(dimension_id)
                ]
            return [copy.deepcopy(e) for _i, e in items]

    def get(self, kind, cid, id):
        """One stored object as a dict (see xmlutil.to_dict: values are strings), or None."""
        found = self.element(kind, cid, id)
        return to_dict(found) if found is not None else None

    def list(self, kind, cid, dimension_id=None):
        return [to_dict(e) for e in self.elements(kind, cid, dimension_id)]

    def users(self, cid):
        return self.list("user", cid)

    def clients(self, cid):
        return self.list("client", cid)

    def client(self, cid, id):
        return self.get("client", cid, id)

    def products(self, cid):
        return self.list("product", cid)

    def product(self, cid, id):
        return self.get("product", cid, id)

    def dimensions(self, cid):
        return self.list("dimension", cid)

    def dimension_entries(self, cid, dimension_id=None):
        return self.list("dimension-entry", cid, dimension_id)

    def invoices(self, cid):
        return self.list("client-invoice", cid)

    def invoice(self, cid, id):
        return self.get("client-invoice", cid, id)

    # ---------------------------------------------------------- persistence
    def to_json(self):
        with self.lock:
            companies = {}
            for cid, comp in self._companies.items():
                companies[str(cid)] = {
                    "info": _xml_text(comp.info),
                    "delivery_types": [[n, d] for n, d in comp.delivery_types],
                    "rates": [list(r) for r in comp.rates],
                    "next_invoice_nr": comp.next_invoice_nr,
                    "entry_dimension": {str(k): v for k, v in comp.entry_dimension.items()},
                    "objects": {
                        kind: {str(i): _xml_text(e) for i, e in sorted(objs.items())}
                        for kind, objs in comp.objects.items()
                    },
                }
            return {
                "format": _STATE_FORMAT,
                "version": 1,
                "counters": dict(self._counters),
                "vat_unit": self.vat_unit,
                "tokens": {t: list(owner) for t, owner in self._tokens.items()},
                "companies": companies,
            }

    def from_json(self, data):
        if data.get("format") != _STATE_FORMAT or data.get("version") != 1:
            raise ValueError("not a kleer sandbox state file (format/version)")
        with self.lock:
            self._wipe()
            self.vat_unit = data.get("vat_unit", "percent")
            self._counters.update({k: int(v) for k, v in data["counters"].items()})
            self._tokens = {t: (int(u), int(c)) for t, (u, c) in data["tokens"].items()}
            for cid, raw in data["companies"].items():
                comp = _Company(
                    info=parse_xml(raw["info"]),
                    delivery_types=[(n, bool(d)) for n, d in raw["delivery_types"]],
                    rates=[tuple(r) for r in raw["rates"]],
                    next_invoice_nr=int(raw["next_invoice_nr"]),
                    entry_dimension={int(k): int(v) for k, v in raw["entry_dimension"].items()},
                )
                for kind in KINDS:
                    for i, text in raw["objects"].get(kind, {}).items():
                        comp.objects[kind][int(i)] = parse_xml(text)
                self._companies[int(cid)] = comp

    def save(self, path):
        """Write the state as JSON, atomically (temp file + rename)."""
        path = os.fspath(path)
        with self.lock:
            text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
            directory = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(prefix=".sandbox-state-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def load(self, path):
        with open(path, encoding="utf-8") as handle:
            self.from_json(json.load(handle))


def _order(kind):
    return xsd_sequence(kind)


def _xml_text(element):
    return etree.tostring(element, encoding="unicode")
