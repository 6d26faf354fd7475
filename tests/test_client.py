"""KleerClient against the real sandbox over HTTP: endpoints, bodies, and each
typed error proven by an injected fault."""

import email.utils
import time
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from kleer_api import KleerClient, errors, redact, types, xmlcodec
from kleer_api import client as client_module


@pytest.fixture
def client(sb):
    c = KleerClient(sb.base_url, sb.company_id, sb.token, timeout=(2, 2))
    yield c
    c.close()


def _invoice(client_id, rows=None, **kw):
    return types.Invoice(
        client_id=client_id,
        invoice_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        currency="SEK",
        foreign_id=kw.pop("foreign_id", "odoo-test-move-1"),
        rows=rows
        or [types.InvoiceRow(product_id=101, quantity=Decimal("2"), price=12000, vat=Decimal(25))],
        **kw,
    )


def _first_client_id(client):
    return client.clients()[0].id


# -- reads ---------------------------------------------------------------------


def test_company_info_and_me(client):
    info = client.company_info()
    assert info.name == "Sandbox AB"
    assert info.accounting_currency == "SEK"
    me = client.me()
    assert me.id == 1 and me.email == "anna@example.se"


def test_master_data_lists(client):
    assert {p.id for p in client.products()} >= {101, 102}
    assert any(u.active is False for u in client.users())
    dims = client.dimensions()
    assert dims and client.dimension_entries(dims[0].id)
    assert any(d.default for d in client.delivery_types())
    rate = client.exchange_rate("EUR", "SEK")
    assert rate.rate > 1 and rate.from_currency == "EUR"


# -- writes --------------------------------------------------------------------


def test_create_update_client_round_trip(client, sb):
    new = types.Client(
        name="Nya Kunden AB",
        foreign_id="odoo:res.partner:42",
        orgno="556000-0001",
        address=types.Address(
            address1="Gatan 1", zip_code="111 22", state="Stockholm", country="Sverige"
        ),
        country_code="SE",
        payment_days=30,
        client_type="Organisation",
        email="faktura@nya.se",
        user_id=1,
    )
    cid = client.create_client(new)
    sent = sb.requests[-1]
    assert sent.method == "PUT" and sent.rel_path == "/client"
    assert sent.xml().findtext("foreign-id") == "odoo:res.partner:42"
    got = client.client(cid)
    assert (got.name, got.orgno, got.address.state) == ("Nya Kunden AB", "556000-0001", "Stockholm")
    new.name = "Nya Kunden AB (ändrad)"
    client.update_client(cid, new)
    assert client.client(cid).name == "Nya Kunden AB (ändrad)"
    assert [c.id for c in client.find_clients_by_foreign_id("odoo:res.partner:42")] == [cid]


def test_invoice_create_certify_and_lookup(client, sb):
    kid = _first_client_id(client)
    inv_id = client.create_invoice(_invoice(kid))
    body = sb.requests[-1].xml()
    assert body.tag == "client-invoice"
    assert body.findtext("rows/row/price") == "12000"
    draft = client.invoice(inv_id)
    assert (draft.certified, draft.invoice_nr, draft.amount, draft.vat_amount) == (
        False,
        0,
        24000,
        6000,
    )
    client.certify_invoice(inv_id)
    certified = client.invoice(inv_id)
    assert certified.certified and certified.invoice_nr > 0
    found = client.find_invoices_by_foreign_id("odoo-test-move-1")
    assert [i.id for i in found] == [inv_id]
    assert (certified.remaining, certified.last_payment_date) == (30000, None)
    sb.state.record_payment(sb.company_id, inv_id, 10000, "2026-11-20")
    [listed] = client.iter_invoices(filter="certified")
    assert (listed.remaining, listed.last_payment_date) == (20000, date(2026, 11, 20))


def test_credit_invoice_needs_certified_debit(client):
    kid = _first_client_id(client)
    with pytest.raises(errors.KleerValidationError) as exc:
        client.create_invoice(_invoice(kid, foreign_id="credit-1", debit_invoice_nr=999999))
    assert "999999" in str(exc.value)


