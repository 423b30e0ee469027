"""Indonesian formatting filters (docgen.formatting)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from docgen.formatting import (
    FILTERS,
    add_months,
    angka,
    kuantitas,
    nip,
    npwp,
    roman_month,
    tanggal,
    terbilang,
)


def test_tanggal_writes_indonesian_letter_date() -> None:
    assert tanggal(date(2015, 12, 18)) == "18 Desember 2015"


def test_tanggal_has_no_leading_zero() -> None:
    assert tanggal(date(2026, 3, 5)) == "5 Maret 2026"


@pytest.mark.parametrize(
    ("month", "name"),
    [
        (1, "Januari"),
        (2, "Februari"),
        (3, "Maret"),
        (4, "April"),
        (5, "Mei"),
        (6, "Juni"),
        (7, "Juli"),
        (8, "Agustus"),
        (9, "September"),
        (10, "Oktober"),
        (11, "November"),
        (12, "Desember"),
    ],
)
def test_tanggal_month_names(month: int, name: str) -> None:
    assert tanggal(date(2026, month, 28)) == f"28 {name} 2026"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1250.5"), "1.250,5"),
        (1000000, "1.000.000"),
        (Decimal("0.125"), "0,125"),
        (Decimal("42500"), "42.500"),
        (Decimal("8750.5"), "8.750,5"),
        (7, "7"),
        (Decimal("999999999999999.999"), "999.999.999.999.999,999"),
    ],
)
def test_angka_uses_indonesian_separators(value: Decimal | int, expected: str) -> None:
    assert angka(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000, "seribu"),
        (1, "satu"),
        (11, "sebelas"),
        (100, "seratus"),
        (1200, "seribu dua ratus"),
        (1000000, "satu juta"),
        (Decimal("1250.5"), "seribu dua ratus lima puluh koma lima"),
    ],
)
def test_terbilang_writes_numbers_in_words(value: Decimal | int, expected: str) -> None:
    assert terbilang(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1000"), "1.000 (seribu)"),
        (Decimal("1200"), "1.200 (seribu dua ratus)"),
        (3, "3 (tiga)"),
    ],
)
def test_kuantitas_writes_figures_and_words(value: Decimal | int, expected: str) -> None:
    assert kuantitas(value) == expected


# A request may legitimately carry "quantity": "2500.00" (the model accepts up to three
# decimal places). The figures drop the trailing zeros; the words must say the same number.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("2500.00"), "2.500 (dua ribu lima ratus)"),
        (Decimal("1.10"), "1,1 (satu koma satu)"),
    ],
)
def test_kuantitas_words_match_figures_for_trailing_zeros(value: Decimal, expected: str) -> None:
    assert kuantitas(value) == expected


# The model accepts "quantity": "1E+3" (a valid Decimal with no decimal places); the filter used
# by the HTML templates must then not crash the render.
def test_kuantitas_of_exponent_decimal() -> None:
    assert kuantitas(Decimal("1E+3")) == "1.000 (seribu)"


@pytest.mark.parametrize(
    ("month", "roman"),
    [
        (1, "I"),
        (2, "II"),
        (3, "III"),
        (4, "IV"),
        (5, "V"),
        (6, "VI"),
        (7, "VII"),
        (8, "VIII"),
        (9, "IX"),
        (10, "X"),
        (11, "XI"),
        (12, "XII"),
    ],
)
def test_roman_month(month: int, roman: str) -> None:
    assert roman_month(month) == roman


@pytest.mark.parametrize("month", [0, 13, -1])
def test_roman_month_outside_1_to_12_is_refused(month: int) -> None:
    with pytest.raises(ValueError, match=f"month must be 1 to 12, not {month}"):
        roman_month(month)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2027, 12, 15), 2, date(2028, 2, 15)),
        (date(2026, 11, 10), 12, date(2027, 11, 10)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 5, 20), 0, date(2026, 5, 20)),
        (date(2026, 1, 15), 24, date(2028, 1, 15)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_filters_offer_every_formatter_by_name() -> None:
    expected = {
        "tanggal": tanggal,
        "angka": angka,
        "terbilang": terbilang,
        "kuantitas": kuantitas,
        "romawi": roman_month,
        "nip": nip,
        "npwp": npwp,
    }
    assert dict(FILTERS) == expected


def test_nip_is_grouped_as_printed_under_a_signature() -> None:
    assert nip("197005152000031002") == "19700515 200003 1 002"


@pytest.mark.parametrize(
    ("digits", "printed"),
    [("012345678901000", "01.234.567.8-901.000"), ("0123456789012345", "0123456789012345")],
)
def test_npwp_prints_the_old_form_dotted(digits: str, printed: str) -> None:
    assert npwp(digits) == printed
