"""Structural checks for Indonesian identifiers, as pydantic-ready annotated types.

Each check raises ``ValueError`` with a message an officer can act on; pydantic turns it into a
field problem. Values are normalised to their canonical stored form (digits only for NPWP, the
dotted form for tariff codes).

Example::

    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(TariffCode).validate_python("72085100")
    '7208.51.00'
    >>> TypeAdapter(Npwp).validate_python("01.234.567.8-901.000")
    '012345678901000'
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

__all__ = [
    "Nib",
    "Nip",
    "Npwp",
    "TariffCode",
    "Text",
    "check_nib",
    "check_nip",
    "check_npwp",
    "check_tariff_code",
    "clean_text",
]

_WHITESPACE = re.compile(r"[ \t\r\n]+")


_TEMPLATE_MARKS = ("{_{", "}_}", "{_%", "%_}")


def clean_text(value: str) -> str:
    """Fold runs of white space into one space and refuse invisible control characters.

    Control characters cannot appear in a DOCX (XML 1.0 forbids most of them) and have no place
    in a letter; rejecting them here means both rendering paths only ever see printable text.
    """
    folded = _WHITESPACE.sub(" ", value).strip()
    for char in folded:
        category = unicodedata.category(char)
        # Cc: control codes (illegal in XML); Cf: invisible format marks such as the
        # right-to-left override that can disguise a name; Zl/Zp: line breaks in disguise
        if category in ("Cc", "Cf", "Cs", "Zl", "Zp", "Cn"):
            raise ValueError(
                f"contains an invisible control character (code U+{ord(char):04X}); "
                "remove it and type the text again"
            )
    for mark in _TEMPLATE_MARKS:
        if mark in folded:
            # docxtpl prints these as "{{", "}}", "{%", "%}" in a DOCX letter: the letter would
            # not say what the request (embedded beside it) says
            raise ValueError(f"contains {mark!r}, which a letter cannot print as written")
    if not folded:
        raise ValueError("must not be empty")
    return folded


def _digits_only(value: str, allowed_separators: str) -> str:
    stripped = value.strip()
    for separator in allowed_separators:
        stripped = stripped.replace(separator, "")
    return stripped


def check_nib(value: str) -> str:
    """Check a business identification number (NIB): exactly 13 digits."""
    digits = value.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) != 13:
        raise ValueError(f"must be exactly 13 digits (got {value!r})")
    return digits


def check_npwp(value: str) -> str:
    """Check a tax number (NPWP): 16 digits, or the older 15-digit form; store digits only."""
    digits = _digits_only(value, ".- ")
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (15, 16):
        raise ValueError(
            "must be 16 digits, or the old 15-digit form such as 01.234.567.8-901.000 "
            f"(got {value!r})"
        )
    return digits


def check_nip(value: str) -> str:
    """Check a civil-servant number (NIP): birth date, appointment month, gender, sequence.

    Structure: ``YYYYMMDD`` birth date + ``YYYYMM`` appointment + gender digit (1 or 2) +
    3-digit sequence. The birth date must be a real date and the appointment after it.
    """
    digits = _digits_only(value, " ")
    if not digits.isascii() or not digits.isdigit() or len(digits) != 18:
        raise ValueError(f"must be exactly 18 digits (got {value!r})")
    try:
        born = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ValueError(
            f"the first 8 digits must be the official's birth date as YYYYMMDD "
            f"({digits[0:8]} is not a real date)"
        ) from None
    year, month = int(digits[8:12]), int(digits[12:14])
    if not 1 <= month <= 12:
        raise ValueError(
            "digits 9 to 14 must be the appointment month as YYYYMM "
            f"({digits[8:14]} is not a month)"
        )
    if (year, month) <= (born.year, born.month):
        raise ValueError(
            f"the appointment month {digits[8:14]} must come after the birth date {digits[0:8]}"
        )
    if year - born.year < _MIN_APPOINTMENT_AGE or year > date.today().year:
        raise ValueError(
            f"the appointment year {year} is not plausible for an official born in {born.year}"
        )
    if digits[14] not in "12":
        raise ValueError(f"digit 15 must be 1 (male) or 2 (female), not {digits[14]}")
    return digits


_MIN_APPOINTMENT_AGE = 15  # no civil servant is appointed younger
_TARIFF = re.compile(r"\d{4}\.\d{2}\.\d{2}", re.ASCII)


def check_tariff_code(value: str) -> str:
    """Check a tariff code (Pos Tarif / HS, 8 digits); store the dotted form ``7208.51.00``."""
    stripped = value.strip()
    if stripped.isascii() and stripped.isdigit() and len(stripped) == 8:
        stripped = f"{stripped[0:4]}.{stripped[4:6]}.{stripped[6:8]}"
    if not _TARIFF.fullmatch(stripped):
        raise ValueError(f"must be 8 digits written like 7208.51.00 (got {value!r})")
    return stripped


Text = Annotated[str, StringConstraints(max_length=2000), AfterValidator(clean_text)]
"""Printable text on one line: white space folded, control characters refused."""

Nib = Annotated[
    str,
    AfterValidator(check_nib),
    Field(examples=["9120301234567"], description="NIB: 13 digits."),
]
"""Business identification number (NIB)."""

Npwp = Annotated[
    str,
    AfterValidator(check_npwp),
    Field(
        examples=["0123456789012345"],
        description="NPWP: 16 digits, or the old 15-digit form (punctuation allowed).",
    ),
]
"""Tax number (NPWP), stored as digits only."""

Nip = Annotated[
    str,
    AfterValidator(check_nip),
    Field(
        examples=["197005152000031002"],
        description="NIP: 18 digits = birth date YYYYMMDD, appointment YYYYMM, gender, sequence.",
    ),
]
"""Civil-servant number (NIP) of the signing official."""

TariffCode = Annotated[
    str,
    AfterValidator(check_tariff_code),
    Field(examples=["7208.51.00"], description="Pos Tarif / HS code, 8 digits."),
]
"""Tariff code in its dotted form."""
