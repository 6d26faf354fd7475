"""The guesses about Kleer's API made safe (issue 10): the VAT unit read in
both forms and written in a chosen one, reads that cannot mislead (files
ignored, paging verified), a certify call that does not exist told apart
from a refusal, and the unconfirmed calls as choices."""

import os
import pathlib
import signal
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from kleer_api import KleerClient, errors, types, xmlcodec
from kleer_api.sandbox import SandboxServer, store
from kleer_api.sandbox.store import row_amounts


def _client(sb, **kw):
    return KleerClient(sb.base_url, sb.company_id, sb.token, timeout=(2, 2), **kw)


@pytest.fixture
def client(sb):
    c = _client(sb)
    yield c
    c.close()


@pytest.fixture(scope="module")
def fraction_server():
    with SandboxServer(seed=True, vat_unit="fraction") as sb:
        yield sb


@pytest.fixture
def fsb(fraction_server):
    fraction_server.reset()
    return fraction_server


def _invoice(rows, foreign_id="odoo-move-1", invoice_date=date(2026, 11, 1)):
    return types.Invoice(
        client_id=201,
        invoice_date=invoice_date,
        due_date=date(2026, 12, 1),
        currency="SEK",
        foreign_id=foreign_id,
        rows=rows,
    )


def _row(**kw):
    values = {"product_id": 101, "quantity": Decimal(2), "price": 10000, "vat": Decimal(25)}
    values.update(kw)
    return types.InvoiceRow(**values)


# -- VAT unit -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kleer, percent",
    [("25", "25"), ("0.25", "25"), ("0.12", "12"), ("6", "6"), ("0.06", "6"), ("0", "0")],
)
def test_vat_is_read_in_both_forms(kleer, percent):
    assert xmlcodec.percent_from_kleer(Decimal(kleer)) == Decimal(percent)


def test_rows_and_products_are_written_in_the_chosen_unit():
    inv = _invoice([_row(discount_percentage=Decimal("12.5"))])
    as_percent = xmlcodec.invoice_to_xml(inv)
    as_fraction = xmlcodec.invoice_to_xml(inv, xmlcodec.FRACTION)
    for root in (as_percent, as_fraction):
        xmlcodec.validate(root)
    assert as_percent.findtext("rows/row/vat") == "25"
    assert as_percent.findtext("rows/row/discount/percentage") == "12.5"
    assert as_fraction.findtext("rows/row/vat") == "0.25"
    assert as_fraction.findtext("rows/row/discount/percentage") == "0.125"
    product = types.Product(name="Bok", price=100, vat_percentage=Decimal(6))
    assert xmlcodec.product_to_xml(product, "fraction").findtext("vat-percentage") == "0.06"
    # Read back, both are percent again.
    row = xmlcodec.invoice_from_xml(as_fraction).rows[0]
    assert row.vat == Decimal(25)
    with pytest.raises(ValueError):
        xmlcodec.percent_to_kleer(Decimal(25), "per mille")


def test_sandbox_row_arithmetic_in_each_unit():
    inv = _invoice([_row(discount_percentage=Decimal(10))])
    fraction_row = xmlcodec.invoice_to_xml(inv, xmlcodec.FRACTION).find("rows/row")
    percent_row = xmlcodec.invoice_to_xml(inv).find("rows/row")
    # 2 x 100.00 - 10 % = 180.00, VAT 25 % = 45.00, in either convention.
    assert row_amounts(fraction_row, "fraction") == (18000, 4500)
    assert row_amounts(percent_row, "percent") == (18000, 4500)
    # A Kleer of the other convention takes the numbers literally.
    assert row_amounts(percent_row, "fraction") == (20000 - 200000, (20000 - 200000) * 25)


def test_fraction_sandbox_round_trip(fsb):
    client = _client(fsb, vat_unit="fraction")
    inv_id = client.create_invoice(_invoice([_row(discount_percentage=Decimal(10))]))
    assert fsb.requests[-1].xml().findtext("rows/row/vat") == "0.25"
    stored = client.invoice(inv_id)
    assert (stored.amount, stored.vat_amount) == (18000, 4500)
    assert stored.rows[0].vat == Decimal(25)  # read back as percent
    assert {p.vat_percentage for p in client.products()} == {Decimal(25), Decimal(6), Decimal(12)}


