"""Requests and reservations for the register's own tests (no rendering, no signing).

Import the fixture with the helpers::

    from tests.registers import TODAY, request_for, reserve, service_fixture  # noqa: F401
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from docgen.catalogue import Catalogue, Service
from docgen.models import LetterRequest
from docgen.pipeline import request_hash
from docgen.register import LetterRecord, Register
from tests.helpers import EXAMPLES

HTML_EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"
TODAY = date(2026, 3, 2)
"""The day of issue the register's tests reserve on (the register does not check dates)."""


def request_for(request_id: str, **changes: Any) -> LetterRequest:
    """The HTML example under another request id, with top-level fields changed."""
    data = json.loads(HTML_EXAMPLE.read_text("utf-8"))
    data["request_id"] = request_id
    data.update(changes)
    return LetterRequest.from_mapping(data)


@pytest.fixture(scope="module", name="service")
def service_fixture(catalogue: Catalogue) -> Service:
    """The example's service."""
    return catalogue.get(request_for("x").service)


def reserve(register: Register, service: Service, request_id: str) -> LetterRecord:
    """Reserve a number for the example under ``request_id``."""
    request = request_for(request_id)
    return register.reserve(
        request, service.numbering(TODAY), request_hash(request), issued_on=TODAY
    )
