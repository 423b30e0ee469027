"""The letter request model (docgen.models): examples, error reports, immutability, schema."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from docgen.errors import RequestInvalid
from docgen.models import LetterRequest, Outcome

ROOT = Path(__file__).resolve().parents[1]


def label(*parts: str) -> str:
    """A field label as docgen writes it, parts joined by a right angle quote."""
    return " \u203a ".join(parts)


EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
DATA = ROOT / "tests" / "data"


def load_dict(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def test_there_are_examples_of_both_outcomes() -> None:
    assert len(EXAMPLES) >= 12
    outcomes = {load_dict(path)["decision"]["outcome"] for path in EXAMPLES}
    assert outcomes == {"approved", "rejected"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_validates(path: Path) -> None:
    raw = load_dict(path)
    request = LetterRequest.from_json(path.read_bytes(), source=path.name)
    assert request.request_id == raw["request_id"]
    assert request.service == raw["service"]
    assert request.decision.approved is (raw["decision"]["outcome"] == "approved")
    assert len(request.items) == len(raw.get("items", []))
    # an approval carries a validity date, a rejection its reasons
    if request.decision.approved:
        assert request.valid_until is not None
    else:
        assert request.decision.reasons


def test_batch_lines_equal_the_individual_examples() -> None:
    lines = [
        line for line in (ROOT / "examples" / "batch.jsonl").read_text("utf-8").splitlines() if line
    ]
    batch = {
        request.request_id: request for request in (LetterRequest.from_json(line) for line in lines)
    }
    assert len(batch) == len(lines), "request ids in batch.jsonl are not unique"
    files = {
        request.request_id: request
        for request in (LetterRequest.from_json(path.read_bytes()) for path in EXAMPLES)
    }
    assert set(batch) == set(files)
    for request_id, request in files.items():
        assert batch[request_id] == request, request_id


def test_old_npwp_in_example_is_stored_as_digits() -> None:
    request = LetterRequest.from_json(
        (ROOT / "examples/ikft-pertek-ban-approved.json").read_bytes()
    )
    assert request.applicant.npwp == "012345678901000"


# --- invalid requests ---------------------------------------------------------------------------

EVERY_IDENTIFIER_FIELDS = [
    label("Applicant", "Company NIB"),
    label("Applicant", "Company NPWP"),
    label("Goods item 1", "colour"),
    label("Goods item 2", "Tariff code"),
    label("Goods item 3", "Quantity"),
    label("Signing official", "Signing official's NIP"),
]


def invalid_every_identifier() -> RequestInvalid:
    path = DATA / "invalid-every-identifier.json"
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_json(path.read_bytes(), source=path.name)
    return caught.value


def test_invalid_identifiers_are_all_named() -> None:
    error = invalid_every_identifier()
    assert sorted(problem.field for problem in error.problems) == sorted(EVERY_IDENTIFIER_FIELDS)


def test_invalid_identifier_messages_say_what_is_expected() -> None:
    messages = {problem.field: problem.message for problem in invalid_every_identifier().problems}
    assert "13 digits" in messages[label("Applicant", "Company NIB")]
    assert "912000126543" in messages[label("Applicant", "Company NIB")]
    assert "16 digits" in messages[label("Applicant", "Company NPWP")]
    assert "7208.51.00" in messages[label("Goods item 2", "Tariff code")]
    assert messages[label("Goods item 3", "Quantity")] == "must be greater than zero"
    assert (
        "19691304 is not a real date"
        in messages[label("Signing official", "Signing official's NIP")]
    )
    assert "not a field docgen knows" in messages[label("Goods item 1", "colour")]


def test_invalid_identifier_error_text_lists_every_problem() -> None:
    error = invalid_every_identifier()
    text = str(error)
    assert text.startswith("The letter request in invalid-every-identifier.json has 6 problems:")
    for field in EVERY_IDENTIFIER_FIELDS:
        assert f"  - {field}: " in text
    assert len(text.splitlines()) == 1 + len(EVERY_IDENTIFIER_FIELDS)
    assert error.source == "invalid-every-identifier.json"
    assert error.exit_code == 65


@pytest.mark.parametrize(
    ("name", "field", "message"),
    [
        ("rejected-missing-reason.json", "Decision", "a rejection must state at least one reason"),
        ("approved-missing-validity.json", "Request", "an approval needs a 'valid until' date"),
    ],
)
def test_inconsistent_decision_is_refused(name: str, field: str, message: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_json((DATA / name).read_bytes(), source=name)
    assert [(p.field, p.message) for p in caught.value.problems] == [(field, message)]
    assert f"{field}: {message}" in str(caught.value)


def test_control_characters_are_refused_with_field_and_code() -> None:
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_json((DATA / "control-character.json").read_bytes())
    problems = {problem.field: problem.message for problem in caught.value.problems}
    assert set(problems) == {
        label("Applicant", "Company name"),
        label("Applicant", "Company address"),
    }
    assert (
        "invisible control character (code U+0007)" in problems[label("Applicant", "Company name")]
    )
    assert (
        "invisible control character (code U+000B)"
        in problems[label("Applicant", "Company address")]
    )


def example_dict(name: str = "ilmate-pertek-baja-approved.json") -> dict[str, Any]:
    return load_dict(ROOT / "examples" / name)


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_json(json.dumps(data))
    return {problem.field: problem.message for problem in caught.value.problems}


def test_missing_required_field_is_named() -> None:
    data = example_dict()
    del data["applicant"]["nib"]
    assert problems_of(data) == {label("Applicant", "Company NIB"): "is required"}


def test_rejection_with_valid_until_is_refused() -> None:
    data = example_dict("ilmate-pertek-baja-rejected.json")
    data["valid_until"] = "2027-06-30"
    assert problems_of(data) == {"Request": "a rejection must not have a 'valid until' date"}


def test_decision_before_application_is_refused() -> None:
    data = example_dict()
    data["decision"]["date"] = "2026-01-01"
    assert "the decision date is before the application letter date" in problems_of(data)["Request"]


def test_unknown_top_level_field_is_named() -> None:
    data = example_dict()
    data["colour"] = "red"
    assert problems_of(data) == {"colour": "is not a field docgen knows; check the spelling"}


def test_numeric_nib_is_refused_as_not_text() -> None:
    data = example_dict()
    data["applicant"]["nib"] = 9120301234567
    assert problems_of(data) == {label("Applicant", "Company NIB"): "must be text"}


def test_invalid_json_is_reported_not_raised_raw() -> None:
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_json("{not json")
    assert [problem.message for problem in caught.value.problems] == ["is not valid JSON"]


# --- from_mapping -------------------------------------------------------------------------------


def test_from_mapping_accepts_python_dates_and_decimals() -> None:
    path = ROOT / "examples" / "ilmate-pertek-baja-approved.json"
    data = load_dict(path)
    data["application"]["date"] = date.fromisoformat(data["application"]["date"])
    data["decision"]["date"] = date.fromisoformat(data["decision"]["date"])
    data["valid_until"] = date.fromisoformat(data["valid_until"])
    for item in data["items"]:
        item["quantity"] = Decimal(str(item["quantity"]))
    from_mapping = LetterRequest.from_mapping(data)
    assert from_mapping == LetterRequest.from_json(path.read_bytes())
    assert isinstance(from_mapping.valid_until, date)
    assert isinstance(from_mapping.items[0].quantity, Decimal)


def test_from_mapping_refuses_values_json_cannot_hold() -> None:
    data = example_dict()
    data["copies"] = {"a set", "is not a list"}
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_mapping(data)
    assert caught.value.problems[0].field == "Request"
    assert "set" in caught.value.problems[0].message


def test_from_mapping_reports_field_problems_like_from_json() -> None:
    data = example_dict()
    data["applicant"]["nib"] = "123"
    with pytest.raises(RequestInvalid) as caught:
        LetterRequest.from_mapping(data)
    assert [problem.field for problem in caught.value.problems] == [
        label("Applicant", "Company NIB")
    ]


# --- immutability and schema --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "attribute"),
    [((), "request_id"), (("applicant",), "nib"), (("decision",), "outcome")],
)
def test_models_are_frozen(path: tuple[str, ...], attribute: str) -> None:
    target: Any = LetterRequest.from_json(
        (ROOT / "examples" / "ilmate-pertek-baja-approved.json").read_bytes()
    )
    for step in path:
        target = getattr(target, step)
    before = getattr(target, attribute)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(target, attribute, Outcome.REJECTED if attribute == "outcome" else "changed")
    assert getattr(target, attribute) == before


def test_items_are_an_immutable_tuple() -> None:
    request = LetterRequest.from_json(
        (ROOT / "examples" / "ilmate-pertek-baja-approved.json").read_bytes()
    )
    assert isinstance(request.items, tuple)


def test_json_schema_forbids_unknown_fields_and_lists_required_ones() -> None:
    schema = LetterRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "request_id",
        "service",
        "applicant",
        "application",
        "decision",
        "signatory",
        "addressee",
    }
    assert schema["$defs"]["Company"]["additionalProperties"] is False
    assert set(schema["$defs"]["Company"]["required"]) == {"name", "nib", "npwp", "address"}
    assert schema["properties"]["applicant"]["title"] == "Applicant"


# --- hostile text -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hostile-company-name.json", "hostile-company-name-docx.json"])
def test_hostile_examples_validate_and_keep_strings_verbatim(name: str) -> None:
    raw = load_dict(DATA / name)
    request = LetterRequest.from_json((DATA / name).read_bytes())
    assert request.applicant.name == raw["applicant"]["name"]
    assert request.applicant.name.startswith('<img src="file:///etc/passwd"> {{ 7*7 }}')
    assert request.applicant.name.endswith('AT&T <Müller> "Ö"')
    assert request.applicant.address == raw["applicant"]["address"]
    assert "<script>alert(1)</script>" in request.applicant.address
    assert request.items[0].description == "<b>bold</b> & {{ request }}"