def test_body_failing_the_xsd_is_never_sent(client, sb):
    before = len(sb.requests)
    bad = types.Product(name="x", price=10, vat_percentage=Decimal("25"), type="NotAType")
    with pytest.raises(errors.KleerValidationError, match="schema"):
        client.create_product(bad)
    assert len(sb.requests) == before


# -- typed errors, each from a sandbox fault ---------------------------------


def test_auth_error(sb):
    c = KleerClient(sb.base_url, sb.company_id, "wrong-token")
    with pytest.raises(errors.KleerAuthError) as exc:
        c.me()
    assert exc.value.status == 401 and not exc.value.retryable


def test_permission_error(sb):
    c = KleerClient(sb.base_url, sb.other_company_id, sb.token)
    with pytest.raises(errors.KleerPermissionError):
        c.company_info()


def test_not_found(client):
    with pytest.raises(errors.KleerNotFound):
        client.client(987654)


def test_validation_error_carries_kleer_message(client):
    with pytest.raises(errors.KleerValidationError) as exc:
        client.create_invoice(_invoice(987654))
    assert exc.value.status == 400 and "987654" in exc.value.message


def test_rate_limited_honours_retry_after(client, sb):
    sb.faults.add("status", method="PUT", path="^/client$", status=429, retry_after=7)
    with pytest.raises(errors.KleerRateLimited) as exc:
        client.create_client(types.Client(name="A"))
    assert exc.value.retry_after == 7 and exc.value.retryable


def test_5xx_on_write_is_transient(client, sb):
    sb.faults.add("status", method="PUT", path="^/client/invoice$", status=503)
    with pytest.raises(errors.KleerTransientError) as exc:
        client.create_invoice(_invoice(_first_client_id(client)))
    assert exc.value.status == 503 and exc.value.retryable
    # The fault answered before processing: nothing was stored.
    assert sb.state.invoices(sb.company_id) == []


def test_5xx_on_read_is_retried_by_urllib3(client, sb):
    sb.faults.add("status", method="GET", path="^/info$", status=503, times=1)
    assert client.company_info().name == "Sandbox AB"
    assert [r.status for r in sb.requests if r.rel_path == "/info"] == [503, 200]


def test_timeout_after_store_is_unknown_outcome(client, sb):
    kid = _first_client_id(client)
    sb.faults.add("timeout_after_store", method="PUT", path="^/client/invoice$", seconds=4)
    started = time.monotonic()
    with pytest.raises(errors.KleerUnknownOutcome) as exc:
        client.create_invoice(_invoice(kid, foreign_id="timeout-1"))
    assert time.monotonic() - started < 4
    assert not exc.value.retryable
    # The network's own words apart, for texts that give their own reason.
    assert "timed out" in exc.value.detail
    # Kleer did store it: the look-up finds it, so a retry can adopt it.
    assert len(client.find_invoices_by_foreign_id("timeout-1")) == 1


def test_dropped_connection_after_store_is_unknown_outcome(client, sb):
    kid = _first_client_id(client)
    sb.faults.add("drop_after_store", method="PUT", path="^/client/invoice$")
    with pytest.raises(errors.KleerUnknownOutcome) as exc:
        client.create_invoice(_invoice(kid, foreign_id="drop-1"))
    assert exc.value.detail
    assert len(client.find_invoices_by_foreign_id("drop-1")) == 1


def test_dropped_connection_on_read_is_transient(client, sb):
    sb.faults.add("drop", method="GET", path="^/info$", times=None)
    with pytest.raises(errors.KleerTransientError):
        client.company_info()


def test_unreachable_is_transient():
    c = KleerClient("http://127.0.0.1:9/v1", 1, "token-x", timeout=(1, 1))
    with pytest.raises(errors.KleerTransientError) as exc:
        c.me()
    # The cause alone, for texts that say "could not be reached" themselves.
    assert exc.value.detail == "Connection refused"
    assert "could not be reached" in str(exc.value)


