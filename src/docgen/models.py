"""The letter request: a decided application, as frozen pydantic models.

A :class:`LetterRequest` is what the e-licensing system (or the web portal) hands docgen once an
application has been decided. It is validated once, at the door, and then passed between stages
unchanged. Every field has a title (used in error messages) and a description (in the JSON
Schema that ``docgen schema`` prints).

Example::

    raw = Path("examples/ilmate-pertek-baja-approved.json").read_bytes()
    request = LetterRequest.from_json(raw)
    request.applicant.nib        # '9120301234567'
    request.decision.approved    # True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from docgen.errors import FieldProblem, RequestInvalid
from docgen.formatting import plain
from docgen.identifiers import Nib, Nip, Npwp, TariffCode, Text

__all__ = [
    "WHOLE_NUMBER_UNITS",
    "Addressee",
    "ApplicationLetter",
    "Company",
    "Decision",
    "GoodsItem",
    "LetterRequest",
    "Nature",
    "Outcome",
    "Signatory",
]


class _Frozen(BaseModel):
    """Base of every model: immutable, strict, no unknown fields."""

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
    )


class Outcome(StrEnum):
    """What the Directorate General decided."""

    APPROVED = "approved"
    REJECTED = "rejected"


class Nature(StrEnum):
    """The letter's *sifat*: how it is to be handled."""

    BIASA = "Biasa"
    SEGERA = "Segera"
    RAHASIA = "Rahasia"


RequestId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$",
        examples=["SIINAS-2026-000123"],
    ),
]


class Company(_Frozen):
    """The applicant company."""

    name: Annotated[Text, Field(title="Company name", max_length=200)]
    """Registered company name, e.g. ``PT Baja Nusantara``."""
    nib: Annotated[Nib, Field(title="Company NIB")]
    """Business identification number: 13 digits."""
    npwp: Annotated[Npwp, Field(title="Company NPWP")]
    """Tax number: 16 digits (or the old 15-digit form); stored as digits."""
    address: Annotated[Text, Field(title="Company address", max_length=400)]
    """Address as it should appear in the letter."""


class ApplicationLetter(_Frozen):
    """The company's application letter that this letter answers."""

    number: Annotated[Text, Field(title="Application letter number", max_length=120)]
    """The number on the company's application letter."""
    date: Annotated[date, Field(title="Application letter date")]
    """The date of the company's application letter."""
    subject: Annotated[Text, Field(title="Application subject", max_length=300)]
    """The subject (*perihal*) of the application letter."""


class Decision(_Frozen):
    """The Directorate General's decision on the application."""

    outcome: Annotated[Outcome, Field(title="Decision")]
    """``approved`` or ``rejected``."""
    date: Annotated[date, Field(title="Decision date")]
    """The day the decision was taken; the draft letter is dated on it."""
    reasons: Annotated[tuple[Text, ...], Field(title="Reasons for rejection", max_length=30)] = ()
    """Why the application was rejected; required for a rejection, empty for an approval."""
    conditions: Annotated[
        tuple[Text, ...], Field(title="Conditions of approval", max_length=30)
    ] = ()
    """Conditions the company must meet; only for an approval."""

    @property
    def approved(self) -> bool:
        """Whether the application was approved."""
        return self.outcome is Outcome.APPROVED

    @model_validator(mode="after")
    def _reasons_match_outcome(self) -> Decision:
        if self.outcome is Outcome.REJECTED and not self.reasons:
            raise ValueError("a rejection must state at least one reason")
        if self.outcome is Outcome.APPROVED and self.reasons:
            raise ValueError("an approval must not carry reasons for rejection")
        if self.outcome is Outcome.REJECTED and self.conditions:
            raise ValueError("a rejection must not carry conditions of approval")
        return self


