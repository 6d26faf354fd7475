"""Exact rows: what Kleer computes from the planned rows (the sandbox's own
row arithmetic, fed the XML the codec writes) equals the booked amounts."""

import random
from datetime import date
from decimal import Decimal as D

import pytest

from kleer_api import rowplan, xmlcodec
from kleer_api.rowplan import Line, RowPlanError, plan_row, plan_rows, rhu
from kleer_api.sandbox.store import row_amounts
from kleer_api.types import Invoice, InvoiceRow


def kleer_totals(rows):
    """(amount, vat) the sandbox computes, through the real XML."""
    invoice = Invoice(
        client_id=1,
        invoice_date=date(2026, 1, 1),
        due_date=date(2026, 1, 31),
        currency="SEK",
        rows=[
            InvoiceRow(
                product_id=1,
                quantity=r.quantity,
                price=r.price,
                vat=r.vat,
                discount_percentage=r.discount_percentage,
                discount_absolute=r.discount_absolute,
            )
            for r in rows
        ],
    )
    root = xmlcodec.invoice_to_xml(invoice)
    xmlcodec.validate(root)
    amount = vat = 0
    for row in root.find("rows"):
        net, row_vat = row_amounts(row)
        amount += net
        vat += row_vat
    return amount, vat


def test_plain_line_keeps_quantity_and_price():
    row = plan_row(Line("a", D(3), D("199.90"), 59970, D(25)))
    assert (row.quantity, row.price, row.discount_percentage, row.discount_absolute) == (
        D(3),
        19990,
        None,
        None,
    )


def test_percentage_discount_kept_when_exact():
    row = plan_row(Line("a", D(2), D(100), 18000, D(25), discount=D(10)))
    assert row.discount_percentage == D(10) and row.discount_absolute is None


def test_percentage_discount_replaced_by_absolute_when_rounding_differs():
    # 0.05 -50 %: Kleer's percentage rounds the discount (2.5 -> 3 öre) and nets 2 öre.
    row = plan_row(Line("b", D(1), D("0.05"), 2, D(25), discount=D(50)))
    assert row.discount_percentage == D(50) and row.net() == 2
    # Booked as 3 öre (the net rounded instead): the percentage cannot say it.
    row = plan_row(Line("a", D(1), D("0.05"), 3, D(25), discount=D(50)))
    assert row.net() == 3 and row.discount_absolute == 2 and row.discount_percentage is None


def test_fractional_unit_price_is_rounded_up_with_a_discount():
    row = plan_row(Line("a", D(3), D("0.333"), 100, D(25)))
    assert (row.quantity, row.price, row.discount_absolute) == (D(3), 34, 2)


def test_decimal_hours_keep_quantity_and_price():
    # 2.33 h x 987.65 kr = 2,301.2245: Kleer rounds it half up to Odoo's 2,301.22.
    row = plan_row(Line("a", D("2.33"), D("987.65"), 230122, D(25)))
    assert (row.quantity, row.price, row.discount_percentage, row.discount_absolute) == (
        D("2.33"),
        98765,
        None,
        None,
    )
    assert row.note == ""
    assert kleer_totals([row]) == (230122, rhu(D(230122) / 4))


def test_decimal_quantity_keeps_its_percentage_discount():
    # 2.33 x 987.65 -10 %: Odoo books 2,071.10; Kleer: 230122 - 23012 öre.
    row = plan_row(Line("a", D("2.33"), D("987.65"), 207110, D(25), discount=D(10)))
    assert (row.quantity, row.price, row.discount_percentage) == (D("2.33"), 98765, D(10))
    assert row.discount_absolute is None and row.net() == 207110


def test_decimal_quantity_kept_with_an_absolute_discount_when_the_percentage_rounds_off():
    # 0.5 x 0.05 kr = 2.5 öre, Kleer's gross 3; -50 % nets 3 - 2 = 1 öre. A
    # booked net of 2 öre needs an absolute discount; the quantity stays.
    row = plan_row(Line("a", D("0.5"), D("0.05"), 2, D(25), discount=D(50)))
    assert (row.quantity, row.price) == (D("0.5"), 5)
    assert row.discount_percentage is None and row.discount_absolute == 1 and row.net() == 2


