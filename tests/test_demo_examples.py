"""The demo's examples stay issuable on any later day: their dates move forward together."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from docgen.catalogue import Catalogue
from docgen.errors import RequestInvalid
from docgen.models import LetterRequest
from scripts.demo_examples import EXAMPLES, WRITTEN_FOR, shifted


@pytest.mark.parametrize("days", [0, 1, 200, 400, 3000])
def test_every_example_dated_for_a_later_day_passes_its_service_rules(
    catalogue: Catalogue, days: int
) -> None:
    today = WRITTEN_FOR + timedelta(days=days)
    for path in sorted(EXAMPLES.glob("*.json")):
        original = json.loads(path.read_text("utf-8"))
        request = LetterRequest.from_mapping(shifted(original, days))
        assert catalogue.check_request(request, today=today, source=path.name)
        if days:
            assert request.request_id == f"{original['request_id']}-D{days}"
            assert request.decision.date == (
                LetterRequest.from_mapping(original).decision.date + timedelta(days=days)
            )
        else:
            assert request == LetterRequest.from_mapping(original)


def test_unshifted_examples_expire_which_is_why_the_demo_shifts_them(
    catalogue: Catalogue,
) -> None:
    today = WRITTEN_FOR + timedelta(days=400)
    refused = []
    for path in sorted(EXAMPLES.glob("*.json")):
        request = LetterRequest.from_json(path.read_bytes())
        try:
            catalogue.check_request(request, today=today)
        except RequestInvalid:
            refused.append(path.name)
    assert refused, "an example a year and more old is refused as expired"
