"""Kleer XML: safe parsing, XSD validation, and the mapping between the data
objects of ``types`` and Kleer's elements.

Element order follows the XSD's strict sequences; read-only and deprecated
elements that the XSD still requires are written with their neutral value.
"""

import functools
import os
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from . import types as t
from .errors import KleerBadResponse, KleerValidationError

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema", "kleer-api.xsd")

# A safe parser: no entity expansion, no DTD, no network, libxml2's default
# size limits (huge_tree off).
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=True,
)


@functools.cache
def schema():
    return etree.XMLSchema(etree.parse(SCHEMA_PATH))


def parse(data):
    """Bytes -> root element. Refuses a DOCTYPE (entity tricks) and anything
    that is not well-formed XML."""
    if not data or not data.strip():
        raise KleerBadResponse("Kleer answered with an empty body")
    head = data[:2048].lstrip()
    if head[:1] != b"<":
        raise KleerBadResponse("Kleer's answer is not XML")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise KleerBadResponse(f"Kleer's answer is not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise KleerBadResponse("Kleer's answer carries a DOCTYPE, refused")
    return root


def iter_items(source, root_tag, item_tag, convert):
    """Parse a list answer from a file as a stream, yielding
    ``convert(item)`` for each ``item_tag`` child of the ``root_tag`` root and
    freeing each one after use. Same safety rules as ``parse``."""
    head = source.read(4096)
    source.seek(0)
    if not head.strip():
        raise KleerBadResponse("Kleer answered with an empty body")
    if head.lstrip()[:1] != b"<":
        raise KleerBadResponse("Kleer's answer is not XML")
    if b"<!DOCTYPE" in head:
        raise KleerBadResponse("Kleer's answer carries a DOCTYPE, refused")
    # Only the items' end events: lxml then skips the other elements' events
    # (about 35 per client, five times faster on 10,000 clients).
    events = etree.iterparse(
        source,
        events=("end",),
        tag=item_tag,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=True,
    )
    root = None
    try:
        for _event, el in events:
            parent = el.getparent()
            if parent is None:  # the answer is one item, not a list
                raise KleerBadResponse(f"Kleer answered <{el.tag}> where <{root_tag}> was expected")
            if parent.getparent() is not None:
                continue  # an element of that name deeper down, not an item
            if root is None:
                root = parent
                if root.tag != root_tag:
                    raise KleerBadResponse(
                        f"Kleer answered <{root.tag}> where <{root_tag}> was expected"
                    )
            yield convert(el)
            el.clear()
            while el.getprevious() is not None:
                del root[0]
        if root is None and events.root is not None and events.root.tag != root_tag:
            raise KleerBadResponse(
                f"Kleer answered <{events.root.tag}> where <{root_tag}> was expected"
            )
    except etree.XMLSyntaxError as exc:
        raise KleerBadResponse(f"Kleer's answer is not well-formed XML: {exc}") from exc


def validate(root):
    """Raise KleerValidationError when ``root`` does not match Kleer's XSD."""
    xsd = schema()
    if not xsd.validate(root):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:5])
        raise KleerValidationError(f"XML does not match Kleer's schema: {errors}")


def to_bytes(root):
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- VAT unit ---------------------------------------------------------------

# Kleer does not say whether a VAT (or discount) percentage is written 25 or
# 0.25 (api-notes §2). Objects in ``types`` always hold percent (25); the
# unit is applied only here, on the way out, and both forms are read.
PERCENT, FRACTION = "percent", "fraction"
VAT_UNITS = (PERCENT, FRACTION)


def percent_from_kleer(value):
    """A VAT number read from Kleer -> percent: a value <= 1 is a fraction
    (0.25 -> 25); no Swedish VAT rate is 1 % or less."""
    if value is None:
        return None
    return (value * 100).normalize() if abs(value) <= 1 else value


def percent_to_kleer(value, unit=PERCENT):
    """Percent (25) -> the number written in ``unit`` (25 or 0.25)."""
    if value is None:
        return None
    if unit not in VAT_UNITS:
        raise ValueError(f"unknown VAT unit {unit!r}")
    return Decimal(value) / 100 if unit == FRACTION else value


# -- writing helpers ---------------------------------------------------------