def test_decimal_quantities_with_whole_ore_prices_are_never_folded():
    rnd = random.Random(7)
    for _i in range(2000):
        qty = D(rnd.randint(1, 100000)) / D(rnd.choice([10, 100, 1000]))
        price = D(rnd.randint(1, 10000000)) / 100
        row = plan_row(Line("a", qty, price, rhu(qty * price * 100), D(25)))
        assert (row.quantity, row.price, row.discount_absolute) == (qty, int(price * 100), None)


def test_folds_only_when_a_surcharge_would_be_needed():
    # Booked more than quantity x price (no discount can say it): 1 x the net.
    row = plan_row(Line("a", D("0.3333"), D("10"), 334, D(25)))
    assert (row.quantity, row.price, row.note) == (D(1), 334, "0.3333 × 10")


def test_price_included_tax_uses_discount_for_the_remainder():
    # 3 x 99.99 incl. 25 %: booked net 239.98 (299.97 / 1.25 = 239.976)
    row = plan_row(Line("a", D(3), D("99.99"), 23998, D(25), price_is_net=False))
    assert row.quantity == D(3) and row.price == 8000
    assert row.discount_absolute == 2 and row.net() == 23998


def test_negative_line():
    row = plan_row(Line("a", D(1), D("-50"), -5000, D(25)))
    assert row.net() == -5000 and row.price == -5000


def test_vat_split_matches_global_rounding():
    # Two lines 12.12 x 12.12 at 23 %: per line 33.79 + 33.79, globally 67.57.
    lines = [Line(i, D("12.12"), D("12.12"), 14689, D(23)) for i in range(2)]
    lines[0].net = 14690  # Odoo puts the base delta (293.79 total) on one line
    rows = plan_rows(lines, {D(23): 6757})
    assert kleer_totals(rows) == (29379, 6757)
    assert sum(r.adjustment for r in rows) <= 1


def test_vat_on_zero_rate_cannot_be_invented():
    with pytest.raises(RowPlanError, match="0 %"):
        plan_rows([Line("a", D(1), D(10), 1000, D(0))], {D(0): 1})


def test_credit_rows_are_negative():
    rows = rowplan.negate(
        plan_rows([Line("a", D(2), D(100), 18000, D(25), discount=D(10))], {D(25): 4500})
    )
    assert kleer_totals(rows) == (-18000, -4500)


@pytest.mark.parametrize("seed", range(40))
def test_random_invoices_match_to_the_ore(seed):
    """Lines as Odoo books them (per line, half up; VAT globally rounded per
    rate, or per line), price-included or not, discounts: Kleer's totals are
    the booked ones."""
    rnd = random.Random(seed)
    lines, vat_raw, vat_line = [], {}, {}
    for i in range(rnd.randint(1, 12)):
        qty = D(rnd.choice(["1", "2", "3", "0.5", "1.25", "7", "12.12", "0.333"]))
        price = D(rnd.randint(-2000, 300000)) / D(rnd.choice([100, 1000]))
        disc = D(rnd.choice(["0", "0", "5", "10", "12.5", "33.33"]))
        rate = D(rnd.choice([25, 12, 6, 0]))
        included = rnd.random() < 0.3
        raw = qty * price * (1 - disc / 100)
        if included:
            raw = raw / (1 + rate / 100)
        net = rhu(raw * 100)
        lines.append(Line(i, qty, price, net, rate, disc, not included))
        vat_raw[rate] = vat_raw.get(rate, 0) + raw * 100 * rate / 100
        vat_line[rate] = vat_line.get(rate, 0) + rhu(net * rate / 100)
    targets = {r: rhu(v) for r, v in vat_raw.items()} if seed % 2 else vat_line
    rows = plan_rows(lines, targets)
    assert kleer_totals(rows) == (sum(line.net for line in lines), sum(targets.values()))
