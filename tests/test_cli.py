"""The command line through click's CliRunner: thin commands, clear errors, right exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from docgen.cli import main
from docgen.render.pdf import read_request
from tests.helpers import DATA, EXAMPLES, load_request

HTML_EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_version(cli: CliRunner) -> None:
    result = cli.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("docgen, version ")


@pytest.mark.parametrize(
    "command", [[], ["render"], ["schema"], ["services"], ["templates"], ["templates", "check"]]
)
def test_every_command_has_help(cli: CliRunner, command: list[str]) -> None:
    result = cli.invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_services_lists_every_catalogue_entry(cli: CliRunner) -> None:
    result = cli.invoke(main, ["services"])
    assert result.exit_code == 0
    for code in ("AGRO-REKOM-GARAM", "IKFT-PERTEK-BAN", "ILMATE-PERTEK-BAJA"):
        assert code in result.output


def test_schema_is_the_request_json_schema(cli: CliRunner) -> None:
    result = cli.invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "LetterRequest"
    assert schema["additionalProperties"] is False
    assert {"request_id", "service", "applicant", "decision"} <= set(schema["required"])


def test_templates_check_passes_on_the_shipped_templates(cli: CliRunner) -> None:
    result = cli.invoke(main, ["templates", "check"])
    assert result.exit_code == 0, result.output
    assert "17 templates of 15 services: no problem found" in result.output
    assert "regulation not confirmed: AGRO-REKOM-GARAM" in result.output


def test_templates_check_fails_on_an_unknown_variable(
    cli: CliRunner, templates_copy: Path, tmp_path: Path
) -> None:
    template = templates_copy / "html" / "penolakan.html.j2"
    template.write_text(
        template.read_text("utf-8") + "{{ request.applicant.nama_perusahaan }}", "utf-8"
    )
    config = tmp_path / "docgen.toml"
    config.write_text(f'templates = "{templates_copy}"\n', "utf-8")
    result = cli.invoke(main, ["--config", str(config), "templates", "check"])
    assert result.exit_code == 1
    assert "request.applicant.nama_perusahaan does not exist" in result.output


def test_render_writes_a_draft(cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "draft.pdf"
    result = cli.invoke(main, ["render", str(HTML_EXAMPLE), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert read_request(target.read_bytes()) == load_request(HTML_EXAMPLE)
    assert [p.name for p in tmp_path.iterdir()] == ["draft.pdf"]


def test_invalid_request_names_every_field_and_writes_nothing(
    cli: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "letter.pdf"
    result = cli.invoke(
        main, ["render", str(DATA / "invalid-every-identifier.json"), "-o", str(target)]
    )
    assert result.exit_code == 65
    for words in ("Company NIB", "Company NPWP", "NIP", "Tariff code", "Quantity", "colour"):
        assert words in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_bad_request_does_not_stop_the_others(cli: CliRunner, tmp_path: Path) -> None:
    bad = DATA / "rejected-missing-reason.json"
    result = cli.invoke(main, ["render", str(bad), str(HTML_EXAMPLE), "--out-dir", str(tmp_path)])
    assert result.exit_code == 65
    assert "a rejection must state at least one reason" in result.output
    assert [p.name for p in tmp_path.iterdir()] == [f"{HTML_EXAMPLE.stem}.pdf"]


def test_output_file_takes_one_request(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        main, ["render", str(HTML_EXAMPLE), str(HTML_EXAMPLE), "-o", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code == 2
    assert "exactly one request" in result.output


def test_invalid_settings_are_a_configuration_error(cli: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "docgen.toml"
    config.write_text("[esign]\nfooterr = 'typo'\n", "utf-8")
    result = cli.invoke(main, ["--config", str(config), "services"])
    assert result.exit_code == 78
    assert "esign.footerr" in result.output
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback(cli: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "docgen.toml"
    config.write_text("agency = 'not a table'\n", "utf-8")
    result = cli.invoke(main, ["--verbose", "--config", str(config), "services"])
    assert result.exit_code == 78
    assert "Traceback" in result.output
