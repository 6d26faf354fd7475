# Copyright 2026 kleer_connector developers
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Kleer sandbox, spoken to over real HTTP with ``requests`` (not the project's client)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from lxml import etree

from kleer_api.sandbox import SandboxServer
from kleer_api.sandbox.xmlutil import SCHEMA_PATH

SCHEMA = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
ADDON_DIR = pathlib.Path(__file__).resolve().parents[1] / "kleer_connector"
_DEFAULT = object()


def call(sb, method, rel, body=None, token=_DEFAULT, params=None, timeout=5, cid=None):
    headers = {"Content-Type": "application/xml; charset=utf-8"}
    token = sb.token if token is _DEFAULT else token
    if token is not None:
        headers["X-Token"] = token
    if isinstance(body, str):
        body = body.encode("utf-8")
    return requests.request(
        method, sb.url(rel, cid), data=body, headers=headers, params=params, timeout=timeout
    )


def valid(resp, status=200):
    """Parse an answer, asserting its status, content type, and validity against the XSD."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/xml; charset=utf-8"
    doc = etree.fromstring(resp.content, SAFE)
    assert SCHEMA.validate(doc), f"{SCHEMA.error_log}\n{resp.text}"
    return doc


def error_message(resp, status):
    doc = valid(resp, status)
    assert doc.tag == "error"
    return doc.findtext("message")


def new_id(resp, tag="created"):
    doc = valid(resp)
    assert doc.tag == tag
    return int(doc.findtext("id"))


ADDRESS = (
    "<address1>Gatan 1</address1><address2></address2><zip-code>123 45</zip-code>"
    "<state>Uppsala</state><country>Sverige</country>"
)


def client_xml(name="Ny Kund AB", foreign_id="res.partner,7", user_id=1, extra=""):
    return (
        f"<client><id>0</id><foreign-id>{foreign_id}</foreign-id><name>{name}</name><contact>Kim</contact>"
        f"<address>{ADDRESS}</address><email>kim@ny.example.se</email><client-type>Organisation</client-type>"
        "<country-code>SE</country-code><accountnr>0</accountnr><payment-days>30</payment-days>"
        f"<orgno>556123-4567</orgno><phone>018-12 34 56</phone><user><id>{user_id}</id></user>{extra}</client>"  # noqa: E501
    )


def row_xml(product=101, qty="1", price=120000, vat="25", discount=""):
    return (
        f"<row><quantity>{qty}</quantity><price>{price}</price><vat>{vat}</vat><product><id>{product}</id></product>"
        f"<unit>h</unit><description>Rad</description><account-nr>0</account-nr>{discount}</row>"
    )


def invoice_xml(
    rows=None,
    foreign_id="account.move,1",
    client=201,
    date="2026-03-10",
    debit_nr=None,
    your_ref="Ref",
    po="",
    notes=None,
    our_ref=0,
    files="",
    tamper=False,
):
    rows = row_xml() if rows is None else rows
    head = (
        "<id>77</id><invoice-nr>5</invoice-nr>"
        if tamper
        else "<id>0</id><invoice-nr>0</invoice-nr>"
    )
    if debit_nr is not None:
        head += f"<debit-invoice-nr>{debit_nr}</debit-invoice-nr>"
    return (
        f"<client-invoice>{head}<foreign-id>{foreign_id}</foreign-id><po-nr>{po}</po-nr>"
        f"<client-ref><id>{client}</id></client-ref><your-reference>{your_ref}</your-reference>"
        f"<our-reference><id>{our_ref}</id></our-reference><invoice-address>{ADDRESS}</invoice-address>"
        "<invoice-email>f@kund.example.se</invoice-email><delivery-name>Kund AB</delivery-name>"
        f"<delivery-address>{ADDRESS}</delivery-address><delivery-email></delivery-email>"
        f"<invoice-date>{date}</invoice-date><due-date>{date}</due-date><delivery-date>{date}</delivery-date>"
        f"<currency>SEK</currency><certified>{'true' if tamper else 'false'}</certified><sent>false</sent>"  # noqa: E501
        + (f"<notes>{notes}</notes>" if notes is not None else "")
        + f"<remaining>{999 if tamper else 0}</remaining><disabled>false</disabled>{files}<rows>{rows}</rows>"  # noqa: E501
        "</client-invoice>"
    )


FILES = "<files><file><filename>a.pdf</filename><data>255044462D</data></file></files>"


def create_invoice(sb, **kw):
    return new_id(call(sb, "PUT", "/client/invoice", invoice_xml(**kw)))


def certify(sb, invoice_id):
    return call(sb, "POST", f"/client/invoice/{invoice_id}/certify")


# ---------------------------------------------------------------- auth, routes
def test_auth_and_routing_errors(sb):
    assert error_message(call(sb, "GET", "/info", token=None), 401) == "Invalid token"
    assert error_message(call(sb, "GET", "/info", token="nope"), 401) == "Invalid token"
    assert "company 1" in error_message(call(sb, "GET", "/info", token=sb.other_token), 403)
    assert (
        valid(call(sb, "GET", "/info", cid=2, token=sb.other_token)).findtext("name") == "Other AB"
    )
    assert "no such resource" in error_message(call(sb, "GET", "/nothing"), 404)
    assert error_message(call(sb, "GET", "/client/"), 404)  # no trailing-slash leniency
    resp = call(sb, "DELETE", "/client")
    error_message(resp, 405)
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "PUT"}
    assert error_message(call(sb, "GET", "/client/999999"), 404) == "client 999999 not found"
    # Company 2's client is invisible to company 1.
    error_message(call(sb, "GET", "/client/203"), 404)
    error_message(call(sb, "GET", "/dimension/99/entry"), 404)


def test_reference_data_and_every_get_validates(sb):
    info = valid(call(sb, "GET", "/info"))
    assert [info.findtext(t) for t in ("name", "orgno", "accounting-currency")] == [
        "Sandbox AB",
        "556677-8899",
        "SEK",
    ]
    users = valid(call(sb, "GET", "/user"))
    assert [u.findtext("name") for u in users] == ["Anna Admin", "Bertil Sälj", "Cecilia Slutat"]
    assert users[2].findtext("active") == "false"
    assert valid(call(sb, "GET", "/user/me")).findtext("email") == "anna@example.se"
    assert valid(call(sb, "GET", "/user/2")).findtext("name") == "Bertil Sälj"
    types = valid(call(sb, "GET", "/client/deliverytype"))
    assert [(t.findtext("name"), t.findtext("default")) for t in types] == [
        ("Email", "true"),
        ("Mail", "false"),
        ("Efaktura", "false"),
    ]
    products = {p.findtext("id"): p for p in valid(call(sb, "GET", "/product"))}
    assert products["101"].findtext("name") == "Konsulttimme"
    assert products["101"].findtext("price") == "120000"
    assert products["102"].findtext("vat-percentage") == "6"
    assert valid(call(sb, "GET", "/product/103")).findtext("vat-percentage") == "12"
    dims = valid(call(sb, "GET", "/dimension"))
    assert [d.findtext("name") for d in dims] == ["Kostnadsställe", "Projekt"]
    entries = valid(call(sb, "GET", "/dimension/2/entry"))
    assert [(e.findtext("id"), e.findtext("name")) for e in entries] == [
        ("20", "Alfa"),
        ("21", "Beta"),
    ]
    clients = valid(call(sb, "GET", "/client"))
    assert [c.findtext("client-type") for c in clients] == ["Organisation", "Person"]
    assert clients[0].findtext("vat-nr") == "SE556000111601"
    valid(call(sb, "GET", "/client/202"))
    listing = valid(call(sb, "GET", "/client/invoice"))
    assert listing.attrib == {"offset": "0", "limit": "0", "size": "0"}


def test_exchange_rate(sb):
    rate = valid(
        call(sb, "GET", "/exchange-rate", params={"from-currency": "EUR", "to-currency": "SEK"})
    )
    assert [rate.findtext(t) for t in ("from-currency", "to-currency", "rate")] == [
        "EUR",
        "SEK",
        "11.4250",
    ]
    dated = {"from-currency": "usd", "to-currency": "SEK", "date": "2026-01-31"}
    assert valid(call(sb, "GET", "/exchange-rate", params=dated)).findtext("rate") == "10.5870"
    same = {"from-currency": "SEK", "to-currency": "SEK"}
    assert valid(call(sb, "GET", "/exchange-rate", params=same)).findtext("rate") == "1"
    unknown = {"from-currency": "GBP", "to-currency": "SEK"}
    error_message(call(sb, "GET", "/exchange-rate", params=unknown), 404)
    error_message(call(sb, "GET", "/exchange-rate", params={"from-currency": "EUR"}), 400)
    bad_date = {"from-currency": "EUR", "to-currency": "SEK", "date": "31/01/2026"}
    error_message(call(sb, "GET", "/exchange-rate", params=bad_date), 400)


# ------------------------------------------------------------------- clients
def test_client_round_trip(sb):
    cid = new_id(call(sb, "PUT", "/client", client_xml(extra="<vat-nr>SE556123456701</vat-nr>")))
    got = valid(call(sb, "GET", f"/client/{cid}"))
    assert got.findtext("id") == str(cid)
    assert got.findtext("name") == "Ny Kund AB"
    assert got.findtext("address/state") == "Uppsala"
    assert got.findtext("delivery-type") == "Email"  # empty on create: the company default
    assert cid in [int(c.findtext("id")) for c in valid(call(sb, "GET", "/client"))]

    body = client_xml(
        name="Ny Kund AB (omdöpt)", user_id=2, extra="<delivery-type>Mail</delivery-type>"
    )
    assert new_id(call(sb, "POST", f"/client/{cid}", body), "saved") == cid
    stored = sb.state.client(sb.company_id, cid)
    assert stored["name"] == "Ny Kund AB (omdöpt)"
    assert stored["user"] == {"id": "2"}
    assert stored["delivery-type"] == "Mail"
    assert "vat-nr" not in stored  # update replaces the stored fields
    # Empty delivery-type on update leaves the stored value.
    call(sb, "POST", f"/client/{cid}", client_xml(extra="<delivery-type></delivery-type>"))
    assert sb.state.client(sb.company_id, cid)["delivery-type"] == "Mail"
    assert sb.requests[-1].status == 200

    error_message(call(sb, "POST", "/client/999999", client_xml()), 404)
    assert "user/id" in error_message(call(sb, "PUT", "/client", client_xml(user_id=42)), 400)
    bad_type = client_xml(extra="<delivery-type>Brevduva</delivery-type>")
    assert "delivery-type" in error_message(call(sb, "PUT", "/client", bad_type), 400)
    entries = (
        "<dimension-entries><dimension-entry><id>99</id></dimension-entry></dimension-entries>"
    )
    bad_entry = client_xml(extra=entries)
    assert "dimension entry" in error_message(call(sb, "PUT", "/client", bad_entry), 400)


def test_product_and_dimension_entry_writes(sb):
    product = (
        "<product><id>0</id><foreign-id>product.product,9</foreign-id><name>Kurs</name><type>Services</type>"
        "<unit>dag</unit><price>900000</price><ean>0</ean><vat-percentage>25</vat-percentage></product>"
    )
    pid = new_id(call(sb, "PUT", "/product", product))
    assert valid(call(sb, "GET", f"/product/{pid}")).findtext("price") == "900000"
    changed = product.replace("900000", "950000")
    assert new_id(call(sb, "POST", f"/product/{pid}", changed), "saved") == pid
    assert sb.state.product(sb.company_id, pid)["price"] == "950000"

    entry = (
        "<dimension-entry-writeable><name>Malmö</name><foreign-id>KS-MMA</foreign-id>"
        "<description>Kontoret</description><active>true</active></dimension-entry-writeable>"
    )
    eid = new_id(call(sb, "PUT", "/dimension/1/entry", entry))
    names = [e.findtext("name") for e in valid(call(sb, "GET", "/dimension/1/entry"))]
    assert names == ["Stockholm", "Göteborg", "Malmö"]
    assert "already used" in error_message(call(sb, "PUT", "/dimension/1/entry", entry), 400)
    renamed = entry.replace("<name>Malmö</name>", "<name>Malmö C</name>")
    assert new_id(call(sb, "POST", f"/dimension/1/entry/{eid}", renamed), "saved") == eid
    assert sb.state.dimension_entries(sb.company_id, 1)[-1]["name"] == "Malmö C"
    error_message(call(sb, "POST", f"/dimension/2/entry/{eid}", renamed), 404)
    error_message(call(sb, "PUT", "/dimension/9/entry", entry), 404)


# ------------------------------------------------------------ request bodies
def test_bodies_are_checked(sb):
    msg = error_message(
        call(sb, "PUT", "/client", "<client><id>0</id><name>x</name></client>"), 400
    )
    assert msg.startswith("schema: ") and "foreign-id" in msg
    namespaced = client_xml().replace("<client>", '<client xmlns="urn:kleer">', 1)
    assert "No matching global declaration" in error_message(
        call(sb, "PUT", "/client", namespaced), 400
    )
    bomb = '<?xml version="1.0"?><!DOCTYPE client [<!ENTITY x "y">]>' + client_xml()
    assert "DOCTYPE" in error_message(call(sb, "PUT", "/client", bomb), 400)
    assert "malformed" in error_message(call(sb, "PUT", "/client", "<client><id>"), 400)
    assert "empty" in error_message(call(sb, "PUT", "/client", b""), 400)
    product_body = "<product><id>0</id><foreign-id/><name>n</name><unit>st</unit><price>1</price><ean>0</ean></product>"  # noqa: E501
    assert "expected a <client>" in error_message(call(sb, "PUT", "/client", product_body), 400)
    huge = b"<client>" + b" " * (20 * 1024 * 1024) + b"</client>"
    error_message(call(sb, "PUT", "/client", huge, timeout=30), 413)
    assert len(sb.state.clients(sb.company_id)) == 2  # nothing was stored


# ------------------------------------------------------------------ invoices
def test_invoice_create_computes_amounts_in_ore(sb):
    rows = (
        row_xml(
            101, "1.5", 120000, "25", "<discount><percentage>10</percentage></discount>"
        )  # 162000 + 40500
        + row_xml(102, "0.333", 25000, "6")  # 8325 + 499.5 -> 500
        + row_xml(
            103, "2", 10000, "12", "<discount><absolute>500</absolute></discount>"
        )  # 19500 + 2340
        + row_xml(104, "0.5", 3, "25")  # 1.5 -> 2, vat 0.5 -> 1
    )
    iid = create_invoice(sb, rows=rows, tamper=True)
    assert iid != 77
    doc = valid(call(sb, "GET", f"/client/invoice/{iid}"))
    assert doc.findtext("amount") == str(162000 + 8325 + 19500 + 2)
    assert doc.findtext("vat") == str(40500 + 500 + 2340 + 1)
    # Read-only fields sent by the client are overwritten: an uncertified draft.
    assert [doc.findtext(t) for t in ("id", "invoice-nr", "certified", "remaining")] == [
        str(iid),
        "0",
        "false",
        "0",
    ]
    assert doc.find("certified-date") is None
    assert [r.findtext("account-nr") for r in doc.find("rows")] == ["3041", "3003", "3002", "3001"]
    assert len({r.findtext("id") for r in doc.find("rows")}) == 4
    stored = sb.state.invoice(sb.company_id, iid)
    assert stored["amount"] == "189827" and stored["rows"][0]["product"] == {"id": "101"}
    assert stored["country-code"] == "SE"  # empty on create: the client's
    assert stored["delivery-type"] == "Email"


def test_invoice_references_are_checked(sb):
    assert "client-ref" in error_message(
        call(sb, "PUT", "/client/invoice", invoice_xml(client=203)), 400
    )
    bad_product = invoice_xml(rows=row_xml(product=105))
    assert "product" in error_message(call(sb, "PUT", "/client/invoice", bad_product), 400)
    assert "our-reference" in error_message(
        call(sb, "PUT", "/client/invoice", invoice_xml(our_ref=9)), 400
    )
    valid(call(sb, "PUT", "/client/invoice", invoice_xml(our_ref=2)))
    dims = "<dimensions><dimension-entry><id>98</id></dimension-entry></dimensions>"
    bad_dim = invoice_xml(
        rows=row_xml().replace("<account-nr>0</account-nr>", "<account-nr>0</account-nr>" + dims)
    )
    assert "dimension entry" in error_message(call(sb, "PUT", "/client/invoice", bad_dim), 400)
    assert len(sb.state.invoices(sb.company_id)) == 1


def test_certify_and_update_rules(sb):
    iid = create_invoice(sb, rows=row_xml(qty="2"), files=FILES)
    # A draft may change; files are kept when the update omits them.
    assert (
        new_id(
            call(sb, "POST", f"/client/invoice/{iid}", invoice_xml(rows=row_xml(qty="3"))), "saved"
        )
        == iid
    )
    draft = sb.state.invoice(sb.company_id, iid)
    assert (draft["amount"], draft["vat"]) == ("360000", "90000")
    assert draft["files"] == [{"filename": "a.pdf", "data": "255044462D"}]

    ok = valid(certify(sb, iid))
    assert ok.tag == "ok" and ok.findtext("id") == str(iid)
    doc = valid(call(sb, "GET", f"/client/invoice/{iid}"))
    assert [doc.findtext(t) for t in ("invoice-nr", "certified", "remaining")] == [
        "1001",
        "true",
        "450000",
    ]
    assert doc.findtext("certified-date")
    assert "already certified" in error_message(certify(sb, iid), 400)
    changed = call(sb, "POST", f"/client/invoice/{iid}", invoice_xml())
    assert error_message(changed, 400) == "certified invoices cannot be changed"
    other = create_invoice(sb, foreign_id="account.move,2")
    valid(certify(sb, other))
    assert sb.state.invoice(sb.company_id, other)["invoice-nr"] == "1002"
    error_message(certify(sb, 999999), 404)


def test_credit_invoice_needs_certified_debit(sb):
    credit_rows = row_xml(qty="-1")
    refused = call(sb, "PUT", "/client/invoice", invoice_xml(rows=credit_rows, debit_nr=1001))
    assert "debit-invoice-nr" in error_message(refused, 400)
    debit = create_invoice(sb)
    refused = call(sb, "PUT", "/client/invoice", invoice_xml(rows=credit_rows, debit_nr=1001))
    error_message(refused, 400)  # the debit invoice is still a draft: no number yet
    valid(certify(sb, debit))
    credit = create_invoice(sb, rows=credit_rows, debit_nr=1001, foreign_id="account.move,2")
    stored = sb.state.invoice(sb.company_id, credit)
    assert (stored["amount"], stored["vat"], stored["debit-invoice-nr"]) == (
        "-120000",
        "-30000",
        "1001",
    )
    valid(certify(sb, credit))
    assert sb.state.invoice(sb.company_id, debit)["credit-invoices"] == [{"id": str(credit)}]
    # The credit note settles the debit invoice: nothing stays open on either.
    assert sb.state.invoice(sb.company_id, debit)["remaining"] == "0"
    assert sb.state.invoice(sb.company_id, credit)["remaining"] == "0"
    valid(call(sb, "GET", f"/client/invoice/{debit}"))


def test_partial_credit_settles_only_its_amount(sb):
    debit = create_invoice(sb, rows=row_xml(qty="2"))  # 2400 + 600 VAT
    valid(certify(sb, debit))
    credit = create_invoice(sb, rows=row_xml(qty="-1"), debit_nr=1001, foreign_id="c")
    valid(certify(sb, credit))
    assert sb.state.invoice(sb.company_id, debit)["remaining"] == "150000"
    assert sb.state.invoice(sb.company_id, credit)["remaining"] == "0"


def test_payment_side_channel(sb):
    """POST /_sandbox/payments registers a payment as Kleer's screens would:
    remaining and last-payment-date change in the certified list."""
    url = f"{sb.root_url}/_sandbox/payments"
    draft = create_invoice(sb)
    resp = requests.post(url, json={"invoice_id": draft, "amount": 100}, timeout=5)
    assert resp.status_code == 400 and "not certified" in resp.json()["error"]
    valid(certify(sb, draft))
    resp = requests.post(
        url, json={"invoice_id": draft, "amount": 50000, "date": "2026-03-20"}, timeout=5
    )
    assert resp.status_code == 201 and resp.json() == {"invoice_id": draft, "remaining": 100000}
    listed = valid(call(sb, "GET", "/client/invoice", params={"filter": "certified"}))
    assert [(i.findtext("remaining"), i.findtext("last-payment-date")) for i in listed] == [
        ("100000", "2026-03-20")
    ]
    for bad in ({"invoice_id": draft, "amount": 100001}, {"invoice_id": draft, "amount": 0}):
        assert requests.post(url, json=bad, timeout=5).status_code == 400
    assert requests.post(url, json={"invoice_id": 999}, timeout=5).status_code == 404
    assert requests.post(url, data=b"[]", timeout=5).status_code == 400
    resp = requests.post(url, json={"invoice_id": draft, "date": "2026-03-31"}, timeout=5)
    assert resp.json()["remaining"] == 0  # default: all that remains
    assert sb.state.invoice(sb.company_id, draft)["last-payment-date"] == "2026-03-31"
    assert sb.requests[-1].rel_path == "/client/invoice"  # control calls are not recorded


def test_invoice_list_paging_and_filters(sb):
    dates = ["2026-01-05", "2026-01-15", "2026-02-01", "2026-02-20", "2026-03-01"]
    ids = [
        create_invoice(
            sb,
            foreign_id=f"move-{n}",
            date=d,
            your_ref=f"Order A{n}",
            po=f"PO-{n}",
            notes=f"note {n}",
            files=FILES if n == 1 else "",
        )
        for n, d in enumerate(dates, start=1)
    ]
    valid(certify(sb, ids[0]))
    valid(certify(sb, ids[2]))

    def listing(**params):
        doc = valid(call(sb, "GET", "/client/invoice", params=params))
        assert doc.tag == "client-invoices"
        return doc, [int(i.findtext("id")) for i in doc]

    doc, got = listing(limit=2)
    assert doc.attrib == {"offset": "0", "limit": "2", "size": "5"} and got == ids[:2]
    doc, got = listing(offset=4, limit=2)
    assert doc.attrib == {"offset": "4", "limit": "1", "size": "5"} and got == ids[4:]
    doc, got = listing(offset=10)
    assert doc.attrib["size"] == "5" and got == []
    assert listing(limit=5000)[1] == ids  # limit is capped, not refused
    assert listing(filter="certified")[1] == [ids[0], ids[2]]
    assert listing(filter="sendable")[1] == [ids[0], ids[2]]
    assert listing(filter="certifiable")[1] == [ids[1], ids[3], ids[4]]
    assert listing(filter="all")[1] == ids
    assert listing(invoiceDateLower="2026-01-15", invoiceDateUpper="2026-02-20")[1] == ids[1:4]
    assert listing(invoiceDateLower="2026-02-21")[1] == ids[4:]
    assert listing(query="move-3")[1] == [ids[2]]  # foreign-id: exact
    assert listing(query="move")[1] == []
    assert listing(query="Order A")[1] == ids  # your-reference: substring
    assert listing(query="PO-4")[1] == [ids[3]]
    assert listing(query="note 5")[1] == [ids[4]]
    assert listing(filter="certified", query="Order", limit=1)[0].attrib == {
        "offset": "0",
        "limit": "1",
        "size": "2",
    }
    with_files = valid(call(sb, "GET", "/client/invoice"))
    assert with_files[0].find("files") is not None
    without = valid(call(sb, "GET", "/client/invoice", params={"ignoreFiles": "true"}))
    assert without[0].find("files") is None
    assert valid(call(sb, "GET", f"/client/invoice/{ids[0]}")).find("files") is not None
    for params in (
        {"filter": "open"},
        {"limit": "0"},
        {"offset": "-1"},
        {"invoiceDateLower": "2026/01/01"},
    ):
        error_message(call(sb, "GET", "/client/invoice", params=params), 400)


# -------------------------------------------------------------------- faults
def test_fault_status_times_and_matching(sb):
    fault = sb.faults.add("status", method="PUT", path=r"^/client/invoice$", status=503, times=2)
    assert valid(call(sb, "GET", "/client/invoice")).tag == "client-invoices"  # GET is not matched
    valid(call(sb, "PUT", "/client", client_xml()))  # another path is not matched
    for _ in range(2):
        error_message(call(sb, "PUT", "/client/invoice", invoice_xml()), 503)
    assert fault.hits == 2 and len(sb.faults) == 0
    valid(call(sb, "PUT", "/client/invoice", invoice_xml()))
    assert len(sb.state.invoices(sb.company_id)) == 1  # faulted requests were not processed
    assert [r.fault for r in sb.requests[-3:]] == ["status", "status", None]


def test_fault_429_retry_after_and_until_cleared(sb):
    sb.faults.add("status", path=r"^/info$", status=429, retry_after=7, times=None)
    for _ in range(3):
        resp = call(sb, "GET", "/info")
        error_message(resp, 429)
        assert resp.headers["Retry-After"] == "7"
    sb.faults.clear()
    valid(call(sb, "GET", "/info"))


def test_fault_latency(sb):
    sb.faults.add("latency", path=r"^/user/me$", seconds=0.3)
    start = time.monotonic()
    valid(call(sb, "GET", "/user/me"))
    assert time.monotonic() - start >= 0.3


def test_fault_drop_before_processing(sb):
    sb.faults.add("drop", method="PUT", path=r"^/client$")
    with pytest.raises(requests.ConnectionError):
        call(sb, "PUT", "/client", client_xml())
    assert len(sb.state.clients(sb.company_id)) == 2
    assert (sb.requests[-1].fault, sb.requests[-1].status) == ("drop", None)
    valid(call(sb, "GET", "/info"))  # the server is still serving


def test_fault_drop_after_store(sb):
    sb.faults.add("drop_after_store", method="PUT", path=r"^/client/invoice$")
    with pytest.raises(requests.ConnectionError):
        call(sb, "PUT", "/client/invoice", invoice_xml(foreign_id="account.move,42"))
    stored = sb.state.invoices(sb.company_id)
    assert [i["foreign-id"] for i in stored] == ["account.move,42"]  # Kleer created it anyway
    assert sb.requests[-1].status is None


def test_fault_timeout_after_store(sb):
    sb.faults.add("timeout_after_store", method="PUT", path=r"^/client$", seconds=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(sb, "PUT", "/client", client_xml(foreign_id="res.partner,99"), timeout=0.5)
    assert [c["foreign-id"] for c in sb.state.clients(sb.company_id)][-1] == "res.partner,99"


def test_fault_bad_bodies(sb):
    sb.faults.add("malformed", path=r"^/client$")
    resp = call(sb, "GET", "/client")
    assert resp.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(resp.content, SAFE)

    sb.faults.add("html", path=r"^/client$")
    resp = call(sb, "GET", "/client")
    assert resp.status_code == 502 and resp.headers["Content-Type"].startswith("text/html")
    assert b"<html>" in resp.content

    sb.faults.add("entity", path=r"^/client$")
    resp = call(sb, "GET", "/client")
    assert resp.status_code == 200 and b"<!DOCTYPE" in resp.content and b"<!ENTITY" in resp.content
    assert len(resp.content) < 4096  # the bomb is in the expansion, not the bytes

    sb.faults.add("huge", path=r"^/client$", mib=1)
    resp = call(sb, "GET", "/client")
    assert resp.status_code == 200 and len(resp.content) == 1024 * 1024
    valid(call(sb, "GET", "/client"))


def test_fault_arguments_are_checked(sb):
    with pytest.raises(ValueError):
        sb.faults.add("explode")
    with pytest.raises(ValueError):
        sb.faults.add("status", status=200)
    with pytest.raises(ValueError):
        sb.faults.add("latency", times=0)
    with pytest.raises(ValueError):
        sb.faults.add("latency", colour="red")


# ----------------------------------------------------- recording and control
def test_requests_are_recorded_without_token(sb):
    body = client_xml(name="Inspelad AB")
    call(sb, "PUT", "/client", body)
    call(sb, "GET", "/client/invoice", params={"filter": "certified", "limit": "5"})
    put, get = sb.requests[-2:]
    assert (put.method, put.path, put.rel_path, put.company_id, put.status) == (
        "PUT",
        "/v1/company/1/client",
        "/client",
        1,
        200,
    )
    assert put.body == body.encode("utf-8")
    assert put.xml().findtext("name") == "Inspelad AB"
    assert put.headers["X-Token"] == "<redacted>"
    assert sb.token not in repr(put)
    assert put.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert get.query == {"filter": "certified", "limit": "5"} and get.body == b""


def test_http_control_routes(sb):
    root = sb.root_url
    fault = {"kind": "status", "method": "GET", "path": "^/info$", "status": 502, "times": 1}
    resp = requests.post(f"{root}/_sandbox/faults", json=fault, timeout=5)
    assert resp.status_code == 201 and resp.json()["faults"][0]["kind"] == "status"
    assert len(requests.get(f"{root}/_sandbox/faults", timeout=5).json()["faults"]) == 1
    error_message(call(sb, "GET", "/info"), 502)
    valid(call(sb, "GET", "/info"))

    requests.post(
        f"{root}/_sandbox/faults",
        json=[{"kind": "latency", "seconds": 5, "times": None}],
        timeout=5,
    )
    assert requests.delete(f"{root}/_sandbox/faults", timeout=5).status_code == 200
    assert len(sb.faults) == 0
    assert (
        requests.post(f"{root}/_sandbox/faults", json={"kind": "nope"}, timeout=5).status_code
        == 400
    )
    assert requests.post(f"{root}/_sandbox/faults", data=b"{", timeout=5).status_code == 400

    valid(call(sb, "PUT", "/client", client_xml()))
    recorded = requests.get(f"{root}/_sandbox/requests", timeout=5).json()["requests"]
    assert [r["status"] for r in recorded] == [502, 200, 200]
    assert (
        recorded[-1]["body"].startswith("<client>")
        and recorded[-1]["headers"]["X-Token"] == "<redacted>"
    )
    assert requests.post(f"{root}/_sandbox/reset", timeout=5).json() == {"reset": True}
    assert len(sb.state.clients(sb.company_id)) == 2 and sb.requests == []
    assert requests.get(f"{root}/_sandbox/nothing", timeout=5).status_code == 404
    assert requests.put(f"{root}/_sandbox/reset", timeout=5).status_code == 405


# --------------------------------------------------- persistence, threads, cli
def test_state_file_round_trip(tmp_path):
    state = tmp_path / "state.json"
    with SandboxServer(seed=True, state_file=state) as first:
        client_id = new_id(call(first, "PUT", "/client", client_xml(name="Sparad AB")))
        invoice_id = create_invoice(first, client=client_id)
        valid(certify(first, invoice_id))
    data = json.loads(state.read_text(encoding="utf-8"))
    assert data["format"] == "kleer-sandbox-state" and data["tokens"]["sandbox-token"] == [1, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp files left behind

    with SandboxServer(seed=True, state_file=state) as second:  # the file wins over the seed
        assert valid(call(second, "GET", f"/client/{client_id}")).findtext("name") == "Sparad AB"
        assert second.state.invoice(1, invoice_id)["invoice-nr"] == "1001"
        assert (
            new_id(call(second, "PUT", "/client", client_xml())) == client_id + 1
        )  # counters persist
        valid(certify(second, create_invoice(second)))
        assert [i["invoice-nr"] for i in second.state.invoices(1)] == ["1001", "1002"]
        second.reset()
        assert len(second.state.clients(1)) == 2
    assert (
        len(json.loads(state.read_text(encoding="utf-8"))["companies"]["1"]["objects"]["client"])
        == 2
    )


def test_unseeded_server_and_loopback_only():
    with pytest.raises(ValueError):
        SandboxServer(host="0.0.0.0")
    with SandboxServer(seed=False) as empty:
        assert error_message(call(empty, "GET", "/info"), 401) == "Invalid token"
        assert empty.base_url.startswith("http://127.0.0.1:") and empty.base_url.endswith("/v1")
    assert not empty.running


def test_concurrent_creates_get_distinct_ids(sb):
    ids, errors = [], []

    def create(n):
        try:
            ids.append(
                new_id(call(sb, "PUT", "/client", client_xml(foreign_id=f"res.partner,{n}")))
            )
        except Exception as exc:  # collected: assertion errors in threads would be lost
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(set(ids)) == 8


def test_cli_serves_and_stops(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ADDON_DIR))
    state = tmp_path / "cli-state.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kleer_api.sandbox",
            "--port",
            "0",
            "--seed",
            "--state-file",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Kleer sandbox: http://127.0.0.1:"), first + proc.stderr.read()
        base = first.split(": ", 1)[1].strip()
        assert "X-Token sandbox-token" in proc.stdout.readline()
        resp = requests.get(
            f"{base}/company/1/info", headers={"X-Token": "sandbox-token"}, timeout=5
        )
        assert valid(resp).findtext("name") == "Sandbox AB"
        assert state.exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