WHOLE_NUMBER_UNITS = frozenset(
    {
        "batang",
        "biji",
        "buah",
        "butir",
        "ekor",
        "helai",
        "lembar",
        "pasang",
        "pc",
        "pcs",
        "piece",
        "pieces",
        "set",
        "unit",
        "units",
    }
)
"""Units that count whole things; a goods quantity in one of them must be a whole number.

Compared without regard to case (``Unit`` is ``unit``). Units of weight, volume or length
(``ton``, ``kg``, ``liter``, ``m3`` ...) are not here and keep accepting decimals. This is the one
list: add a counted unit here and every request is checked against it.
"""


class GoodsItem(_Frozen):
    """One line of the goods table; which fields a service requires is in its catalogue entry."""

    tariff_code: Annotated[TariffCode, Field(title="Tariff code")]
    """Pos Tarif / HS code, written ``7208.51.00``."""
    description: Annotated[Text, Field(title="Goods description", max_length=500)]
    """Description of the goods (*uraian barang*)."""
    quantity: Annotated[
        Decimal,
        Field(title="Quantity", gt=0, max_digits=18, decimal_places=3),
        AfterValidator(plain),
    ]
    """Quantity granted or requested; greater than zero. Write it as a JSON string or number.

    A whole number when the unit counts things (``unit``, ``buah``, ``set``, ``pcs`` ...);
    decimals are for weights and volumes (``ton``, ``kg``, ``liter`` ...).
    """
    unit: Annotated[Text, Field(title="Unit", max_length=30)]
    """Unit of the quantity (``ton``, ``kg``, ``buah`` ...)."""
    country_of_origin: Annotated[Text | None, Field(title="Country of origin", max_length=80)] = (
        None
    )
    """Country the goods come from."""
    destination_port: Annotated[Text | None, Field(title="Destination port", max_length=80)] = None
    """Port of unloading (*pelabuhan tujuan*)."""
    brand: Annotated[Text | None, Field(title="Brand", max_length=80)] = None
    """Brand (*merek*), where the regulation asks for it (tyres)."""
    type: Annotated[Text | None, Field(title="Type", max_length=80)] = None
    """Type or model (*tipe*), where the regulation asks for it."""
    size: Annotated[Text | None, Field(title="Size", max_length=80)] = None
    """Size (*ukuran*), where the regulation asks for it (tyres)."""
    specification: Annotated[Text | None, Field(title="Specification", max_length=300)] = None
    """Technical specification (grade, standard, year of manufacture ...)."""

    @model_validator(mode="after")
    def _whole_number_of_counted_things(self) -> GoodsItem:
        if self.unit.casefold() in WHOLE_NUMBER_UNITS and self.quantity % 1:
            # the unit is validated after the quantity, so the check can only run here; the
            # "field" in the context lets the report name the quantity, not the whole item
            raise PydanticCustomError(
                "whole_number",
                'must be a whole number for the unit "{unit}"',
                {"unit": self.unit, "field": "quantity"},
            )
        return self


class Signatory(_Frozen):
    """The official who signs the letter."""

    name: Annotated[Text, Field(title="Signing official's name", max_length=120)]
    """Full name with academic titles, as printed under the signature."""
    nip: Annotated[Nip, Field(title="Signing official's NIP")]
    """Civil-servant number: 18 digits."""
    title: Annotated[Text, Field(title="Signing official's position", max_length=200)]
    """Position, e.g. ``Direktur Jenderal Industri Agro``."""
    delegation: Annotated[Text | None, Field(title="Delegation", max_length=200)] = None
    """Mandate line above the position, e.g. ``a.n. Menteri Perindustrian``."""
    acting: Annotated[Literal["Plt.", "Plh."] | None, Field(title="Acting official")] = None
    """``Plt.`` or ``Plh.`` when the official acts in the position."""


class Addressee(_Frozen):
    """To whom the letter is addressed (*Yth.*)."""

    title: Annotated[Text, Field(title="Addressee", max_length=200)]
    """Position or name, e.g. ``Direktur Jenderal Perdagangan Luar Negeri``."""
    organisation: Annotated[Text | None, Field(title="Addressee organisation", max_length=200)] = (
        None
    )
    """Organisation, e.g. ``Kementerian Perdagangan``."""
    place: Annotated[Text, Field(title="Addressee place", max_length=80)] = "Jakarta"
    """Printed as ``di <place>``."""


