"""The service catalogue (docgen.catalogue) and the settings (docgen.config)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from docgen.catalogue import Catalogue, LetterKind, TemplateFormat
from docgen.config import CONFIG_ENV, Settings
from docgen.errors import CatalogueError, ConfigError, RequestInvalid
from docgen.models import LetterRequest

ROOT = Path(__file__).resolve().parents[1]


def label(*parts: str) -> str:
    """A field label as docgen writes it, parts joined by a right angle quote."""
    return " \u203a ".join(parts)


TEMPLATES = ROOT / "templates"
EXAMPLES = ROOT / "examples"
ISSUE_DAY = date(2026, 12, 1)  # the day of issue the examples were written for


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(TEMPLATES / "catalogue.toml")


def example_dict(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text("utf-8"))
    return data


def request_from(data: dict[str, Any]) -> LetterRequest:
    return LetterRequest.from_json(json.dumps(data))


# --- the shipped catalogue ----------------------------------------------------------------------


def test_shipped_catalogue_covers_every_directorate_kind_and_format(catalogue: Catalogue) -> None:
    services = list(catalogue)
    assert len(catalogue) == len(services) >= 6
    assert {service.directorate_general for service in services} >= {"AGRO", "IKFT", "ILMATE"}
    assert {service.kind for service in services} == set(LetterKind)
    assert {service.format for service in services} == set(TemplateFormat)


def test_every_shipped_service_has_both_templates(catalogue: Catalogue) -> None:
    for service in catalogue:
        for template in (service.template_approved, service.template_rejected):
            assert (catalogue.root / template).is_file(), f"{service.code}: {template}"
            assert template.startswith(f"{service.format}/")


def test_every_example_names_a_catalogue_service_and_passes_its_rules(
    catalogue: Catalogue,
) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        request = LetterRequest.from_json(path.read_bytes())
        service = catalogue.check_request(request, today=ISSUE_DAY, source=path.name)
        assert service.code == request.service


@pytest.mark.usefixtures("no_config_env")
def test_every_shipped_directorate_is_in_the_default_settings(catalogue: Catalogue) -> None:
    settings = Settings.load(None)
    for service in catalogue:
        assert settings.directorate(service.directorate_general).code == (
            service.directorate_general
        )


def test_get_returns_the_service(catalogue: Catalogue) -> None:
    service = catalogue.get("ILMATE-PERTEK-BAJA")
    assert service.code == "ILMATE-PERTEK-BAJA"
    assert service.kind is LetterKind.PERTIMBANGAN_TEKNIS
    assert service.kind.label == "Pertimbangan Teknis"
    assert LetterKind.REKOMENDASI.label == "Rekomendasi"


def test_get_unknown_code_names_the_known_codes(catalogue: Catalogue) -> None:
    with pytest.raises(CatalogueError) as caught:
        catalogue.get("NOPE")
    message = str(caught.value)
    assert "'NOPE'" in message
    for service in catalogue:
        assert service.code in message


@pytest.mark.parametrize(
    ("code", "seq", "on", "expected"),
    [
        ("ILMATE-PERTEK-BAJA", 12, date(2026, 12, 1), "12/ILMATE/PERTEK/XII/2026"),
        ("AGRO-REKOM-GARAM", 7, date(2027, 1, 31), "7/AGRO/REKOM/I/2027"),
        ("IKFT-PERTEK-BAN", ".....", date(2026, 4, 9), "...../IKFT/PERTEK-BAN/IV/2026"),
    ],
)
def test_letter_number(
    catalogue: Catalogue, code: str, seq: int | str, on: date, expected: str
) -> None:
    assert catalogue.get(code).letter_number(seq=seq, on=on) == expected


# --- check_request ------------------------------------------------------------------------------


def test_request_for_unknown_service_is_refused(catalogue: Catalogue) -> None:
    data = example_dict("ilmate-pertek-baja-approved.json")
    data["service"] = "ILMATE-PERTEK-NOPE"
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    [problem] = caught.value.problems
    assert problem.field == "Service code"
    assert "'ILMATE-PERTEK-NOPE' is not in the catalogue" in problem.message
    assert "ILMATE-PERTEK-BAJA" in problem.message


def test_valid_until_on_the_last_allowed_day_passes(catalogue: Catalogue) -> None:
    data = example_dict("ikft-pertek-ban-approved.json")
    assert data["decision"]["date"] == "2026-11-10"
    data["valid_until"] = "2027-11-10"  # 12 months
    assert catalogue.check_request(request_from(data), today=ISSUE_DAY).code == "IKFT-PERTEK-BAN"


@pytest.mark.parametrize(
    ("name", "valid_until", "months", "latest"),
    [
        ("ikft-pertek-ban-approved.json", "2027-11-11", 12, "2027-11-10"),
        ("ikft-pertek-ban-approved.json", "2028-06-30", 12, "2027-11-10"),
    ],
)
def test_valid_until_beyond_the_service_validity_is_refused(
    catalogue: Catalogue, name: str, valid_until: str, months: int, latest: str
) -> None:
    data = example_dict(name)
    data["valid_until"] = valid_until
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    [problem] = caught.value.problems
    assert problem.field == "Valid until"
    assert f"at most {months} months" in problem.message
    assert latest in problem.message


def test_six_month_service_refuses_a_year_of_validity(catalogue: Catalogue) -> None:
    data = example_dict("ilmate-pertek-btb-approved.json")
    decided = date.fromisoformat(data["decision"]["date"])
    data["valid_until"] = date(decided.year + 1, decided.month, 1).isoformat()
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    assert [problem.field for problem in caught.value.problems] == ["Valid until"]
    assert "at most 6 months" in caught.value.problems[0].message


def test_tyre_item_without_brand_is_refused(catalogue: Catalogue) -> None:
    data = example_dict("ikft-pertek-ban-approved.json")
    del data["items"][0]["brand"]
    request = request_from(data)  # the model itself accepts a missing brand
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request, today=ISSUE_DAY)
    assert [(p.field, p.message) for p in caught.value.problems] == [
        (label("Goods item 1", "Brand"), "is required by this service")
    ]


def test_every_missing_item_field_is_reported(catalogue: Catalogue) -> None:
    data = example_dict("ikft-pertek-ban-approved.json")
    del data["items"][0]["size"]
    del data["items"][2]["type"]
    del data["items"][2]["destination_port"]
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    assert sorted(p.field for p in caught.value.problems) == [
        label("Goods item 1", "Size"),
        label("Goods item 3", "Destination port"),
        label("Goods item 3", "Type"),
    ]


def test_approval_without_items_is_refused(catalogue: Catalogue) -> None:
    data = example_dict("ilmate-pertek-baja-approved.json")
    data["items"] = []
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    assert [p.field for p in caught.value.problems] == ["Goods items"]


# --- dates against the day of issue, and the forms of validity rule ---------------------------


def test_a_decision_dated_in_the_future_is_refused(catalogue: Catalogue) -> None:
    # a future decision would be issued today and dated in the future on its draft, and its
    # validity counted from the decision would run past the service's limit
    data = example_dict("ilmate-pertek-baja-approved.json")
    data["decision"]["date"] = "2027-06-01"
    data["valid_until"] = "2028-05-31"
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    [problem] = caught.value.problems
    assert problem.field == "Decision date"
    assert "2027-06-01 is in the future" in problem.message
    assert "2026-12-01" in problem.message


def test_a_decision_taken_today_is_issued_today(catalogue: Catalogue) -> None:
    data = example_dict("ilmate-pertek-baja-approved.json")
    data["decision"]["date"] = ISSUE_DAY.isoformat()
    data["valid_until"] = "2027-06-30"
    assert catalogue.check_request(request_from(data), today=ISSUE_DAY)


@pytest.mark.parametrize("outcome", ["approved", "rejected"])
def test_a_future_decision_is_refused_whatever_the_outcome(
    catalogue: Catalogue, outcome: str
) -> None:
    data = example_dict(f"ilmate-pertek-baja-{outcome}.json")
    data["decision"]["date"] = "2026-12-02"
    if outcome == "approved":
        data["valid_until"] = "2027-06-30"
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    assert [p.field for p in caught.value.problems] == ["Decision date"]


def test_valid_until_already_past_on_the_day_of_issue_is_refused(catalogue: Catalogue) -> None:
    data = example_dict("ikft-pertek-ban-approved.json")
    data["decision"]["date"] = "2025-06-02"
    data["application"]["date"] = "2025-05-20"
    data["valid_until"] = "2025-12-31"
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(request_from(data), today=ISSUE_DAY)
    [problem] = caught.value.problems
    assert problem.field == "Valid until"
    assert problem.message == "2025-12-31 is already past on the day of issue (2026-12-01)"


def test_valid_until_the_day_of_issue_is_accepted(catalogue: Catalogue) -> None:
    data = example_dict("ikft-pertek-ban-approved.json")
    data["valid_until"] = ISSUE_DAY.isoformat()
    assert catalogue.check_request(request_from(data), today=ISSUE_DAY)


def catalogue_with(tmp_path: Path, **changes: Any) -> Catalogue:
    service = base_service()
    del service["validity_months"]
    service.update(changes)
    return Catalogue.load(write_catalogue(tmp_path, [service]))


def approval(decided: str, valid_until: str) -> LetterRequest:
    data = example_dict("agro-rekom-garam-approved.json")
    data["service"] = "TEST-SVC"
    data["application"]["date"] = "2026-01-02"
    data["decision"]["date"] = decided
    data["valid_until"] = valid_until
    return request_from(data)


@pytest.mark.parametrize(
    ("rule", "decided", "issued", "latest", "words"),
    [
        ({"months": 12}, "2026-02-28", "2026-12-01", "2027-02-28", "12 months after the decision"),
        (
            {"months": 6, "from": "issue"},
            "2026-03-10",
            "2026-12-01",
            "2027-06-01",
            "6 months after the day of issue",
        ),
        ({"until": "end_of_year"}, "2026-03-10", "2026-12-01", "2026-12-31", "of that year"),
        (
            {"until": "end_of_next_year"},
            "2026-03-10",
            "2026-12-01",
            "2027-12-31",
            "of the year after",
        ),
        (
            {"until": "end_of_year", "from": "issue"},
            "2026-12-30",
            "2027-01-04",
            "2027-12-31",
            "counted from the day of issue",
        ),
    ],
)
def test_each_form_of_validity_rule_allows_up_to_its_last_day(
    tmp_path: Path, rule: dict[str, Any], decided: str, issued: str, latest: str, words: str
) -> None:
    catalogue = catalogue_with(tmp_path, validity=rule)
    today = date.fromisoformat(issued)
    last = date.fromisoformat(latest)
    assert catalogue.check_request(approval(decided, latest), today=today)
    day_after = date.fromordinal(last.toordinal() + 1).isoformat()
    with pytest.raises(RequestInvalid) as caught:
        catalogue.check_request(approval(decided, day_after), today=today)
    [problem] = caught.value.problems
    assert problem.field == "Valid until"
    assert words in problem.message
    assert f"no later than {latest}" in problem.message


def test_validity_months_is_short_for_months_after_the_decision(tmp_path: Path) -> None:
    shorthand = catalogue_with(tmp_path, validity_months=3).get("TEST-SVC")
    assert shorthand.validity is not None
    assert (shorthand.validity.months, shorthand.validity.counted_from) == (3, "decision")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"months": 6, "until": "end_of_year"}, r"either months or until, not both or neither"),
        ({}, r"either months or until, not both or neither"),
        ({"until": "end_of_decade"}, r"validity\.until: Input should be 'end_of_year' or"),
        ({"months": 6, "from": "application"}, r"validity\.from: Input should be 'decision' or"),
        ({"months": 0}, r"validity\.months: Input should be greater than or equal to 1"),
    ],
)
def test_a_malformed_validity_rule_is_refused(
    tmp_path: Path, rule: dict[str, Any], message: str
) -> None:
    with pytest.raises(CatalogueError, match=message):
        catalogue_with(tmp_path, validity=rule)


def test_a_service_without_a_validity_rule_takes_any_future_date(tmp_path: Path) -> None:
    catalogue = catalogue_with(tmp_path)
    assert catalogue.check_request(approval("2026-03-10", "2036-03-10"), today=ISSUE_DAY)


# --- invalid catalogue files --------------------------------------------------------------------


def base_service(code: str = "TEST-SVC") -> dict[str, Any]:
    return {
        "code": code,
        "title": "Test service",
        "kind": "rekomendasi",
        "directorate_general": "AGRO",
        "regulation": "Peraturan Test",
        "subject": "Rekomendasi Test",
        "format": "html",
        "template_approved": "html/approved.html.j2",
        "template_rejected": "html/rejected.html.j2",
        "number_pattern": "{seq}/AGRO/TEST/{month_roman}/{year}",
        "validity_months": 12,
        "item_fields": ["country_of_origin"],
    }


def toml_value(value: Any) -> str:
    """A TOML value: JSON strings, numbers and lists are valid TOML; a mapping an inline table."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def write_catalogue(root: Path, services: list[dict[str, Any]]) -> Path:
    """Write a catalogue.toml (JSON strings and lists are valid TOML values) and templates."""
    (root / "html").mkdir(exist_ok=True)
    for name in ("approved.html.j2", "rejected.html.j2"):
        (root / "html" / name).write_text("<p>{{ request.request_id }}</p>\n", "utf-8")
    blocks = []
    for service in services:
        lines = ["[[service]]"] + [f"{key} = {toml_value(value)}" for key, value in service.items()]
        blocks.append("\n".join(lines))
    path = root / "catalogue.toml"
    path.write_text("\n\n".join(blocks) + "\n", "utf-8")
    return path


