"""Öre conversions, the safe parser, and the XSD copy's integrity."""

import hashlib
import pathlib
from decimal import Decimal

import pytest

from kleer_api import errors, money, xmlcodec

XSD = pathlib.Path(xmlcodec.SCHEMA_PATH)
XSD_SHA256 = "21a242a34c4b5f5dc4839ff87418ee85aff532f66dced3b2e7f0652a8eaa3ad6"


def test_schema_copy_is_kleers_published_file():
    assert hashlib.sha256(XSD.read_bytes()).hexdigest() == XSD_SHA256


@pytest.mark.parametrize(
    "amount, ore",
    [
        ("0.01", 1),
        ("10", 1000),
        ("1234.56", 123456),
        ("-0.5", -50),
        (Decimal("0.10"), 10),
        (0.1, 10),
        (3, 300),
    ],
)
def test_to_ore_exact(amount, ore):
    assert money.to_ore(amount) == ore


@pytest.mark.parametrize("amount", ["0.001", "10.125", Decimal("1.005")])
def test_to_ore_refuses_fractions_of_an_ore(amount):
    with pytest.raises(ValueError, match="öre"):
        money.to_ore(amount)


def test_round_to_ore_is_half_up():
    assert money.round_to_ore("0.005") == 1
    assert money.round_to_ore("-0.005") == -1
    assert money.round_to_ore("2.675") == 268  # float would say 2.67


def test_from_ore():
    assert money.from_ore(123456) == Decimal("1234.56")
    assert money.from_ore(-1) == Decimal("-0.01")


def test_parse_refuses_doctype_and_entities():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<user><name>&b;</name></user>"
    )
    with pytest.raises(errors.KleerBadResponse):
        xmlcodec.parse(bomb)


def test_parse_refuses_external_entity():
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><user><name>&e;</name></user>'
    with pytest.raises(errors.KleerBadResponse):
        xmlcodec.parse(evil)


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"<html><body>502</body>", b"Tekniskt fel", b"<user><name>x</user>"]
)
def test_parse_refuses_non_xml(body):
    with pytest.raises(errors.KleerBadResponse):
        xmlcodec.parse(body)


def test_error_message_extraction():
    assert (
        xmlcodec.error_message(b"<error><message>Ogiltig kund</message></error>") == "Ogiltig kund"
    )
    assert xmlcodec.error_message(b"<html/>") is None