def test_refusal_detail_is_kleers_own_words(client, sb):
    sb.faults.add("status", method="GET", path="^/info$", status=400, message="Fel i anropet")
    with pytest.raises(errors.KleerValidationError) as exc:
        client.company_info()
    assert exc.value.detail == "Fel i anropet"
    # Like the message, without the token when Kleer echoes it.
    sb.faults.add("status", method="GET", path="^/info$", status=400, message=client._token)
    with pytest.raises(errors.KleerValidationError) as exc:
        client.company_info()
    assert client._token not in exc.value.detail


def test_unreachable_write_is_transient_not_unknown():
    # Connection refused: the request never left, so a resend is safe.
    c = KleerClient("http://127.0.0.1:9/v1", 1, "t", timeout=(1, 1))
    with pytest.raises(errors.KleerTransientError):
        c.create_client(types.Client(name="A"))


def test_the_network_reason_is_found_behind_wrappers():
    """urllib3 and requests wrap the socket's error in several layers (args,
    cause, context, ``reason``): both the "never sent" decision and the text
    a person reads look through all of them, each exception once."""
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        try:
            raise refused
        except OSError:
            raise ValueError("pool") from RuntimeError("no strerror here")  # noqa: B904
    except ValueError as wrapped:
        inner = wrapped
    outer = Exception(inner)
    outer.reason = "a text, not an exception"
    outer.__context__ = outer  # a loop
    assert client_module._never_sent(outer)
    assert client_module._cause(outer) == "Connection refused"
    sent = Exception(OSError(104, "Connection reset by peer"))
    assert not client_module._never_sent(sent)
    assert client_module._cause(sent) == "Connection reset by peer"
    assert client_module._cause(Exception("x" * 300)) == "x" * 200 + "…"


@pytest.mark.parametrize("kind", ["malformed", "html", "entity"])
def test_hostile_answers_to_reads(client, sb, kind):
    sb.faults.add(kind, method="GET", path="^/info$", times=None)
    with pytest.raises((errors.KleerBadResponse, errors.KleerTransientError)) as exc:
        client.company_info()
    assert "Sandbox" not in str(exc.value)


def test_html_error_page_is_transient_with_short_message(client, sb):
    sb.faults.add("html", method="GET", path="^/info$", times=None)
    with pytest.raises(errors.KleerTransientError) as exc:
        client.company_info()
    assert exc.value.status == 502 and len(exc.value.message) < 400


def test_entity_answer_is_not_expanded(client, sb):
    sb.faults.add("entity", method="GET", path="^/user/me$")
    with pytest.raises(errors.KleerBadResponse, match="DOCTYPE|not well-formed"):
        client.me()


def test_malformed_answer_to_write_is_unknown_outcome(client, sb):
    sb.faults.add("malformed", method="PUT", path="^/client$")
    with pytest.raises(errors.KleerUnknownOutcome):
        client.create_client(types.Client(name="A"))


def test_huge_answer_is_refused(sb):
    c = KleerClient(sb.base_url, sb.company_id, sb.token, max_response_bytes=1024 * 1024)
    sb.faults.add("huge", method="GET", path="^/info$", mib=2)
    with pytest.raises(errors.KleerBadResponse, match="larger"):
        c.company_info()


def test_token_never_in_errors_or_repr(sb):
    c = KleerClient(sb.base_url, sb.company_id, "secret-token-123")
    with pytest.raises(errors.KleerAuthError) as exc:
        c.me()
    assert "secret-token-123" not in str(exc.value)
    assert "secret-token-123" not in repr(c)
    assert redact("url?x=secret-token-123", "secret-token-123") == "url?x=***"


def test_config_error():
    with pytest.raises(errors.KleerConfigError):
        KleerClient("", 1, "t")
    with pytest.raises(errors.KleerConfigError):
        KleerClient("http://x/v1", "abc", "t")


