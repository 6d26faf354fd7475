"""Exact conversion between Decimal amounts and Kleer's integer öre (cents)."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

HUNDRED = Decimal(100)


def to_decimal(value):
    """Decimal from an int, str, Decimal or float (floats through ``repr`` so
    that 0.1 stays 0.1 and not its binary expansion)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def to_ore(amount):
    """Amount in currency units -> int öre. Refuses amounts with fractions of
    an öre instead of rounding them away silently."""
    ore = to_decimal(amount) * HUNDRED
    if ore != ore.to_integral_value():
        raise ValueError(f"{amount} cannot be represented in öre (cents)")
    return int(ore)


def round_to_ore(amount):
    """Amount -> int öre, rounding half away from zero (Swedish practice)."""
    return int((to_decimal(amount) * HUNDRED).quantize(Decimal(1), ROUND_HALF_UP))


def from_ore(ore):
    """int öre -> Decimal with two decimals."""
    return (Decimal(int(ore)) / HUNDRED).quantize(Decimal("0.01"))
