"""The currency-rate direction the connector sends (accounting currency per
one invoice-currency unit) is the one the sandbox accepts; an inverted rate
is refused."""

from datetime import date
from decimal import Decimal

import pytest

from kleer_api import xmlcodec
from kleer_api.sandbox import COMPANY_ID, ApiError, Store
from kleer_api.sandbox.seed import populate
from kleer_api.types import Invoice, InvoiceRow


def invoice(currency, rate):
    return xmlcodec.invoice_to_xml(
        Invoice(
            client_id=201,
            invoice_date=date(2026, 3, 10),
            due_date=date(2026, 4, 9),
            currency=currency,
            currency_rate=rate,
            rows=[InvoiceRow(product_id=101, quantity=Decimal(1), price=10000, vat=Decimal(25))],
        )
    )


@pytest.fixture
def store():
    return Store(seeder=populate)


def test_accounting_currency_per_unit_is_accepted(store):
    assert store.create_invoice(COMPANY_ID, invoice("EUR", Decimal("11.425")))


def test_inverted_rate_is_refused(store):
    with pytest.raises(ApiError, match="send SEK per one EUR"):
        store.create_invoice(COMPANY_ID, invoice("EUR", Decimal("0.0875")))


def test_accounting_currency_takes_rate_one_or_none(store):
    assert store.create_invoice(COMPANY_ID, invoice("SEK", None))
    with pytest.raises(ApiError, match="rate must be 1"):
        store.create_invoice(COMPANY_ID, invoice("SEK", Decimal("2")))