def test_minimal_catalogue_loads(tmp_path: Path) -> None:
    catalogue = Catalogue.load(write_catalogue(tmp_path, [base_service()]))
    assert len(catalogue) == 1
    assert catalogue.root == tmp_path
    assert catalogue.get("TEST-SVC").letter_number(3, date(2026, 2, 1)) == "3/AGRO/TEST/II/2026"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"number_pattern": "{seq}/{foo}/{year}"},
            r"number_pattern uses unknown fields: \['foo'\]",
        ),
        ({"number_pattern": "AGRO/TEST/{year}"}, r"number_pattern must contain \{seq\}"),
        (
            {"template_approved": "html/missing.html.j2"},
            r"template html/missing.html.j2 does not exist",
        ),
        ({"template_rejected": "../outside.html.j2"}, r"must be inside the templates folder"),
        ({"template_approved": "html/../../x.html.j2"}, r"must be inside the templates folder"),
        ({"template_approved": "/etc/x.html.j2"}, r"must be inside the templates folder"),
        ({"template_approved": "docx/x.docx"}, r"does not match format html"),
        ({"item_fields": ["colour"]}, r"item_fields names unknown goods fields: \['colour'\]"),
        ({"kind": "surat"}, r"kind"),
        ({"validity_months": 0}, r"validity"),
        ({"validity": {"months": 6}}, r"validity or validity_months, not both"),
        ({"colour": "red"}, r"colour"),
        ({"code": "lower-case"}, r"code"),
    ],
)
def test_invalid_catalogue_is_refused_with_a_helpful_message(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = write_catalogue(tmp_path, [base_service() | changes])
    with pytest.raises(CatalogueError, match=message) as caught:
        Catalogue.load(path)
    assert str(path) in str(caught.value) or "does not exist" in str(caught.value)


def test_duplicate_service_code_is_refused(tmp_path: Path) -> None:
    path = write_catalogue(tmp_path, [base_service(), base_service()])
    with pytest.raises(CatalogueError, match="more than once"):
        Catalogue.load(path)


def test_duplicate_service_code_error_names_the_code(tmp_path: Path) -> None:
    path = write_catalogue(
        tmp_path, [base_service("TEST-A"), base_service("TEST-DUP"), base_service("TEST-DUP")]
    )
    with pytest.raises(CatalogueError, match="TEST-DUP"):
        Catalogue.load(path)


def test_positional_placeholder_in_number_pattern_is_refused(tmp_path: Path) -> None:
    path = write_catalogue(tmp_path, [base_service() | {"number_pattern": "{seq}/{}/{year}"}])
    with pytest.raises(CatalogueError):
        Catalogue.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [("[[service]\n", "not valid TOML"), ("", "service")],
)
def test_unparsable_or_empty_catalogue_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(path)


