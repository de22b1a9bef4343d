"""Phone normalisation: every way of writing a number gives the same key; garbage gets a reason."""

from __future__ import annotations

import pytest

from crm_core.phones import PhoneError, normalize, try_normalize

SAME_NUMBER_US = [
    "+1 212 555 0101",
    "+12125550101",
    "(212) 555-0101",
    "212.555.0101",
    "212-555-0101",
    "1 212 555 0101",
    "+1.212.555.0101",
    "  +1 (212) 555-0101  ",
]


@pytest.mark.parametrize("raw", SAME_NUMBER_US)
def test_formats_of_one_us_number_give_one_key(raw: str) -> None:
    number = normalize(raw, region="US")
    assert number.e164 == "+12125550101"
    assert number.extension == ""
    assert number.raw == raw.strip()


@pytest.mark.parametrize("raw", ["030 1234567", "+49 30 1234567", "0049 30 1234567", "+49 (0)30 123-4567", "030/1234567"])
def test_national_and_international_german_forms(raw: str) -> None:
    assert normalize(raw, region="DE").e164 == "+49301234567"


@pytest.mark.parametrize(
    ("raw", "e164", "extension"),
    [
        ("+1 212 555 0101 ext. 12", "+12125550101", "12"),
        ("+1-212-555-0101;ext=7", "+12125550101", "7"),
        ("212 555 0101 x 345", "+12125550101", "345"),
    ],
)
def test_extensions_are_kept_apart_from_the_number(raw: str, e164: str, extension: str) -> None:
    number = normalize(raw, region="US")
    assert (number.e164, number.extension) == (e164, extension)


def test_region_decides_national_numbers() -> None:
    assert normalize("0301234567", region="DE").e164 == "+49301234567"
    assert normalize("2125550101", region="US").e164 == "+12125550101"
    assert normalize("2125550101", region="DE").e164 != "+12125550101"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "withheld"),
        ("anonymous", "withheld"),
        ("Unavailable", "withheld"),
        ("abc", "not a possible"),
        ("12", "not a possible"),
        ("+1 212", "not a possible"),
        ("1" * 65, "longer than"),
        ("+999 123 4567", "not a possible"),
        ("☎☎☎", "not a possible"),
    ],
)
def test_bad_input_is_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(PhoneError, match=reason):
        normalize(raw, region="US")
    assert try_normalize(raw, region="US") is None


def test_non_text_is_refused() -> None:
    with pytest.raises(PhoneError, match="text"):
        normalize(2125550101, region="US")  # type: ignore[arg-type]
    assert try_normalize(None, region="US") is None


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("+١ ٢١٢ ٥٥٥ ٠١٠١", "+12125550101"), ("+٢٠ ١٠٠ ١٢٣ ٤٥٦٧", "+201001234567"), ("＋２０ １００ １２３ ４５６７", "+201001234567")],
)
def test_other_digit_scripts_are_read_by_value_when_international(raw: str, e164: str) -> None:
    assert normalize(raw, region="US").e164 == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("٢١٢٥٥٥٠١٠١", "must be international"),  # Arabic-Indic: not taken as a US national number
        ("۲۱۲۵۵۵۰۱۰۱", "must be international"),  # Persian
        ("(212) ٥٥٥-0101", "mixes digits"),
    ],
)
def test_other_digit_scripts_are_never_read_in_the_default_region(raw: str, reason: str) -> None:
    with pytest.raises(PhoneError, match=reason):
        normalize(raw, region="US")
    assert try_normalize(raw, region="US") is None