def _fmt(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _sub(parent, tag, value=None):
    el = etree.SubElement(parent, tag)
    if value is not None:
        el.text = _fmt(value)
    return el


def _opt(parent, tag, value):
    """Write an optional element only when it has a value."""
    if value is not None:
        _sub(parent, tag, value)


def _ref(parent, tag, ref_id):
    _sub(_sub(parent, tag), "id", ref_id)


def _address(parent, tag, addr):
    el = _sub(parent, tag)
    for child, value in (
        ("address1", addr.address1),
        ("address2", addr.address2),
        ("zip-code", addr.zip_code),
        ("state", addr.state),
        ("country", addr.country),
    ):
        _sub(el, child, value or "")


def _entry_refs(parent, ids):
    if ids is not None:
        wrapper = _sub(parent, "dimension-entries")
        for entry_id in ids:
            _ref(wrapper, "dimension-entry", entry_id)


def client_to_xml(c):
    root = etree.Element("client")
    _sub(root, "id", c.id or 0)
    _sub(root, "foreign-id", c.foreign_id or "")
    _sub(root, "name", c.name)
    _sub(root, "contact", c.contact or "")
    _address(root, "address", c.address)
    _sub(root, "email", c.email or "")
    _opt(root, "client-type", c.client_type)
    _sub(root, "country-code", c.country_code or "")
    _opt(root, "currency-type", c.currency)
    _opt(root, "notes", c.notes)
    _sub(root, "accountnr", 0)  # deprecated, Kleer asks for 0
    _sub(root, "payment-days", c.payment_days or 0)
    _sub(root, "orgno", c.orgno or "")
    _sub(root, "phone", c.phone or "")
    _ref(root, "user", c.user_id or 0)
    _opt(root, "delivery-type", c.delivery_type)
    _opt(root, "vat-nr", c.vat_nr)
    _entry_refs(root, c.dimension_entry_ids)
    _opt(root, "active", c.active)
    return root


def product_to_xml(p, vat_unit=PERCENT):
    root = etree.Element("product")
    _sub(root, "id", p.id or 0)
    _sub(root, "foreign-id", p.foreign_id or "")
    _sub(root, "name", p.name)
    _opt(root, "type", p.type)
    _sub(root, "unit", p.unit or "")
    _sub(root, "price", p.price)
    _sub(root, "ean", 0)  # deprecated, still required in the sequence
    _entry_refs(root, p.dimension_entry_ids)
    _opt(root, "account-nr", p.account_nr)
    _opt(root, "vat-percentage", percent_to_kleer(p.vat_percentage, vat_unit))
    return root


def dimension_entry_to_xml(e):
    root = etree.Element("dimension-entry-writeable")
    _sub(root, "name", e.name)
    _opt(root, "foreign-id", e.foreign_id)
    _sub(root, "description", e.description or "")
    _opt(root, "start-date", e.start_date)
    _opt(root, "end-date", e.end_date)
    _sub(root, "active", e.active)
    return root


def _period(parent, period):
    if period:
        el = _sub(parent, "period")
        _sub(el, "start-date", period[0])
        _sub(el, "end-date", period[1])


def _row(parent, r, vat_unit):
    row = _sub(parent, "row")
    _sub(row, "quantity", r.quantity)
    _sub(row, "price", r.price)
    _sub(row, "vat", percent_to_kleer(r.vat, vat_unit))
    _ref(row, "product", r.product_id)
    _sub(row, "unit", r.unit or "")
    _sub(row, "description", r.description or "")
    _sub(row, "account-nr", 0)  # deprecated: Kleer takes it from the product
    if r.dimension_entry_ids:
        dims = _sub(row, "dimensions")
        for entry_id in r.dimension_entry_ids:
            _sub(_sub(dims, "dimension-entry"), "id", entry_id)
    _period(row, r.period)
    _opt(row, "delivery-date", r.delivery_date)
    if r.discount_absolute is not None:
        _sub(_sub(row, "discount"), "absolute", r.discount_absolute)
    elif r.discount_percentage is not None:
        _sub(
            _sub(row, "discount"),
            "percentage",
            percent_to_kleer(r.discount_percentage, vat_unit),
        )


def invoice_to_xml(inv, vat_unit=PERCENT):
    root = etree.Element("client-invoice")
    _sub(root, "id", inv.id or 0)
    _sub(root, "invoice-nr", 0)  # read-only: Kleer numbers on certification
    _opt(root, "debit-invoice-nr", inv.debit_invoice_nr)
    _sub(root, "foreign-id", inv.foreign_id or "")
    _sub(root, "po-nr", inv.po_nr or "")
    _ref(root, "client-ref", inv.client_id)
    _sub(root, "your-reference", inv.your_reference or "")
    _ref(root, "our-reference", inv.our_reference_id or 0)
    _address(root, "invoice-address", inv.invoice_address)
    _sub(root, "invoice-email", inv.invoice_email or "")
    _sub(root, "delivery-name", inv.delivery_name or "")
    _address(root, "delivery-address", inv.delivery_address)
    _sub(root, "delivery-email", inv.delivery_email or "")
    _sub(root, "invoice-date", inv.invoice_date)
    _sub(root, "due-date", inv.due_date)
    # The XSD types it xs:date: an empty value never validates.
    _sub(root, "delivery-date", inv.delivery_date or inv.invoice_date)
    _period(root, inv.period)
    _sub(root, "currency", inv.currency)
    _opt(root, "currency-rate", inv.currency_rate)
    _sub(root, "certified", False)
    _sub(root, "sent", False)
    _opt(root, "notes", inv.notes)
    _opt(root, "delivery-type", inv.delivery_type)
    _opt(root, "vat-nr", inv.vat_nr)
    _opt(root, "country-code", inv.country_code)
    _sub(root, "remaining", 0)
    _sub(root, "disabled", False)
    if inv.files is not None:
        files = _sub(root, "files")
        for f in inv.files:
            el = _sub(files, "file")
            _sub(el, "filename", f.filename)
            _sub(el, "data", f.data.hex().upper())
    rows = _sub(root, "rows")
    for r in inv.rows:
        _row(rows, r, vat_unit)
    return root


# -- reading helpers ---------------------------------------------------------


def _text(el, path, default=""):
    found = el.find(path)
    if found is None or found.text is None:
        return default
    return found.text


def _int(el, path, default=0):
    text = _text(el, path, None)
    return int(text) if text not in (None, "") else default


def _bool(el, path, default=False):
    text = _text(el, path, None)
    return text.strip().lower() == "true" if text is not None else default


def _decimal(el, path, default=None):
    text = _text(el, path, None)
    return Decimal(text) if text not in (None, "") else default


def _date(el, path):
    text = _text(el, path, None)
    return date.fromisoformat(text[:10]) if text else None


def _texts(el):
    """{tag: text} of the children of ``el`` (the first of each tag), in one
    pass: a ``find`` per field walks the children again for each field."""
    texts = {}
    for node in el:
        texts.setdefault(node.tag, node.text)
    return texts


def _address_from(el):
    if el is None:
        return t.Address()
    x = _texts(el)
    return t.Address(
        address1=x.get("address1") or "",
        address2=x.get("address2") or "",
        zip_code=x.get("zip-code") or "",
        state=x.get("state") or "",
        country=x.get("country") or "",
    )


def _entry_ids(el, path="dimension-entries/dimension-entry/id"):
    return [int(x.text) for x in el.findall(path) if x.text]


def client_from_xml(el):
    x = _texts(el)

    def text(tag, default=""):
        value = x.get(tag)
        return default if value is None else value

    def number(tag, default=0):
        value = x.get(tag)
        return int(value) if value not in (None, "") else default

    active = x.get("active")
    return t.Client(
        id=number("id"),
        foreign_id=text("foreign-id"),
        name=text("name"),
        contact=text("contact"),
        address=_address_from(el.find("address")),
        email=text("email"),
        client_type=text("client-type", None),
        country_code=text("country-code"),
        currency=text("currency-type", None),
        notes=text("notes", None),
        payment_days=number("payment-days"),
        orgno=text("orgno"),
        phone=text("phone"),
        user_id=_int(el, "user/id") if "user" in x else 0,
        delivery_type=text("delivery-type", None),
        vat_nr=text("vat-nr", None),
        dimension_entry_ids=_entry_ids(el),
        active=active.strip().lower() == "true" if active is not None else True,
    )


def product_from_xml(el):
    return t.Product(
        id=_int(el, "id"),
        foreign_id=_text(el, "foreign-id"),
        name=_text(el, "name"),
        type=_text(el, "type", None),
        unit=_text(el, "unit"),
        price=_int(el, "price"),
        dimension_entry_ids=_entry_ids(el),
        account_nr=_int(el, "account-nr", None),
        vat_percentage=percent_from_kleer(_decimal(el, "vat-percentage")),
    )


def user_from_xml(el):
    return t.User(
        id=_int(el, "id"),
        name=_text(el, "name"),
        email=_text(el, "email"),
        active=_bool(el, "active", True),
        foreign_id=_text(el, "foreign-id", None),
        dimension_entry_id=_int(el, "dimension-entry/id", None),
    )


def dimension_from_xml(el):
    return t.Dimension(
        id=_int(el, "id"),
        name=_text(el, "name"),
        foreign_id=_text(el, "foreign-id", None),
        description=_text(el, "description"),
        active=_bool(el, "active", True),
    )


def dimension_entry_from_xml(el):
    return t.DimensionEntry(
        id=_int(el, "id"),
        name=_text(el, "name"),
        foreign_id=_text(el, "foreign-id", None),
        description=_text(el, "description"),
        start_date=_date(el, "start-date"),
        end_date=_date(el, "end-date"),
        active=_bool(el, "active", True),
    )


def company_info_from_xml(el):
    return t.CompanyInfo(
        name=_text(el, "name"),
        orgno=_text(el, "orgno"),
        accounting_currency=_text(el, "accounting-currency"),
        supplier_invoice_email=_text(el, "supplier-invoice-email"),
        bankgiro=_int(el, "bankgiro", None),
    )


def delivery_type_from_xml(el):
    return t.DeliveryType(name=_text(el, "name"), default=_bool(el, "default"))


def exchange_rate_from_xml(el):
    return t.ExchangeRate(
        from_currency=_text(el, "from-currency"),
        to_currency=_text(el, "to-currency"),
        rate=_decimal(el, "rate"),
    )


def _period_from(el):
    if el is None:
        return None
    return (_date(el, "start-date"), _date(el, "end-date"))


def _row_from(el):
    return t.InvoiceRow(
        id=_int(el, "id"),
        product_id=_int(el, "product/id"),
        quantity=_decimal(el, "quantity", Decimal(0)),
        price=_int(el, "price"),
        vat=percent_from_kleer(_decimal(el, "vat", Decimal(0))),
        unit=_text(el, "unit"),
        description=_text(el, "description"),
        discount_percentage=_decimal(el, "discount/percentage"),
        discount_absolute=_int(el, "discount/absolute", None),
        period=_period_from(el.find("period")),
        dimension_entry_ids=_entry_ids(el, "dimensions/dimension-entry/id"),
        delivery_date=_date(el, "delivery-date"),
    )


def invoice_from_xml(el):
    files = el.find("files")
    return t.Invoice(
        id=_int(el, "id"),
        invoice_nr=_int(el, "invoice-nr"),
        debit_invoice_nr=_int(el, "debit-invoice-nr", None),
        foreign_id=_text(el, "foreign-id"),
        po_nr=_text(el, "po-nr"),
        client_id=_int(el, "client-ref/id"),
        your_reference=_text(el, "your-reference"),
        our_reference_id=_int(el, "our-reference/id"),
        invoice_address=_address_from(el.find("invoice-address")),
        invoice_email=_text(el, "invoice-email"),
        delivery_name=_text(el, "delivery-name"),
        delivery_address=_address_from(el.find("delivery-address")),
        delivery_email=_text(el, "delivery-email"),
        invoice_date=_date(el, "invoice-date"),
        due_date=_date(el, "due-date"),
        delivery_date=_date(el, "delivery-date"),
        period=_period_from(el.find("period")),
        amount=_int(el, "amount", None),
        vat_amount=_int(el, "vat", None),
        currency=_text(el, "currency"),
        currency_rate=_decimal(el, "currency-rate"),
        certified=_bool(el, "certified"),
        sent=_bool(el, "sent"),
        notes=_text(el, "notes", None),
        delivery_type=_text(el, "delivery-type", None),
        vat_nr=_text(el, "vat-nr", None),
        country_code=_text(el, "country-code", None),
        remaining=_int(el, "remaining"),
        last_payment_date=_date(el, "last-payment-date"),
        disabled=_bool(el, "disabled"),
        credit_invoice_ids=[int(x.text) for x in el.findall("credit-invoices/client-invoice/id")],
        files=None
        if files is None
        else [
            t.File(_text(f, "filename"), bytes.fromhex(_text(f, "data")))
            for f in files.findall("file")
        ],
        rows=[_row_from(r) for r in el.findall("rows/row")],
    )


def invoice_page_from_xml(el):
    return t.InvoicePage(
        invoices=[invoice_from_xml(x) for x in el.findall("client-invoice")],
        offset=int(el.get("offset", 0)),
        limit=int(el.get("limit", 0)),
        size=int(el.get("size", 0)),
    )


def expect_root(root, *tags):
    if root.tag not in tags:
        raise KleerBadResponse(
            f"Kleer answered <{root.tag}> where <{'> or <'.join(tags)}> was expected"
        )
    return root


def error_message(data):
    """The message of an ``<error>`` body, or None when the body is not one."""
    try:
        root = parse(data)
    except KleerBadResponse:
        return None
    if root.tag == "error":
        return _text(root, "message") or None
    return None
