"""The catalogue of letter services, read from ``catalogue.toml`` in the templates folder.

A service is data, not code: its code, title, letter kind, Directorate General, the templates for
an approval and a rejection, the template format, the numbering pattern, the validity rule and the
goods fields it requires. Adding a service means adding an entry and its templates.

Example::

    catalogue = Catalogue.load(settings.templates / "catalogue.toml")
    service = catalogue.get("ILMATE-PERTEK-BAJA")
    service.letter_number(seq=12, on=date(2026, 12, 1))   # '12/ILMATE/PERTEK/XII/2026'
    catalogue.check_request(request, today=date(2026, 12, 1))  # RequestInvalid on misfit
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from docgen.errors import CatalogueError, FieldProblem, RequestInvalid
from docgen.formatting import add_months, roman_month
from docgen.models import GoodsItem, LetterRequest, Outcome
from docgen.register.records import Numbering

__all__ = ["Catalogue", "LetterKind", "Service", "TemplateFormat", "ValidityRule"]

_NUMBER_FIELDS = {"seq", "dg", "year", "month", "month_roman", "service"}
_FORMATTER = string.Formatter()
_ITEM_FIELDS = set(GoodsItem.model_fields)
_ALWAYS_REQUIRED_ITEM_FIELDS = {
    name for name, info in GoodsItem.model_fields.items() if info.is_required()
}


def _literal(text: str) -> str:
    """Text kept as it is by ``str.format``: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


class LetterKind(StrEnum):
    """The two kinds of letter the unit issues."""

    REKOMENDASI = "rekomendasi"
    PERTIMBANGAN_TEKNIS = "pertimbangan_teknis"

    @property
    def label(self) -> str:
        """The kind as printed in a letter."""
        return "Rekomendasi" if self is LetterKind.REKOMENDASI else "Pertimbangan Teknis"


class TemplateFormat(StrEnum):
    """How a service's templates are written, and so which rendering path they take."""

    HTML = "html"
    DOCX = "docx"


class ValidityRule(BaseModel):
    """The longest validity a service allows an approval, in a form ministries' regulations use.

    Either ``months`` after a starting day (the decision's, or the letter's issue day), or
    ``until`` the end of a year: the year of that day (``end_of_year``) or the next one
    (``end_of_next_year``). In ``catalogue.toml``::

        validity = { months = 12 }                  # 12 months from the decision
        validity = { months = 6, from = "issue" }   # 6 months from the day of issue
        validity = { until = "end_of_next_year" }   # 31 December of the decision's next year

    A request's *valid until* may be any day up to the latest one the rule allows.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, use_attribute_docstrings=True
    )

    months: int | None = Field(default=None, ge=1, le=120)
    """Validity in months after the starting day (the same day N months later)."""
    until: Literal["end_of_year", "end_of_next_year"] | None = None
    """Validity until 31 December of the starting day's year, or of the year after."""
    counted_from: Literal["decision", "issue"] = Field(default="decision", alias="from")
    """The starting day: the decision date or the letter's issue day."""

    @model_validator(mode="after")
    def _one_form(self) -> ValidityRule:
        if (self.months is None) == (self.until is None):
            raise ValueError("a validity rule gives either months or until, not both or neither")
        return self

    def latest(self, *, decision: date, issued: date) -> date:
        """The last day an approval decided on ``decision`` and issued on ``issued`` may run to."""
        start = decision if self.counted_from == "decision" else issued
        if self.months is not None:
            return add_months(start, self.months)
        return date(start.year + (self.until == "end_of_next_year"), 12, 31)

    def describe(self) -> str:
        """The rule in an officer's words, for error messages and ``docgen services``."""
        start = "the decision date" if self.counted_from == "decision" else "the day of issue"
        if self.months is not None:
            return f"at most {self.months} months after {start}"
        year = "that year" if self.until == "end_of_year" else "the year after"
        return f"until 31 December of {year} at the latest (counted from {start})"


