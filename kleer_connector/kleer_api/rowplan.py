"""Exact invoice rows: choose quantity, price, discount (and, rarely, small
VAT-adjustment rows) so that the amounts Kleer computes from the rows equal
the accounting system's amounts to the öre. No Odoo here.

Kleer (and the sandbox) compute per row::

    gross = round_half_up(quantity * price)          # price in öre
    net   = gross - discount                         # absolute öre, or
    net   = gross - round_half_up(gross * pct / 100) # percentage
    vat   = round_half_up(net * vat_pct / 100)

and sum rows for the invoice's amount and VAT. The technique, in order:

1. Keep the user's quantity, unit price and discount percentage when they
   give the line's net exactly (2.33 h x 987.65 kr: Kleer rounds 2,301.2245
   to Odoo's 2,301.22; decimal quantities are kept, never folded for that).
2. Else keep the quantity and send the difference as an absolute discount in
   öre (a price-included tax, Odoo's global rounding); when the unit price
   is not a whole öre net of tax, the net unit price rounded away from zero
   is sent, so the remainder is always a (small) discount, never a surcharge.
3. Else (only a surcharge could reach the net) send quantity 1 at the line's
   net; the row notes "quantity x unit price" so nothing is lost to a reader.
4. VAT: per VAT rate, when the rounded row VATs do not sum to the VAT of the
   accounting document (round-globally, price-included taxes), move k öre of a
   row's net into a small extra row of the same rate: the net is unchanged and
   each such split shifts the rounded VAT by exactly one öre.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

HUNDRED = Decimal(100)
MAX_ADJUSTMENT = 1000  # öre searched for a VAT split


class RowPlanError(ValueError):
    """The amounts cannot be expressed exactly as Kleer rows."""


def rhu(value):
    """Round half away from zero to an int (Kleer's and Odoo's rounding)."""
    return int(Decimal(value).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass
class Line:
    key: object
    quantity: Decimal
    price_unit: Decimal  # in currency units, as the user entered it
    net: int  # öre: the line's untaxed amount as booked (authoritative)
    vat: Decimal  # percent
    discount: Decimal = Decimal(0)  # percent
    price_is_net: bool = True  # False when the unit price includes the tax


@dataclass
class Row:
    key: object
    quantity: Decimal
    price: int
    vat: Decimal
    discount_percentage: Decimal | None = None
    discount_absolute: int | None = None
    note: str = ""  # set when the quantity was folded into the price
    adjustment: bool = False  # an extra row created for VAT rounding

    def gross(self):
        return rhu(self.quantity * self.price)

    def net(self):
        gross = self.gross()
        if self.discount_absolute is not None:
            return gross - self.discount_absolute
        if self.discount_percentage is not None:
            return gross - rhu(gross * self.discount_percentage / HUNDRED)
        return gross

    def vat_amount(self):
        return rhu(self.net() * self.vat / HUNDRED)


def _integral(value):
    return value == value.to_integral_value()


def _fmt(value):
    text = format(value.normalize(), "f")
    return text


def plan_row(line):
    """One Row whose Kleer net equals ``line.net``."""
    q, n, disc = line.quantity, line.net, line.discount or Decimal(0)
    price_ore = line.price_unit * HUNDRED
    if line.price_is_net and _integral(price_ore):
        price = int(price_ore)
    elif q and disc < HUNDRED:
        # Net unit price before discount, rounded away from zero so that a
        # discount (never a surcharge) absorbs the remainder.
        gross_wanted = Decimal(n) / (1 - disc / HUNDRED)
        unit = gross_wanted / q
        price = int(abs(unit).quantize(Decimal(1), ROUND_CEILING)) * (1 if unit >= 0 else -1)
    else:
        price = None
    if price is not None:
        gross = rhu(q * price)  # Kleer's own rounding of quantity x price
        if disc and gross - rhu(gross * disc / HUNDRED) == n:
            return Row(line.key, q, price, line.vat, discount_percentage=disc)
        if gross == n:
            return Row(line.key, q, price, line.vat)
        rest = gross - n
        # Only a true discount: same sign as the gross and not beyond it.
        if gross and (rest > 0) == (gross > 0) and abs(rest) <= abs(gross):
            return Row(line.key, q, price, line.vat, discount_absolute=rest)
    note = f"{_fmt(q)} × {_fmt(line.price_unit)}"
    if disc:
        note += f" −{_fmt(disc)} %"
    return Row(line.key, Decimal(1), n, line.vat, note=note)


def plan_rows(lines, vat_targets=None):
    """Rows for ``lines``; with ``vat_targets`` ({vat percent: öre}) the VAT
    per rate is made equal to the target. Raises RowPlanError."""
    rows = [plan_row(line) for line in lines]
    for row, line in zip(rows, lines, strict=True):
        if row.net() != line.net:  # a bug here must never reach Kleer
            raise RowPlanError(f"row for {line.key!r} nets {row.net()} öre, not {line.net}")
    if vat_targets is None:
        return rows
    rates = {Decimal(r) for r in vat_targets} | {row.vat for row in rows}
    for rate in sorted(rates):
        target = vat_targets.get(rate, 0)
        same = [row for row in rows if row.vat == rate]
        delta = target - sum(row.vat_amount() for row in same)
        if delta and not rate:
            raise RowPlanError(f"{_fmt(target / HUNDRED)} of VAT booked at 0 %")
        sources = sorted((r for r in same if r.net()), key=lambda r: -abs(r.net()))
        while delta:
            if not sources:
                raise RowPlanError(
                    f"the VAT at {_fmt(rate)} % differs by {delta} öre from what Kleer "
                    "computes from the rows and cannot be matched"
                )
            step = 1 if delta > 0 else -1
            extra = _split(sources.pop(0), step)
            if extra is None:
                continue
            rows.append(extra)
            delta -= step
    return rows


def _split(row, step):
    """Move k öre of ``row``'s net into a new row so that the VAT of the two
    is one öre ``step`` away from the row's; None when no k works."""
    net, rate = row.net(), row.vat
    before = row.vat_amount()
    for size in range(1, MAX_ADJUSTMENT + 1):
        for k in (size, -size) if net > 0 else (-size, size):
            rest = net - k
            if rhu(rest * rate / HUNDRED) + rhu(k * rate / HUNDRED) == before + step:
                row.discount_absolute = row.gross() - rest
                row.discount_percentage = None
                return Row(row.key, Decimal(1), k, rate, adjustment=True)
    return None


def negate(rows):
    """Rows of a credit note: Kleer's credit invoices carry negative amounts
    (quantities negated; prices stay as the user sees them)."""
    for row in rows:
        row.quantity = -row.quantity
        if row.discount_absolute is not None:
            row.discount_absolute = -row.discount_absolute
    return rows