def test_vat_unit_probe(sb, fsb):
    assert _client(sb).probe_vat_unit() == ("percent", 4)
    assert _client(fsb).probe_vat_unit() == ("fraction", 4)
    # Invoice rows count too, and a mix is no answer.
    _client(sb, vat_unit="fraction").create_invoice(_invoice([_row()]))
    assert _client(sb).probe_vat_unit() == (None, 5)
    empty = SandboxServer(seed=False)
    with empty:
        empty.state.add_company(1, "Tom AB", "556000-0000")
        empty.state.add_token("t", 1, 1)
        empty.state.add_user(1, "U", "u@example.se", id=1)
        client = KleerClient(empty.base_url, 1, "t")
        assert client.probe_vat_unit() == (None, 0)


def test_unknown_choices_are_config_errors(sb):
    for kw in (
        {"vat_unit": "permille"},
        {"certify_call": "email"},
        {"rate_call": "guess"},
        {"write_verbs": "patch"},
    ):
        with pytest.raises(errors.KleerConfigError):
            _client(sb, **kw)


# -- reads --------------------------------------------------------------------


def test_invoice_read_ignores_files(client, sb):
    inv = _invoice([_row()])
    inv.files = [types.File("faktura.pdf", b"%PDF-1.4" + b"x" * 5000)]
    inv_id = client.create_invoice(inv)
    assert sb.state.invoice(sb.company_id, inv_id)["files"]  # stored with its file
    got = client.invoice(inv_id)
    assert sb.requests[-1].query == {"ignoreFiles": "true"}
    assert got.files is None and got.amount == 20000


def test_paging_is_verified(client, sb):
    for n in range(5):
        client.create_invoice(_invoice([_row()], foreign_id=f"odoo-move-{n}"))
    ids = [i.id for i in client.iter_invoices(page_size=2)]
    assert len(ids) == len(set(ids)) == 5
    assert [r.query["offset"] for r in sb.requests[-3:]] == ["0", "2", "4"]
    assert client.probe_paging() is True
    sb.app.ignore_paging = True  # a Kleer that always answers page 1
    with pytest.raises(errors.KleerUnsupported, match="offset 0 where 2"):
        list(client.iter_invoices(page_size=2))
    assert client.probe_paging() is False
    # One page is enough when everything fits: nothing to verify beyond it.
    assert len(list(client.iter_invoices(page_size=10))) == 5


def test_invoice_page_asked_and_a_shorter_answer_followed(client, sb, monkeypatch):
    for n in range(5):
        client.create_invoice(_invoice([_row()], foreign_id=f"odoo-move-{n}"))
    sb.requests.clear()
    assert len(list(client.iter_invoices())) == 5
    assert [(r.query["offset"], r.query["limit"]) for r in sb.requests] == [("0", "1000")]
    # A server that reduces the limit (the XSD allows it): followed by offset.
    monkeypatch.setattr(store, "MAX_LIMIT", 2)
    sb.requests.clear()
    ids = [i.id for i in client.iter_invoices()]
    assert len(ids) == len(set(ids)) == 5
    assert [r.query["offset"] for r in sb.requests] == ["0", "2", "4"]
    assert {r.query["limit"] for r in sb.requests} == {"1000"}
    assert len(list(_client(sb, invoice_page=100).iter_invoices())) == 5
    with pytest.raises(errors.KleerConfigError, match="invoice page"):
        _client(sb, invoice_page=0)


def test_invoice_page_refused_falls_back_to_the_safe_page(client, sb):
    for n in range(3):
        client.create_invoice(_invoice([_row()], foreign_id=f"odoo-move-{n}"))
    # A Kleer that refuses a limit of 1,000 (a 400, not a shorter page).
    sb.faults.add("status", method="GET", path="^/client/invoice$", status=400, message="limit")
    sb.requests.clear()
    assert len(list(client.iter_invoices())) == 3
    assert [r.query["limit"] for r in sb.requests] == ["1000", "100"]
    assert client.invoice_page == 100
    sb.requests.clear()
    assert len(list(client.iter_invoices())) == 3
    assert [r.query["limit"] for r in sb.requests] == ["100"], "remembered"
    # At the safe page a refusal is Kleer's answer, not a paging guess.
    sb.faults.add("status", method="GET", path="^/client/invoice$", status=400, message="filter")
    with pytest.raises(errors.KleerValidationError, match="filter"):
        list(client.iter_invoices())