class Service(BaseModel):
    """One kind of letter, as described in the catalogue."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")
    """Unique code that requests name, e.g. ``ILMATE-PERTEK-BAJA``."""
    title: str
    """Full title of the service."""
    kind: LetterKind
    """``rekomendasi`` or ``pertimbangan_teknis``."""
    directorate_general: str
    """Code of the issuing Directorate General (``AGRO``, ``IKFT``, ``ILMATE``)."""
    regulation: str
    """The regulation the letter is issued under, cited in the body."""
    regulation_confirmed: bool = False
    """Whether the unit has confirmed ``regulation`` (number, year and title) against the
    published text; ``docgen templates check`` lists every service where it has not."""
    subject: str
    """Default *Hal* of an approval."""
    subject_rejected: str | None = None
    """Default *Hal* of a rejection; ``Penolakan Permohonan <subject>`` when not given."""
    format: TemplateFormat
    """Template format: ``html`` (WeasyPrint) or ``docx`` (LibreOffice)."""
    template_approved: str
    """Template for an approval, relative to the templates folder."""
    template_rejected: str
    """Template for a rejection, relative to the templates folder."""
    number_pattern: str
    """Letter number pattern; fields: {seq}, {dg}, {service}, {year}, {month}, {month_roman}."""
    number_series: str = "{dg}/{year}"
    """Which counter a letter number comes from; fields as in ``number_pattern`` but {seq}."""
    validity: ValidityRule | None = None
    """Longest validity of an approval; None for no limit. ``validity_months = N`` in the
    catalogue is short for ``validity = { months = N }`` (N months after the decision)."""
    items: Literal["required", "optional", "none"] = "required"
    """Whether requests for this service carry goods items."""
    item_fields: tuple[str, ...] = ()
    """Goods fields required on every item beyond the always-required ones."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, dict) and "validity_months" in data:
            data = dict(data)
            months = data.pop("validity_months")
            if "validity" in data:
                raise ValueError("give validity or validity_months, not both")
            data["validity"] = {"months": months}
        return data

    @model_validator(mode="after")
    def _check(self) -> Service:
        names = [name for _, name, _, _ in string.Formatter().parse(self.number_pattern)]
        if "" in names or any(name is not None and name.isdigit() for name in names):
            raise ValueError("number_pattern must name its fields, e.g. {seq}, not {} or {0}")
        fields = {name for name in names if name}
        if unknown := fields - _NUMBER_FIELDS:
            raise ValueError(f"number_pattern uses unknown fields: {sorted(unknown)}")
        if "seq" not in fields:
            raise ValueError("number_pattern must contain {seq}")
        series_fields = {n for _, n, _, _ in string.Formatter().parse(self.number_series) if n}
        if unknown := series_fields - (_NUMBER_FIELDS - {"seq"}):
            raise ValueError(f"number_series uses unknown fields: {sorted(unknown)}")
        if unknown := set(self.item_fields) - _ITEM_FIELDS:
            raise ValueError(f"item_fields names unknown goods fields: {sorted(unknown)}")
        for template in (self.template_approved, self.template_rejected):
            if Path(template).is_absolute() or ".." in Path(template).parts:
                raise ValueError(f"template {template!r} must be inside the templates folder")
            if not template.endswith(f".{self.format}") and not template.endswith(
                f".{self.format}.j2"
            ):
                raise ValueError(f"template {template!r} does not match format {self.format}")
        return self

    def subject_for(self, outcome: Outcome) -> str:
        """The default *Hal* for an approval or a rejection."""
        if outcome is Outcome.APPROVED:
            return self.subject
        return self.subject_rejected or f"Penolakan Permohonan {self.subject}"

    def template_for(self, outcome: Outcome) -> str:
        """The template (relative path) for an approval or a rejection."""
        return self.template_approved if outcome is Outcome.APPROVED else self.template_rejected

    def numbering(self, on: date) -> Numbering:
        """How a letter dated ``on`` is numbered: its series, and its number around ``{seq}``."""
        fields = {
            "dg": self.directorate_general,
            "service": self.code,
            "year": on.year,
            "month": f"{on.month:02d}",
            "month_roman": roman_month(on.month),
        }
        pattern = []
        for literal, name, spec, conversion in _FORMATTER.parse(self.number_pattern):
            pattern.append(_literal(literal))
            if name == "seq":  # left for the register to fill in
                pattern.append(
                    "{seq"
                    + (f"!{conversion}" if conversion else "")
                    + (f":{spec}" if spec else "")
                    + "}"
                )
            elif name is not None:
                value = _FORMATTER.convert_field(fields[name], conversion)
                pattern.append(_literal(format(value, spec or "")))
        return Numbering(
            service=self.code,
            directorate=self.directorate_general,
            series=self.number_series.format(**fields),
            pattern="".join(pattern),
        )

    def series(self, on: date) -> str:
        """The numbering series a letter dated ``on`` takes its number from."""
        return self.numbering(on).series

    def letter_number(self, seq: int | str, on: date) -> str:
        """Format a letter number; ``seq`` may be a placeholder string for a draft."""
        return self.numbering(on).number(seq)


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    service: tuple[Service, ...] = Field(min_length=1)


