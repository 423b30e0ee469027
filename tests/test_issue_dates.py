"""Dates against the day of issue, through the CLI and the library: refused before a number."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docgen.cli import main
from docgen.config import Settings
from docgen.errors import RequestInvalid
from docgen.formatting import today_in
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from tests.helpers import EXAMPLES

APPROVAL = EXAMPLES / "ilmate-pertek-baja-approved.json"


def _request(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(APPROVAL.read_text("utf-8"))
    data["request_id"] = "DATES-1"
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        target = data
        for part in path:
            target = target[part]
        target[key] = value
    return data


def _today() -> date:
    return today_in(Settings.load().signing.timezone)


def _future_decision() -> dict[str, Any]:
    decided = _today() + timedelta(days=180)
    return _request(
        decision__date=decided.isoformat(),
        valid_until=(decided + timedelta(days=300)).isoformat(),
    )


def _expired_validity() -> dict[str, Any]:
    today = _today()
    return _request(
        application__date=(today - timedelta(days=400)).isoformat(),
        decision__date=(today - timedelta(days=390)).isoformat(),
        valid_until=(today - timedelta(days=1)).isoformat(),
    )


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (_future_decision, "Decision date", "is in the future"),
        (_expired_validity, "Valid until", "is already past on the day of issue"),
    ],
)
def test_issue_refuses_the_request_before_taking_a_number(
    tmp_path: Path, make: Any, field: str, words: str
) -> None:
    config = tmp_path / "docgen.toml"
    config.write_text(
        f'output = "{tmp_path / "letters"}"\n[letter_register]\npath = "{tmp_path / "r.db"}"\n'
    )
    request = tmp_path / "request.json"
    request.write_text(json.dumps(make()), "utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "register", "init"]).exit_code == 0
    result = runner.invoke(main, ["--config", str(config), "issue", str(request)])
    assert result.exit_code == 65, result.output
    assert field in result.output
    assert words in result.output
    register = Register(tmp_path / "r.db", read_only=True)
    try:
        assert register.records() == []  # no number taken, so none voided either
    finally:
        register.close()
    assert not (tmp_path / "letters").exists()


@pytest.mark.parametrize(
    ("make", "field"),
    [(_future_decision, "Decision date"), (_expired_validity, "Valid until")],
)
def test_a_draft_is_refused_too(renderer: Renderer, make: Any, field: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        renderer.render_draft(LetterRequest.from_mapping(make()))
    assert [problem.field for problem in caught.value.problems] == [field]


def test_the_library_issuer_refuses_a_future_decision(tmp_path: Path, renderer: Renderer) -> None:
    Register.create(tmp_path / "register.sqlite3").close()
    settings = Settings.load(
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )
    with Issuer(settings, renderer=renderer) as issuer:
        with pytest.raises(RequestInvalid) as caught:
            issuer.issue(LetterRequest.from_mapping(_future_decision()))
        assert [problem.field for problem in caught.value.problems] == ["Decision date"]
        assert issuer.register.records() == []