def test_every_body_the_client_builds_validates():
    inv = _invoice(
        1,
        rows=[
            types.InvoiceRow(
                product_id=1,
                quantity=Decimal("1.5"),
                price=100,
                vat=Decimal("12"),
                discount_percentage=Decimal("10"),
                period=(date(2026, 1, 1), date(2026, 12, 31)),
                dimension_entry_ids=[10, 20],
                delivery_date=date(2026, 1, 2),
            ),
            types.InvoiceRow(
                product_id=1, quantity=Decimal(1), price=-5, vat=Decimal(0), discount_absolute=3
            ),
        ],
        debit_invoice_nr=1001,
        period=(date(2026, 1, 1), date(2026, 12, 31)),
        currency_rate=Decimal("11.4321"),
        files=[types.File("faktura.pdf", b"%PDF-1.4 ...")],
        notes="Tack!",
        delivery_type="Email",
        vat_nr="SE556677889901",
        country_code="SE",
    )
    roots = [
        xmlcodec.invoice_to_xml(inv),
        xmlcodec.client_to_xml(
            types.Client(name="A", dimension_entry_ids=[1], currency="EUR", active=False)
        ),
        xmlcodec.product_to_xml(
            types.Product(name="P", vat_percentage=Decimal(25), account_nr=3001)
        ),
        xmlcodec.dimension_entry_to_xml(
            types.DimensionEntry(name="E", start_date=date(2026, 1, 1))
        ),
    ]
    for root in roots:
        xmlcodec.validate(root)
    # Round trip of the invoice keeps what matters.
    back = xmlcodec.invoice_from_xml(etree.fromstring(xmlcodec.to_bytes(roots[0])))
    assert back.rows[0].dimension_entry_ids == [10, 20]
    assert back.files[0].data == b"%PDF-1.4 ..."
    assert back.rows[1].discount_absolute == 3


# -- long unpaged lists are streamed -------------------------------------------


def test_iter_clients_streams_a_long_list(client, sb):
    from kleer_api.sandbox.seed import _address, client_element

    for i in range(3000):
        sb.state.create_client(
            1,
            client_element(
                f"Kund {i}", f"55{i:08d}", "", _address("Gatan 1", "111 22", "Ort"), 1, "Person"
            ),
        )
    stream = client.iter_clients()
    first = next(stream)  # objects come one at a time
    assert first.id and first.name
    rest = list(stream)
    assert len(rest) + 1 == len(sb.state.clients(sb.company_id))
    assert len({c.id for c in rest}) == len(rest)
    assert rest[-1].name == "Kund 2999"
    assert [c.id for c in client.clients()] == [first.id] + [c.id for c in rest]
    assert client.last_exchange.response_body.endswith(b"bytes, streamed]")


@pytest.mark.parametrize("kind", ["malformed", "entity"])
def test_streamed_list_refuses_hostile_answers(client, sb, kind):
    sb.faults.add(kind, method="GET", path="^/client$")
    with pytest.raises(errors.KleerBadResponse):
        client.clients()


def test_streamed_list_refuses_a_huge_answer(sb):
    c = KleerClient(sb.base_url, sb.company_id, sb.token, max_response_bytes=1024 * 1024)
    sb.faults.add("huge", method="GET", path="^/product$", mib=2)
    with pytest.raises(errors.KleerBadResponse, match="larger"):
        c.products()


def test_streamed_list_checks_the_root(client, sb):
    # /info answers <company-information>: not a list of users.
    with pytest.raises(errors.KleerBadResponse, match="company-information"):
        list(client._iter_list("info", "users", "user", xmlcodec.user_from_xml))