class Catalogue:
    """The services docgen can issue letters for; immutable once loaded."""

    def __init__(self, services: tuple[Service, ...], root: Path):
        """Build from already-validated services; ``root`` is the templates folder."""
        self.root = root
        self._services: dict[str, Service] = {}
        for service in services:
            if service.code in self._services:
                raise CatalogueError(f"The catalogue lists service {service.code} more than once")
            self._services[service.code] = service

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        """Read and check ``catalogue.toml``; template paths are relative to its folder."""
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
            parsed = _CatalogueFile.model_validate(raw)
        except OSError as error:
            raise CatalogueError(f"Cannot read the catalogue {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise CatalogueError(f"The catalogue {path} is not valid TOML: {error}") from None
        except ValidationError as error:
            details = error.errors()
            if len(details) > 1:
                # pydantic also counts a list whose entries all failed as "too short": noise
                details = [d for d in details if d["type"] != "too_short"]
            lines = [f"  - {'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in details]
            raise CatalogueError(f"Invalid catalogue {path}:\n" + "\n".join(lines)) from None
        catalogue = cls(parsed.service, path.parent)
        for service in parsed.service:
            for template in (service.template_approved, service.template_rejected):
                if not (path.parent / template).is_file():
                    raise CatalogueError(
                        f"Service {service.code}: template {template} does not exist"
                    )
        return catalogue

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services.values())

    def __len__(self) -> int:
        return len(self._services)

    def get(self, code: str) -> Service:
        """The service with this code; :class:`CatalogueError` naming the known ones otherwise."""
        try:
            return self._services[code]
        except KeyError:
            raise CatalogueError(
                f"Unknown service {code!r}; known services: {', '.join(sorted(self._services))}"
            ) from None

    def check_request(self, request: LetterRequest, *, today: date, source: str = "") -> Service:
        """Check a request against its service's rules and the day of issue; return the service.

        ``today`` is the day the letter would be issued (in the signing time zone). Raises
        :class:`RequestInvalid` listing every misfit: items, item fields, a decision dated
        after ``today``, a *valid until* already past on ``today`` or beyond the service's rule.
        """
        if request.service not in self._services:
            known = ", ".join(sorted(self._services))
            raise RequestInvalid(
                [
                    FieldProblem(
                        "Service code",
                        f"{request.service!r} is not in the catalogue (known: {known})",
                    )
                ],
                source=source,
            )
        service = self._services[request.service]
        problems: list[FieldProblem] = []
        approved = request.decision.approved
        if service.items == "none" and request.items:
            problems.append(FieldProblem("Goods items", "this service takes no goods items"))
        if service.items == "required" and approved and not request.items:
            problems.append(FieldProblem("Goods items", "an approval must list at least one item"))
        for index, item in enumerate(request.items, start=1):
            for name in service.item_fields:
                if getattr(item, name) is None:
                    title = GoodsItem.model_fields[name].title
                    problems.append(
                        FieldProblem(f"Goods item {index} › {title}", "is required by this service")
                    )
        problems.extend(_date_problems(request, service, today))
        if problems:
            raise RequestInvalid(problems, source=source)
        return service


def _date_problems(request: LetterRequest, service: Service, today: date) -> list[FieldProblem]:
    """The request's dates against the day of issue and the service's validity rule."""
    problems: list[FieldProblem] = []
    decided = request.decision.date
    if decided > today:
        # a letter is never dated before its decision, so it cannot be issued yet; a future
        # date would also stretch a validity counted from the decision
        problems.append(
            FieldProblem(
                "Decision date",
                f"{decided.isoformat()} is in the future; a letter can be issued on or after "
                f"the day of the decision (today is {today.isoformat()})",
            )
        )
    until = request.valid_until
    if until is None or not request.decision.approved:
        return problems
    if until < today:
        problems.append(
            FieldProblem(
                "Valid until",
                f"{until.isoformat()} is already past on the day of issue ({today.isoformat()})",
            )
        )
    elif service.validity is not None:
        latest = service.validity.latest(decision=decided, issued=max(today, decided))
        if until > latest:
            problems.append(
                FieldProblem(
                    "Valid until",
                    f"this service allows {service.validity.describe()}, so no later than "
                    f"{latest.isoformat()}",
                )
            )
    return problems