def test_missing_catalogue_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="Cannot read the catalogue"):
        Catalogue.load(tmp_path / "nope.toml")


# --- settings -----------------------------------------------------------------------------------


@pytest.fixture
def no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)


@pytest.mark.usefixtures("no_config_env")
def test_default_settings_load() -> None:
    settings = Settings.load()
    assert settings.templates == TEMPLATES
    assert settings.agency.place == "Jakarta"
    assert {d.code for d in settings.agency.directorates} == {"AGRO", "IKFT", "ILMATE"}
    assert settings.esign.verification_base_url.startswith("https://")
    assert settings.converter.shared_folder is None


@pytest.mark.usefixtures("no_config_env")
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[agency]\nministri = 'x'\n", "ministri"),
        ("[esign]\nverification_url = 'https://x/'\n", "verification_url"),
        ("colour = 'red'\n", "colour"),
    ],
)
def test_settings_file_with_unknown_key_is_refused(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "docgen.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=key) as caught:
        Settings.load(path)
    assert str(path) in str(caught.value)


@pytest.mark.usefixtures("no_config_env")
def test_settings_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "docgen.toml"
    path.write_text('[esign]\nverification_base_url = "https://verify.example.go.id/s/"\n', "utf-8")
    defaults = Settings.load()
    settings = Settings.load(path)
    assert settings.esign.verification_base_url == "https://verify.example.go.id/s/"
    assert settings.esign.footer == defaults.esign.footer
    assert settings.esign.draft_stamp == defaults.esign.draft_stamp
    assert settings.agency == defaults.agency
    assert settings.converter == defaults.converter
    assert settings.templates == defaults.templates


def test_settings_file_from_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "docgen.toml"
    path.write_text('[agency]\nplace = "Bandung"\n', "utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert Settings.load().agency.place == "Bandung"


@pytest.mark.usefixtures("no_config_env")
def test_invalid_toml_and_missing_settings_file_raise_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[esign\n", "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(broken)
    with pytest.raises(ConfigError, match="Cannot read the settings file"):
        Settings.load(tmp_path / "missing.toml")


@pytest.mark.usefixtures("no_config_env")
def test_unknown_directorate_is_refused_naming_the_known_ones() -> None:
    settings = Settings.load()
    assert settings.directorate("IKFT").name.startswith("DIREKTORAT JENDERAL")
    with pytest.raises(ConfigError, match=r"'NOPE'.*AGRO, IKFT, ILMATE"):
        settings.directorate("NOPE")


@pytest.mark.parametrize(
    ("pattern", "series", "number", "around"),
    [
        (
            "{seq}/{dg}/X/{month_roman}/{year}",
            "AGRO/2026",
            "7/AGRO/X/II/2026",
            ("", "/AGRO/X/II/2026"),
        ),
        ("B-{seq:04d}/{service}", "AGRO/2026", "B-0007/TEST-SVC", None),
        ("{{{dg}}}-{seq}/{month}", "AGRO/2026", "{AGRO}-7/02", ("{AGRO}-", "/02")),
    ],
)
def test_the_register_is_given_the_series_and_the_number_around_the_sequence(
    tmp_path: Path, pattern: str, series: str, number: str, around: tuple[str, str] | None
) -> None:
    data = base_service() | {"number_pattern": pattern}
    service = Catalogue.load(write_catalogue(tmp_path, [data])).get("TEST-SVC")
    numbering = service.numbering(date(2026, 2, 1))
    assert (numbering.service, numbering.directorate) == ("TEST-SVC", "AGRO")
    assert numbering.series == series
    assert numbering.number(7) == number == service.letter_number(7, date(2026, 2, 1))
    # PostgreSQL fills a plain decimal number in by itself, between these two
    assert numbering.around_seq() == around
