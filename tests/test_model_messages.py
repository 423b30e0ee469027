"""Field messages for lengths and whole-number quantities, through the public request API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docgen import models
from docgen.errors import RequestInvalid
from docgen.models import LetterRequest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ilmate-pertek-baja-approved.json"


def label(*parts: str) -> str:
    """A field label as docgen writes it, parts joined by a right angle quote."""
    return " \u203a ".join(parts)


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text("utf-8"))
    return data


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_json(json.dumps(data))
    return {problem.field: problem.message for problem in caught.value.problems}


# --- lengths ------------------------------------------------------------------------------------

# a little over the limit, over the pre-check on any text (2,000), and far over both
SIZES = [501, 1_000, 2_001, 2_000_000]


@pytest.mark.parametrize("size", SIZES)
def test_too_long_description_states_its_own_limit_in_characters(size: int) -> None:
    data = example()
    data["items"][1]["description"] = "x" * size
    assert problems_of(data) == {
        label("Goods item 2", "Goods description"): "is too long (at most 500 characters)"
    }


@pytest.mark.parametrize("size", [81, 2_500, 1_000_000])
def test_too_long_optional_text_states_its_own_limit(size: int) -> None:
    data = example()
    data["items"][0]["destination_port"] = "P" * size
    data["signatory"]["delegation"] = "a" * (size + 120)
    assert problems_of(data) == {
        label("Goods item 1", "Destination port"): "is too long (at most 80 characters)",
        label("Signing official", "Delegation"): "is too long (at most 200 characters)",
    }


def test_text_limit_counts_the_folded_text() -> None:
    # runs of spaces fold to one, so 400 words with wide gaps still fit in 500 characters
    data = example()
    data["items"][0]["description"] = "    ".join(["ab"] * 100)
    request = LetterRequest.from_json(json.dumps(data))
    assert len(request.items[0].description) == 299


@pytest.mark.parametrize("size", [2_001, 50_000])
def test_too_long_list_entry_states_the_text_limit(size: int) -> None:
    data = example()
    data["copies"][1] = "c" * size
    assert problems_of(data) == {
        label("Copies (Tembusan), entry 2"): "is too long (at most 2000 characters)"
    }


@pytest.mark.parametrize(
    ("path", "limit", "field"),
    [
        (("copies",), 20, label("Copies (Tembusan)")),
        (("decision", "conditions"), 30, label("Decision", "Conditions of approval")),
    ],
)
def test_too_long_list_states_its_limit_in_items(
    path: tuple[str, ...], limit: int, field: str
) -> None:
    data = example()
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = [f"Entry {number}" for number in range(limit + 1)]
    assert problems_of(data) == {field: f"is too long (at most {limit} items)"}


def test_too_many_goods_items_states_the_limit_in_items() -> None:
    data = example()
    data["items"] = data["items"][:1] * 501
    assert problems_of(data) == {"Goods items": "is too long (at most 500 items)"}


def test_too_long_request_id_states_its_limit_in_characters() -> None:
    data = example()
    data["request_id"] = "R" * 81
    assert "at most 80 characters" in problems_of(data)["Request id"]


# --- whole-number units -------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["unit", "buah", "set", "pcs", "lembar", "batang", "Unit"])
def test_fraction_of_a_counted_unit_is_refused(unit: str) -> None:
    data = example()
    data["items"][1]["quantity"] = "20157.112"
    data["items"][1]["unit"] = unit
    assert problems_of(data) == {
        label("Goods item 2", "Quantity"): f'must be a whole number for the unit "{unit}"'
    }


def test_fraction_is_refused_on_every_item_at_fault() -> None:
    data = example()
    for index in (0, 2):
        data["items"][index]["unit"] = "buah"
        data["items"][index]["quantity"] = "3.5"
    data["items"][4]["quantity"] = 12.25  # still tons: a decimal is fine
    assert set(problems_of(data)) == {
        label("Goods item 1", "Quantity"),
        label("Goods item 3", "Quantity"),
    }


@pytest.mark.parametrize("quantity", ["20157", "20157.000", 20157, "2.0E+3"])
def test_whole_quantity_of_a_counted_unit_is_accepted(quantity: str | int) -> None:
    data = example()
    data["items"][1]["quantity"] = quantity
    data["items"][1]["unit"] = "unit"
    request = LetterRequest.from_json(json.dumps(data))
    assert request.items[1].quantity == int(float(quantity))


@pytest.mark.parametrize("unit", ["ton", "kg", "liter", "m3", "Ton"])
def test_weight_and_volume_units_keep_decimals(unit: str) -> None:
    data = example()
    data["items"][1]["quantity"] = "20157.112"
    data["items"][1]["unit"] = unit
    request = LetterRequest.from_json(json.dumps(data))
    assert str(request.items[1].quantity) == "20157.112"


def test_whole_number_units_are_counted_things_only() -> None:
    units = models.WHOLE_NUMBER_UNITS
    assert {"unit", "buah", "set", "pcs", "lembar", "batang", "ekor", "pasang"} <= units
    assert not {"ton", "kg", "liter", "m3"} & units
    assert all(unit == unit.casefold() for unit in units)