def test_a_realistic_client_is_read_whole(client, sb):
    """What real Kleer clients carry (issue 14): entries, currency, delivery
    type, notes, inactive; served by the sandbox and read back field by field."""
    from kleer_api.sandbox.seed import _address, client_element

    kleer_id = sb.state.create_client(
        1,
        client_element(
            "Virtanen Oy",
            "2077474-0",
            "lasku@virtanen.example.fi",
            _address("Mannerheimintie 1", "00100", "Helsingfors", "Finland", "Box 7"),
            2,
            "Organisation",
            vat_nr="FI20774740",
            payment_days=45,
            contact="Aino Virtanen",
            country_code="FI",
            currency="EUR",
            phone="+358 912345678",
            notes="Faktureras kvartalsvis",
            delivery_type="Mail",
            entry_ids=[11, 20],
            active=False,
        ),
    )
    found = [c for c in client.iter_clients() if c.id == kleer_id]
    assert found == [client.client(kleer_id)]
    c = found[0]
    assert (c.name, c.contact, c.email, c.phone, c.orgno, c.vat_nr) == (
        "Virtanen Oy",
        "Aino Virtanen",
        "lasku@virtanen.example.fi",
        "+358 912345678",
        "2077474-0",
        "FI20774740",
    )
    assert (c.address.address1, c.address.address2, c.address.zip_code) == (
        "Mannerheimintie 1",
        "Box 7",
        "00100",
    )
    assert (c.address.state, c.address.country, c.country_code) == ("Helsingfors", "Finland", "FI")
    assert (c.client_type, c.currency, c.payment_days, c.user_id) == ("Organisation", "EUR", 45, 2)
    assert (c.delivery_type, c.notes, c.dimension_entry_ids, c.active) == (
        "Mail",
        "Faktureras kvartalsvis",
        [11, 20],
        False,
    )


@pytest.mark.parametrize(
    ("body", "ids", "error"),
    [
        (b"<clients/>", [], None),
        # An element of the items' name deeper down is not an item.
        (
            b"<clients><x><client><id>5</id></client></x><client><id>2</id></client></clients>",
            [2],
            None,
        ),
        (b"<client><id>1</id></client>", None, "<client> where <clients>"),
        (b"<users><client><id>1</id></client></users>", None, "<users> where <clients>"),
        (b"<users/>", None, "<users> where <clients>"),
    ],
)
def test_streamed_list_takes_only_the_roots_items(body, ids, error):
    import io

    items = xmlcodec.iter_items(io.BytesIO(body), "clients", "client", xmlcodec.client_from_xml)
    if error:
        with pytest.raises(errors.KleerBadResponse, match=error):
            list(items)
    else:
        assert [c.id for c in items] == ids


def test_streamed_list_errors_are_typed(sb):
    c = KleerClient(sb.base_url, sb.company_id, "wrong")
    with pytest.raises(errors.KleerAuthError):
        c.users()


# -- Retry-After: urllib3 reads it, the client caps it --------------------------


def test_retry_after_http_date_form(client, sb):
    # RFC 9110 allows an HTTP-date too; the wait is counted from now.
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    sb.faults.add("status", method="PUT", path="^/client$", status=429, retry_after=when)
    with pytest.raises(errors.KleerRateLimited) as exc:
        client.create_client(types.Client(name="A"))
    assert 110 <= exc.value.retry_after <= 121


def test_retry_after_date_in_the_past_is_zero(client, sb):
    sb.faults.add(
        "status",
        method="PUT",
        path="^/client$",
        status=503,
        retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
    )
    with pytest.raises(errors.KleerTransientError) as exc:
        client.create_client(types.Client(name="A"))
    assert exc.value.retry_after == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120),
        (" 7 ", 7),
        ("0", 0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # delay-seconds is 1*DIGIT
        ("Mon, 32 Foo 2026 99:00:00 GMT", None),
        ("99999999999", client_module.RETRY_AFTER_MAX),
        ("Fri, 31 Dec 9999 23:59:59 GMT", client_module.RETRY_AFTER_MAX),
    ],
)
def test_retry_after_parsing(header, expected):
    assert client_module._retry_after(header) == expected


def test_retry_after_cap_reaches_the_error(client, sb):
    sb.faults.add("status", method="PUT", path="^/client$", status=429, retry_after=10**9)
    with pytest.raises(errors.KleerRateLimited) as exc:
        client.create_client(types.Client(name="A"))
    assert exc.value.retry_after == client_module.RETRY_AFTER_MAX == 86400