class LetterRequest(_Frozen):
    """A decided application, ready to become a letter."""

    request_id: Annotated[RequestId, Field(title="Request id")]
    """The idempotency key: one request id gives one letter, however often it is sent."""
    service: Annotated[str, Field(title="Service code", pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]
    """Catalogue code of the letter service, e.g. ``ILMATE-PERTEK-BAJA`` (``docgen services``)."""
    nature: Annotated[Nature, Field(title="Nature (Sifat)")] = Nature.BIASA
    """*Sifat*: Biasa, Segera or Rahasia."""
    enclosure: Annotated[Text, Field(title="Enclosure (Lampiran)", max_length=80)] = "-"
    """*Lampiran*: ``-`` or e.g. ``1 (satu) berkas``."""
    subject: Annotated[Text | None, Field(title="Subject (Hal)", max_length=300)] = None
    """*Hal*; when absent the service's subject from the catalogue is used."""
    applicant: Annotated[Company, Field(title="Applicant")]
    """The applicant company."""
    application: Annotated[ApplicationLetter, Field(title="Application letter")]
    """The company's application letter this letter answers."""
    decision: Annotated[Decision, Field(title="Decision")]
    """The decision taken on the application."""
    items: Annotated[tuple[GoodsItem, ...], Field(title="Goods items", max_length=500)] = ()
    """Goods granted (approval) or applied for (rejection), where the service has items."""
    valid_until: Annotated[date | None, Field(title="Valid until")] = None
    """Last day the letter is valid; required for an approval, absent for a rejection."""
    signatory: Annotated[Signatory, Field(title="Signing official")]
    """The official who signs."""
    addressee: Annotated[Addressee, Field(title="Addressee")]
    """To whom the letter is addressed."""
    copies: Annotated[tuple[Text, ...], Field(title="Copies (Tembusan)", max_length=20)] = ()
    """Copies to (*tembusan*), in order."""

    @model_validator(mode="after")
    def _dates_are_consistent(self) -> LetterRequest:
        problems: list[str] = []
        if self.decision.date < self.application.date:
            problems.append("the decision date is before the application letter date")
        if self.decision.approved and self.valid_until is None:
            problems.append("an approval needs a 'valid until' date")
        if not self.decision.approved and self.valid_until is not None:
            problems.append("a rejection must not have a 'valid until' date")
        if self.valid_until is not None and self.valid_until <= self.decision.date:
            problems.append("'valid until' must be after the decision date")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def from_json(cls, data: str | bytes, *, source: str = "") -> LetterRequest:
        """Validate a request from JSON text; raise :class:`RequestInvalid` naming every problem."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            raise RequestInvalid(describe_validation_error(error), source=source) from None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "") -> LetterRequest:
        """Validate a request from a mapping, read with JSON rules (dates as ``YYYY-MM-DD``).

        Dates and decimals may be given as Python objects or as JSON-style strings.
        """
        try:
            text = json.dumps(data, default=_json_default)
        except (TypeError, ValueError) as error:
            raise RequestInvalid([FieldProblem("Request", str(error))], source=source) from None
        return cls.from_json(text, source=source)


def _json_default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be part of a request")


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field docgen knows; check the spelling",
    "string_type": "must be text",
    "date_from_datetime_parsing": "must be a date written YYYY-MM-DD",
    "date_parsing": "must be a date written YYYY-MM-DD",
    "date_type": "must be a date written YYYY-MM-DD",
    "decimal_parsing": "must be a number",
    "decimal_type": "must be a number",
    "greater_than": "must be greater than zero",
    "json_invalid": "is not valid JSON",
    "model_type": "must be an object with named fields",
    "tuple_type": "must be a list",
    "too_long": "is too long",
    "string_too_long": "is too long",
    "decimal_max_places": "has too many decimal places (at most 3)",
    "decimal_max_digits": "has too many digits",
    "enum": "is not one of the allowed values",
    "literal_error": "is not one of the allowed values",
}


def describe_validation_error(error: ValidationError) -> list[FieldProblem]:
    """Turn a pydantic error into field problems worded for an officer."""
    problems = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        context = detail.get("ctx", {})
        if isinstance(context.get("field"), str):
            # a check across fields (made by a model validator) names the field it is about
            loc = (*loc, context["field"])
        label = _field_label(LetterRequest, loc)
        kind = detail["type"]
        if kind == "value_error":
            message = str(detail["ctx"]["error"]) if "ctx" in detail else detail["msg"]
        elif kind in ("too_long", "string_too_long") and "max_length" in context:
            message = _too_long(loc, detail.get("input"), context["max_length"])
        elif kind == "whole_number":
            message = detail["msg"]
        elif kind in ("enum", "literal_error") and "ctx" in detail:
            message = f"must be one of {detail['ctx']['expected']}"
        elif kind in _MESSAGES:
            message = _MESSAGES[kind]
        elif kind == "string_pattern_mismatch" and label.endswith("Service code"):
            message = "must be a service code from the catalogue, such as ILMATE-PERTEK-BAJA"
        elif kind == "string_pattern_mismatch" and label.endswith("Request id"):
            message = "must be letters, digits, '.', '_', ':' or '-' (at most 80 characters)"
        else:
            message = detail["msg"][:1].lower() + detail["msg"][1:]
        problems.append(FieldProblem(label, message))
    return problems


def _too_long(loc: tuple[int | str, ...], value: object, limit: int) -> str:
    """Say a text or list is too long, with the limit that really applies to it.

    Pydantic reports whichever length check fails first. On a text field that is either the
    pre-check every :data:`~docgen.identifiers.Text` makes on the raw input (2,000 characters,
    so that huge strings are refused before they are cleaned) or the field's own limit, which is
    checked after cleaning and so is reported with the generic ``too_long`` of lists. Hence the
    unit is taken from the value, and a text's limit is the smallest of its field's limits.
    """
    if not isinstance(value, str):
        return f"is too long (at most {limit} {'item' if limit == 1 else 'items'})"
    info = _field_at(LetterRequest, loc)
    if info is not None:
        limit = min([limit, *_max_lengths(info.metadata)])
    return f"is too long (at most {limit} {'character' if limit == 1 else 'characters'})"


def _max_lengths(metadata: list[Any]) -> list[int]:
    """The length limits among a field's constraints (``max_length`` of any of them)."""
    limits = (getattr(constraint, "max_length", None) for constraint in metadata)
    return [limit for limit in limits if isinstance(limit, int)]


def _field_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field a location ends on; ``None`` when it ends on a list entry or an unknown name."""
    current: Any = model
    info: FieldInfo | None = None
    for step in loc:
        fields = getattr(current, "model_fields", None)
        if isinstance(step, int):
            info = None
            continue
        if fields is None or step not in fields:
            return None
        info = fields[step]
        current = _model_in(info.annotation)
    return info


def _field_label(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """Name a location such as ``('items', 1, 'tariff_code')`` as ``Goods item 2 › Tariff code``."""
    parts: list[str] = []
    current: Any = model
    for step in loc:
        if isinstance(step, int):
            if parts and parts[-1].endswith("s"):
                parts[-1] = f"{parts[-1].removesuffix('s')} {step + 1}"
            elif parts:
                parts[-1] = f"{parts[-1]}, entry {step + 1}"
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or step not in fields:
            parts.append(str(step))
            current = None
            continue
        info = fields[step]
        parts.append(info.title or step)
        current = _model_in(info.annotation)
    return " › ".join(parts) if parts else "Request"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as ``tuple[GoodsItem, ...]`` or ``Company | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
