"""Indonesian formatting for letters, done once and offered to every template as filters.

Dates and numbers come from Babel's ``id`` locale data, quantities in words from num2words; only
the Roman month (no library needed for twelve values) is computed here.

Example::

    >>> from datetime import date, datetime
    >>> from decimal import Decimal
    >>> tanggal(date(2015, 12, 18))
    '18 Desember 2015'
    >>> angka(Decimal("1250.5"))
    '1.250,5'
    >>> kuantitas(Decimal("1000"))
    '1.000 (seribu)'
    >>> roman_month(12)
    'XII'
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from num2words import num2words

__all__ = [
    "FILTERS",
    "add_months",
    "angka",
    "kuantitas",
    "nip",
    "npwp",
    "plain",
    "roman_month",
    "tanggal",
    "terbilang",
    "today_in",
]

_LOCALE = "id"
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


def plain(value: Decimal | int) -> Decimal:
    """A decimal without trailing zeros or exponent: ``2500.00`` and ``2.5E+3`` become ``2500``.

    Figures and words must agree: num2words spells every trailing zero (``koma nol nol``) and
    refuses exponent notation, while the figures drop them.
    """
    number = Decimal(value).normalize()
    return number.quantize(Decimal(1)) if number.as_tuple().exponent > 0 else number  # type: ignore[operator]


def tanggal(value: date) -> str:
    """A date in Indonesian letter style: ``18 Desember 2015``."""
    return str(format_date(value, "d MMMM y", locale=_LOCALE))


def angka(value: Decimal | int) -> str:
    """A number with Indonesian separators: ``1.250,5`` (up to three decimals)."""
    return str(format_decimal(plain(value), format="#,##0.###", locale=_LOCALE))


def terbilang(value: Decimal | int) -> str:
    """A number in Indonesian words: ``seribu``, ``dua ratus lima puluh koma lima``."""
    return str(num2words(plain(value), lang=_LOCALE))


def kuantitas(value: Decimal | int) -> str:
    """A quantity in figures and words, as letters write it: ``1.000 (seribu)``."""
    return f"{angka(value)} ({terbilang(value)})"


def nip(value: str) -> str:
    """A NIP grouped as printed under a signature: ``19700515 200003 1 002``."""
    if len(value) != 18:
        return value
    return f"{value[0:8]} {value[8:14]} {value[14]} {value[15:18]}"


def npwp(value: str) -> str:
    """An NPWP as printed: the old 15-digit form dotted (``01.234.567.8-901.000``), 16 plain."""
    if len(value) != 15:
        return value
    v = value
    return f"{v[0:2]}.{v[2:5]}.{v[5:8]}.{v[8]}-{v[9:12]}.{v[12:15]}"


def roman_month(month: int) -> str:
    """The month in Roman numerals, as letter numbers embed it: ``XII``."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1 to 12, not {month}")
    return _ROMAN[month - 1]


def today_in(timezone: str) -> date:
    """Today's date in ``timezone`` (an IANA name such as ``Asia/Jakarta``): the day of issue."""
    return datetime.now(ZoneInfo(timezone)).date()


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


FILTERS: dict[str, Callable[..., Any]] = {
    "tanggal": tanggal,
    "angka": angka,
    "terbilang": terbilang,
    "kuantitas": kuantitas,
    "romawi": roman_month,
    "nip": nip,
    "npwp": npwp,
}
"""The filters every template (HTML and DOCX) can use, by name."""
