# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Demo data of the sandbox: two companies, users, products, dimensions, clients, rates."""

from decimal import Decimal

from stdnum import luhn

from .xmlutil import el

TOKEN = "sandbox-token"
COMPANY_ID = 1
OTHER_TOKEN = "other-token"
OTHER_COMPANY_ID = 2

RATES = (
    ("EUR", "SEK", "11.4250"),
    ("USD", "SEK", "10.5870"),
    ("NOK", "SEK", "0.9820"),
    ("DKK", "SEK", "1.5320"),
)


def orgno(n):
    """A valid Swedish organisation number (Luhn check digit) for test data
    number ``n``: Odoo's VAT check (base_vat, with l10n_se) refuses others."""
    base = f"55{int(n):07d}"
    return base + luhn.calc_check_digit(base)


def _address(address1, zip_code, state, country="Sverige", address2=""):
    return el(
        "address",
        None,
        el("address1", address1),
        el("address2", address2),
        el("zip-code", zip_code),
        el("state", state),
        el("country", country),
    )


def client_element(
    name,
    orgno,
    email,
    address,
    user_id,
    client_type,
    vat_nr=None,
    payment_days=30,
    contact="",
    country_code="SE",
    currency=None,
    phone="",
    notes=None,
    delivery_type=None,
    entry_ids=None,
    active=None,
):
    """A ``<client>`` in the XSD's order; the optional elements only when given
    (``entry_ids=[]`` gives an empty ``<dimension-entries>``, as Kleer serves it)."""
    entries = None
    if entry_ids is not None:
        entries = el(
            "dimension-entries",
            None,
            *(el("dimension-entry", None, el("id", eid)) for eid in entry_ids),
        )
    return el(
        "client",
        None,
        el("id", 0),
        el("foreign-id", ""),
        el("name", name),
        el("contact", contact),
        address,
        el("email", email),
        el("client-type", client_type),
        el("country-code", country_code),
        el("currency-type", currency) if currency else None,
        el("notes", notes) if notes else None,
        el("accountnr", 0),
        el("payment-days", payment_days),
        el("orgno", orgno),
        el("phone", phone),
        el("user", None, el("id", user_id)),
        el("delivery-type", delivery_type) if delivery_type else None,
        el("vat-nr", vat_nr) if vat_nr else None,
        entries,
        el("active", "true" if active else "false") if active is not None else None,
    )


def product_element(name, unit, price, vat, account_nr, type_="Goods", foreign_id=""):
    """``vat`` as the store writes it (25 or 0.25, see ``store_vat``)."""
    return el(
        "product",
        None,
        el("id", 0),
        el("foreign-id", foreign_id),
        el("name", name),
        el("type", type_),
        el("unit", unit),
        el("price", price),
        el("ean", 0),
        el("account-nr", account_nr),
        el("vat-percentage", vat),
    )


def entry_element(name, foreign_id, description=""):
    return el(
        "dimension-entry-writeable",
        None,
        el("name", name),
        el("foreign-id", foreign_id),
        el("description", description),
        el("active", "true"),
    )


def store_vat(store, percent):
    """A VAT percent (25) in the store's convention (25 or 0.25)."""
    return percent if store.vat_unit == "percent" else Decimal(percent) / 100


def populate(store):
    """Fill an empty store. Explicit ids keep the documented seed stable."""
    cid = store.add_company(
        COMPANY_ID,
        "Sandbox AB",
        "556677-8899",
        currency="SEK",
        bankgiro=56781234,
        supplier_invoice_email="sandbox-ab@inbox.example.se",
    )
    store.add_user(cid, "Anna Admin", "anna@example.se", id=1)
    store.add_user(cid, "Bertil Sälj", "bertil@example.se", id=2)
    store.add_user(cid, "Cecilia Slutat", "cecilia@example.se", active=False, id=3)
    store.add_token(TOKEN, 1, cid)

    products = (
        (101, "Konsulttimme", "h", 120000, 25, 3041, "Services"),
        (102, "Bok", "st", 25000, 6, 3003, "Goods"),
        (103, "Livsmedel", "kg", 8000, 12, 3002, "Goods"),
        (104, "Övrigt", "st", 10000, 25, 3001, "Goods"),
    )
    for pid, name, unit, price, vat, account, kind in products:
        store.create_product(
            cid,
            product_element(name, unit, price, store_vat(store, vat), account, kind, f"P{pid}"),
            id=pid,
        )

    cost_centre = store.add_dimension(
        cid, "Kostnadsställe", "Kostnadsställen", foreign_id="KS", id=1
    )
    store.create_dimension_entry(cid, cost_centre, entry_element("Stockholm", "KS-STO"), id=10)
    store.create_dimension_entry(cid, cost_centre, entry_element("Göteborg", "KS-GBG"), id=11)
    project = store.add_dimension(cid, "Projekt", "Projekt", foreign_id="PR", id=2)
    store.create_dimension_entry(cid, project, entry_element("Alfa", "PR-ALFA"), id=20)
    store.create_dimension_entry(cid, project, entry_element("Beta", "PR-BETA"), id=21)

    store.create_client(
        cid,
        client_element(
            "Kund AB",
            "556000-1116",
            "faktura@kund.example.se",
            _address("Storgatan 1", "111 22", "Stockholm"),
            2,
            "Organisation",
            vat_nr="SE556000111601",
            contact="Karin Kund",
        ),
        id=201,
    )
    store.create_client(
        cid,
        client_element(
            "Sven Svensson",
            "19800101-1234",
            "sven@example.se",
            _address("Lillgatan 2", "411 01", "Göteborg"),
            1,
            "Person",
            payment_days=10,
        ),
        id=202,
    )
    for src, dst, rate in RATES:
        store.add_rate(cid, src, dst, rate)

    # A second company, so that tests can check isolation and the 403 of a foreign token.
    other = store.add_company(
        OTHER_COMPANY_ID,
        "Other AB",
        "559988-7766",
        supplier_invoice_email="other-ab@inbox.example.se",
    )
    store.add_user(other, "Olle Other", "olle@example.se", id=4)
    store.add_token(OTHER_TOKEN, 4, other)
    store.create_product(
        other,
        product_element("Tjänst", "h", 95000, store_vat(store, 25), 3041, "Services", "P105"),
        id=105,
    )
    store.create_client(
        other,
        client_element(
            "Annan Kund AB",
            "556111-2227",
            "ap@annan.example.se",
            _address("Torget 3", "211 20", "Malmö"),
            4,
            "Organisation",
        ),
        id=203,
    )
    for src, dst, rate in RATES:
        store.add_rate(other, src, dst, rate)