# -- certification --------------------------------------------------------------


def test_certify_call_that_does_not_exist(client, sb):
    inv_id = client.create_invoice(_invoice([_row()]))
    for status in (404, 405):
        sb.faults.add("bare", method="POST", path="/certify$", status=status)
        with pytest.raises(errors.KleerUnsupported, match=f"no certify call.*{status}"):
            client.certify_invoice(inv_id)
    # Kleer's own refusal (an <error> body) stays what it is.
    sb.faults.add("status", method="POST", path="/certify$", status=404, message="no invoice")
    with pytest.raises(errors.KleerNotFound, match="no invoice"):
        client.certify_invoice(inv_id)
    assert not client.invoice(inv_id).certified
    client.certify_invoice(inv_id)
    assert client.invoice(inv_id).certified


@pytest.mark.parametrize(
    "choice, method, path",
    [
        ("post_certify", "POST", "/client/invoice/{id}/certify"),
        ("put_certify", "PUT", "/client/invoice/{id}/certify"),
        ("post_approve", "POST", "/client/invoice/{id}/approve"),
    ],
)
def test_certify_call_choices(sb, choice, method, path):
    client = _client(sb, certify_call=choice)
    inv_id = client.create_invoice(_invoice([_row()]))
    client.certify_invoice(inv_id)
    sent = sb.requests[-1]
    assert (sent.method, sent.rel_path) == (method, path.format(id=inv_id))
    assert client.invoice(inv_id).certified


@pytest.mark.parametrize(
    "choice, path, query",
    [
        ("query_kebab", "/exchange-rate", {"from-currency": "EUR", "to-currency": "SEK"}),
        ("query_camel", "/exchange-rate", {"fromCurrency": "EUR", "toCurrency": "SEK"}),
        ("path", "/exchange-rate/EUR/SEK", {}),
    ],
)
def test_exchange_rate_call_choices(sb, choice, path, query):
    rate = _client(sb, rate_call=choice).exchange_rate("EUR", "SEK")
    assert rate.rate == Decimal("11.4250")
    sent = sb.requests[-1]
    assert (sent.rel_path, sent.query) == (path, query)


@pytest.mark.parametrize(
    "choice, create, update", [("put_create", "PUT", "POST"), ("post_create", "POST", "PUT")]
)
def test_write_verb_choices(sb, choice, create, update):
    client = _client(sb, write_verbs=choice)
    pid = client.create_product(types.Product(name="Ny", price=500, vat_percentage=Decimal(25)))
    assert (sb.requests[-1].method, sb.requests[-1].rel_path) == (create, "/product")
    client.update_product(pid, types.Product(name="Nyare", price=500))
    assert (sb.requests[-1].method, sb.requests[-1].rel_path) == (update, f"/product/{pid}")
    client.create_dimension_entry(1, types.DimensionEntry(name="Malmö", foreign_id="KS-MMO"))
    assert (sb.requests[-1].method, sb.requests[-1].rel_path) == (create, "/dimension/1/entry")
    assert client.product(pid).name == "Nyare"


def test_sandbox_cli_fraction_convention(tmp_path):
    """``--vat-unit fraction``: the seed's products carry 0.25, and the state
    file remembers the convention."""
    addon = pathlib.Path(__file__).resolve().parents[1] / "kleer_connector"
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kleer_api.sandbox", "--port", "0", "--seed"]
        + ["--vat-unit", "fraction", "--state-file", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(addon)),
        text=True,
    )
    try:
        base = proc.stdout.readline().split(": ", 1)[1].strip()
        lines = [proc.stdout.readline() for _ in range(4)]
        assert any("written as a fraction" in line for line in lines), lines
        client = KleerClient(base, 1, "sandbox-token", timeout=(5, 5))
        assert client.probe_vat_unit() == ("fraction", 4)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert proc.returncode == 0
    assert '"vat_unit": "fraction"' in state.read_text()
