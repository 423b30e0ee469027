"""Structural checks of Indonesian identifiers and of free text (docgen.identifiers)."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from docgen.identifiers import (
    Npwp,
    TariffCode,
    check_nib,
    check_nip,
    check_npwp,
    check_tariff_code,
    clean_text,
)

# --- NIB: 13 digits ---------------------------------------------------------------------------


def test_nib_of_13_digits_is_accepted() -> None:
    assert check_nib("9120301234567") == "9120301234567"


def test_nib_surrounding_space_is_stripped() -> None:
    assert check_nib(" 9120301234567 ") == "9120301234567"


@pytest.mark.parametrize(
    "value",
    [
        "912030123456",  # 12 digits
        "91203012345678",  # 14 digits
        "912030123456A",  # a letter
        "NIB9120301234",
        "9120-301234567",
        "",
        "\uff19\uff11\uff12\uff10\uff13\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
    ],
)
def test_nib_of_wrong_shape_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="13 digits"):
        check_nib(value)


# --- NPWP: 16 digits, or the old 15-digit dotted form ------------------------------------------


def test_npwp_of_16_digits_is_accepted() -> None:
    assert check_npwp("0123456789012345") == "0123456789012345"


def test_old_dotted_npwp_is_accepted_and_stored_as_digits() -> None:
    assert check_npwp("01.234.567.8-901.000") == "012345678901000"


def test_npwp_annotated_type_normalises_too() -> None:
    assert TypeAdapter(Npwp).validate_python("01.234.567.8-901.000") == "012345678901000"


@pytest.mark.parametrize(
    "value",
    [
        "01234567890123",  # 14 digits
        "01.234.567.8-901.00",  # 14 digits, dotted
        "01234567890123456",  # 17 digits
        "01.234.567.8-901.00X",
        "",
    ],
)
def test_npwp_of_wrong_shape_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="16 digits"):
        check_npwp(value)


# --- NIP: birth date + appointment month + gender + sequence -----------------------------------

VALID_NIP = "197005152000031002"


def test_valid_nip_is_accepted() -> None:
    assert check_nip(VALID_NIP) == VALID_NIP


def test_female_nip_is_accepted() -> None:
    assert check_nip("197604182002122001") == "197604182002122001"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("197013452000031002", r"birth date as YYYYMMDD \(19701345 is not a real date\)"),
        ("197102292000031002", r"19710229 is not a real date"),  # 29 Feb in a common year
        ("197005152000131002", r"appointment month as YYYYMM \(200013 is not a month\)"),
        ("197005152000001002", r"200000 is not a month"),
        ("197005151960031002", r"appointment month 196003 must come after the birth date 19700515"),
        ("197005151975041002", r"appointment year 1975 is not plausible"),  # appointed as a baby
        ("197005152000033002", r"digit 15 must be 1 \(male\) or 2 \(female\), not 3"),
        ("197005152000030002", r"digit 15 must be 1 \(male\) or 2 \(female\), not 0"),
        ("19700515200003100", r"exactly 18 digits"),
        ("1970051520000310021", r"exactly 18 digits"),
        ("19700515200003100A", r"exactly 18 digits"),
    ],
)
def test_invalid_nip_says_which_part_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_nip(value)


# --- Tariff code: 8 digits written 7208.51.00 --------------------------------------------------


def test_dotted_tariff_code_is_accepted() -> None:
    assert check_tariff_code("7208.51.00") == "7208.51.00"


def test_undotted_tariff_code_is_normalised() -> None:
    assert check_tariff_code("72085100") == "7208.51.00"


def test_tariff_code_annotated_type_normalises_too() -> None:
    assert TypeAdapter(TariffCode).validate_python(" 72085100 ") == "7208.51.00"


@pytest.mark.parametrize(
    "value",
    [
        "7208.5",
        "7208-51-00",
        "7208.51.0",
        "7208.51.000",
        "720851000",
        "7208 51 00",
        "\uff17\uff12\uff10\uff18\uff15\uff11\uff10\uff10",  # fullwidth 72085100
        "\uff17\uff12\uff10\uff18.\uff15\uff11.\uff10\uff10",  # fullwidth 7208.51.00
        "\u0667\u0662\u0660\u0668.\u0665\u0661.\u0660\u0660",  # Arabic-Indic digits
    ],
)
def test_malformed_tariff_code_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape("7208.51.00")):
        check_tariff_code(value)


def test_tariff_code_type_reports_validation_error() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(TariffCode).validate_python("7208-51-00")


# --- clean_text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  PT   Baja\t\tNusantara \r\n Tbk  ", "PT Baja Nusantara Tbk"),
        ("one\ntwo", "one two"),
        ("plain", "plain"),
    ],
)
def test_clean_text_folds_white_space(value: str, expected: str) -> None:
    assert clean_text(value) == expected


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\u0007", "U+0007"),  # BEL
        ("\u000b", "U+000B"),  # vertical tab
        ("\u202e", "U+202E"),  # right-to-left override
        ("\u200b", "U+200B"),  # zero-width space
        ("\u0000", "U+0000"),
        ("\u2028", "U+2028"),  # line separator
    ],
)
def test_clean_text_refuses_invisible_characters(char: str, code: str) -> None:
    with pytest.raises(
        ValueError, match=rf"invisible control character \(code {re.escape(code)}\)"
    ):
        clean_text(f"PT Logam{char} Karya")


@pytest.mark.parametrize(
    "value",
    [
        'AT&T <Müller> "Ö"',
        "{{ 7*7 }}",
        "{% if true %}X{% endif %}",
        "Caf\u00e9 \u2013 50 % \u2265 3",
    ],
)
def test_clean_text_keeps_printable_text_unchanged(value: str) -> None:
    assert clean_text(value) == value


@pytest.mark.parametrize("mark", ["{_{", "}_}", "{_%", "%_}"])
def test_clean_text_refuses_what_a_docx_letter_would_print_otherwise(mark: str) -> None:
    """docxtpl turns these into ``{{`` and the like in the merged letter."""
    with pytest.raises(ValueError, match="cannot print as written"):
        clean_text(f"PT Maju {mark} Jaya")


@pytest.mark.parametrize("value", ["", "   ", "\t\r\n"])
def test_clean_text_refuses_empty_text(value: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        clean_text(value)
