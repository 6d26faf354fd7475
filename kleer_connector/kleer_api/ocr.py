"""Swedish OCR payment references (Bankgirot "OCR-referens"), no Odoo.

Levels as Bankgirot names them:
- check digit only (soft/hard control): base + Luhn (mod 10) digit;
- length digit (variable length): base + L + Luhn, where L is the units digit
  of the total length (base + 2). The Luhn digit covers L too.
- fixed length: base left-padded with zeros + Luhn.

l10n_se's ``se_ocr3`` takes the *first* digit of the total length, which is
wrong from a total length of 10 on (10 -> "1" instead of "0"); this module
uses the units digit, as Bankgirot's own checker does.
"""

from stdnum import luhn

MIN_LENGTH = 2
MAX_LENGTH = 25


def _digits(base):
    base = str(base)
    if not base.isdigit():
        raise ValueError(f"an OCR base must be digits only, not {base!r}")
    return base


def with_check_digit(base):
    base = _digits(base)
    return _bounded(base + luhn.calc_check_digit(base))


def with_length_digit(base):
    base = _digits(base)
    base += str((len(base) + 2) % 10)
    return _bounded(base + luhn.calc_check_digit(base))


def with_fixed_length(base, length):
    base = _digits(base)
    if len(base) + 1 > length:
        raise ValueError(f"{base} does not fit an OCR of {length} digits")
    base = base.rjust(length - 1, "0")
    return _bounded(base + luhn.calc_check_digit(base))


def _bounded(ocr):
    if not MIN_LENGTH <= len(ocr) <= MAX_LENGTH:
        raise ValueError(f"an OCR has {MIN_LENGTH} to {MAX_LENGTH} digits, {ocr} has {len(ocr)}")
    return ocr


def is_valid(ocr, length_digit=False, length=None):
    """True when ``ocr`` is a valid OCR reference; ``length_digit`` also
    checks the length digit, ``length`` a fixed total length."""
    ocr = str(ocr or "")
    if not ocr.isdigit() or not MIN_LENGTH <= len(ocr) <= MAX_LENGTH:
        return False
    if not luhn.is_valid(ocr):
        return False
    if length_digit and (len(ocr) < 3 or int(ocr[-2]) != len(ocr) % 10):
        return False
    if length and len(ocr) != length:
        return False
    return True
