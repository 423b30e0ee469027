"""What a template sees: the names, their types, and how they are built from a request.

Both template formats receive the same context, so a service can move from HTML to DOCX without
its data changing. ``docgen templates check`` uses :data:`CONTEXT_TYPES` to prove that every
variable a template uses exists.

Names available in every template:

``letter``   :class:`LetterView` — number, date, place, nature, enclosure, subject, draft flag,
             verification address
``request``  :class:`docgen.models.LetterRequest` — the validated request
``service``  :class:`docgen.catalogue.Service` — the catalogue entry
``dg``       :class:`docgen.config.DirectorateGeneral` — letterhead of the issuing DG
``agency``   :class:`docgen.config.AgencySettings` — the ministry
``esign``    :class:`docgen.config.ElectronicSignatureSettings` — footer texts

Filters: ``tanggal``, ``angka``, ``terbilang``, ``kuantitas``, ``romawi``, ``nip``, ``npwp``
(see :mod:`docgen.formatting`).

Example (Jinja2)::

    Nomor : {{ letter.number }}
    {{ agency.place }}, {{ letter.date | tanggal }}
    {% for item in request.items %}
      {{ item.tariff_code }} {{ item.quantity | kuantitas }}
    {% endfor %}
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from docgen.catalogue import Service
from docgen.config import AgencySettings, DirectorateGeneral, ElectronicSignatureSettings, Settings
from docgen.models import LetterRequest

__all__ = ["CONTEXT_TYPES", "DRAFT_SEQUENCE", "LetterView", "build_context"]

DRAFT_SEQUENCE = "....."
"""What a draft shows where the register's sequence number will go."""


class LetterView(BaseModel):
    """The letter's own particulars, as the template prints them."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    number: str
    """Letter number (*Nomor*); a draft shows the pattern with a placeholder sequence."""
    date: date
    """Letter date: the signing day; for a draft, the day it is drafted (as if issued then)."""
    place: str
    """Place printed before the date."""
    nature: str
    """*Sifat*: Biasa, Segera or Rahasia."""
    enclosure: str
    """*Lampiran*."""
    subject: str
    """*Hal*: the request's subject, or the service's default."""
    draft: bool
    """True for an unsigned draft."""
    verification_url: str
    """Where recipients verify the letter (the QR code leads there); empty in a draft."""


CONTEXT_TYPES: dict[str, type[BaseModel]] = {
    "letter": LetterView,
    "request": LetterRequest,
    "service": Service,
    "dg": DirectorateGeneral,
    "agency": AgencySettings,
    "esign": ElectronicSignatureSettings,
}
"""Every name a template may use, with the model that defines its attributes."""


def build_context(
    request: LetterRequest,
    service: Service,
    settings: Settings,
    *,
    number: str | None = None,
    letter_date: date | None = None,
    verification_url: str = "",
) -> dict[str, Any]:
    """Build the template context; without ``number`` the letter is a draft."""
    when = letter_date or request.decision.date
    letter = LetterView(
        number=number or service.letter_number(DRAFT_SEQUENCE, when),
        date=when,
        place=settings.agency.place,
        nature=request.nature.value,
        enclosure=request.enclosure,
        subject=request.subject or service.subject_for(request.decision.outcome),
        draft=number is None,
        verification_url=verification_url,
    )
    return {
        "letter": letter,
        "request": request,
        "service": service,
        "dg": settings.directorate(service.directorate_general),
        "agency": settings.agency,
        "esign": settings.esign,
    }
