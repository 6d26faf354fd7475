"""Swedish OCR references against numbers published as valid elsewhere."""

import pytest

from kleer_api import ocr

# Valid variable-length OCRs (length digit + Luhn) from the test suite of
# zerodep/ocrgenerator (test/ocrgenerator-test.js) and the README of
# barsoom/banktools-se ("123" -> "12351").
KNOWN_LENGTH_DIGIT = [
    "18108401345678778",
    "18196701475307475",
    "1018966492531",
    "1019080881039",
    "03368912618",
    "1202951008",
    "1636976",
    "12351",
]


@pytest.mark.parametrize("number", KNOWN_LENGTH_DIGIT)
def test_known_valid_numbers(number):
    assert ocr.is_valid(number, length_digit=True)
    # Regenerated from their base, they come out the same.
    assert ocr.with_length_digit(number[:-2]) == number


def test_check_digit_only():
    assert ocr.with_check_digit("123") == "1230"  # banktools-se README
    assert ocr.is_valid("1230") and not ocr.is_valid("1230", length_digit=True)


def test_length_digit_is_the_units_digit_from_ten_digits_on():
    # l10n_se's se_ocr3 would write "1" here (first digit of 10).
    assert ocr.with_length_digit("12345678") == "1234567806"
    assert ocr.with_length_digit("12345678")[-2] == "0"


@pytest.mark.parametrize("bad", ["", "1", "12a4", "1231", "1234567816", "1" * 26])
def test_invalid(bad):
    assert not ocr.is_valid(bad, length_digit=True)


def test_fixed_length():
    assert ocr.with_fixed_length("42", 6) == "000422"
    assert ocr.is_valid("000422", length=6)
    with pytest.raises(ValueError):
        ocr.with_fixed_length("123456", 6)
