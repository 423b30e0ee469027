"""The register on PostgreSQL: outages and lock waits are retryable, passwords stay secret, and
the Issuer, the Verifier and the commands use the register the settings name.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from docgen.catalogue import Service
from docgen.cli import main
from docgen.config import Settings
from docgen.errors import (
    ConfigError,
    RegisterBusy,
    RegisterError,
    RegisterUnavailable,
    is_retryable,
)
from docgen.files import pending_path
from docgen.pipeline import Issuer
from docgen.register import EventKind, LetterStatus, Register, open_register
from docgen.register.postgres import scrub
from docgen.render import Renderer
from docgen.reports import IssueOutcome
from docgen.verify import Verifier
from tests.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_database,
    postgres_session,
)
from tests.registers import (  # noqa: F401  (fixture)
    request_for,
    reserve,
    service_fixture,
)


def test_a_restarted_server_fails_one_operation_retryably_and_the_retry_succeeds(
    postgres: PostgresServer, postgres_url: str, service: Service
) -> None:
    with Register(postgres_url, create=True) as register:
        assert reserve(register, service, "P-1").seq == 1
        postgres.restart()  # ends the register's open session
        with pytest.raises(RegisterUnavailable, match="ended the connection") as caught:
            reserve(register, service, "P-2")
        assert is_retryable(caught.value) and caught.value.exit_code == 69
        assert reserve(register, service, "P-2").seq == 2  # the failed attempt took nothing

        postgres.stop()
        try:
            with pytest.raises(RegisterUnavailable, match="could not be reached") as down:
                reserve(register, service, "P-3")
            assert is_retryable(down.value)
        finally:
            postgres.start()
        assert reserve(register, service, "P-3").seq == 3
        assert [r.seq for r in register.records()] == [1, 2, 3]


def test_a_lock_held_too_long_is_register_busy(postgres_url: str, service: Service) -> None:
    with Register(postgres_url, create=True) as register:
        reserve(register, service, "B-1")
        with psycopg.connect(postgres_url) as holder:  # another node, mid-transaction
            holder.execute("UPDATE series SET last_seq = last_seq WHERE series = 'ILMATE/2026'")
            waiting = Register(postgres_url, timeout=0.3)
            try:
                with pytest.raises(RegisterBusy, match="held its lock too long") as caught:
                    reserve(waiting, service, "B-2")
                assert is_retryable(caught.value)
            finally:
                waiting.close()
            holder.rollback()
        assert reserve(register, service, "B-2").seq == 2


def test_the_password_never_appears_in_settings_or_messages(
    postgres: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="must not hold the password") as refused:
        Settings.load(letter_register={"url": "postgresql://docgen:hunter2@db.example/docgen"})
    assert "hunter2" not in str(refused.value)
    assert scrub("postgresql://u:pw1@h/db?password=pw2 password='pw3'") == (
        "postgresql://u:***@h/db?password=*** password=***"
    )

    # a role that must give its password on the socket: the rule goes first in pg_hba.conf
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute("CREATE ROLE clerk LOGIN PASSWORD 'right-secret'")
        hba = postgres.data / "pg_hba.conf"
        hba.write_text("local all clerk scram-sha-256\n" + hba.read_text())
        admin.execute("SELECT pg_reload_conf()")
    Register(postgres_url, create=True).close()
    with psycopg.connect(postgres_url, autocommit=True) as owner:  # the clerk may only use it
        owner.execute("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO clerk")
        owner.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO clerk")
    url = postgres_url.replace(f"{postgres.user}@", "clerk@")
    secret = tmp_path / "password"

    secret.write_text("wrong-secret\n")
    settings = Settings.load(letter_register={"url": url, "password_file": str(secret)})
    with pytest.raises(RegisterError, match="authentication failed") as wrong:
        open_register(settings)
    assert not is_retryable(wrong.value)
    assert "wrong-secret" not in str(wrong.value) and "password_file" in str(wrong.value)

    secret.write_text("right-secret\n")
    with open_register(settings) as register:
        assert register.records() == []

    down = Settings.load(
        letter_register={"url": f"postgresql://clerk@/x?host={tmp_path}/none&port=1"}
    )
    with pytest.raises(RegisterUnavailable, match="could not be reached") as unreachable:
        open_register(down)
    assert "right-secret" not in str(unreachable.value)


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings.load(letter_register={"url": url}, output=str(tmp_path / "letters"))


def _docgen(tmp_path: Path, url: str, *args: str) -> Result:
    config = tmp_path / "docgen.toml"
    config.write_text(f'[letter_register]\nurl = "{url}"\n')
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_issue_verify_revoke_and_history_on_postgresql(
    tmp_path: Path, postgres_url: str, renderer: Renderer, pki: object
) -> None:
    made = _docgen(tmp_path, postgres_url, "register", "init")
    assert made.exit_code == 0, made.output
    assert "Created the register postgresql://" in made.output
    settings = _settings(tmp_path, postgres_url)
    request = request_for("PG-LETTER-1")
    with Issuer(settings, renderer=renderer) as issuer:
        letter = issuer.issue(request)
        # a crash after recording, before the rename: the next attempt completes it
        letter.path.rename(pending_path(letter.path, letter.register_id))
        again = issuer.issue(request)
    assert again.outcome is IssueOutcome.ALREADY_ISSUED and letter.path.is_file()

    verifier = Verifier.from_settings(settings)
    report = verifier.verify(letter.path.read_bytes())
    assert report.register_status == LetterStatus.ISSUED.value
    assert [c.passed for c in report.checks if c.name == "register"] == [True]

    revoked = _docgen(tmp_path, postgres_url, "revoke", letter.letter_number, "--reason", "uji")
    assert revoked.exit_code == 0, revoked.output
    assert verifier.verify(letter.path.read_bytes()).register_status == "revoked"
    assert verifier.register is not None
    verifier.register.close()

    shown = _docgen(tmp_path, postgres_url, "register", "history", letter.letter_number)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"Letter {letter.letter_number} ") and lines[0].endswith("revoked")
    events = [line.split()[3] for line in lines[1:]]
    assert events == ["reserved", "issued", "file_completed", "revoked"]
    assert lines[-1].endswith("uji") and "UTC" in lines[1]
    with open_register(settings, read_only=True) as register:
        (completed,) = [
            e for e in register.history(letter.letter_number)
            if e.event is EventKind.FILE_COMPLETED
        ]  # fmt: skip
        assert str(letter.path) in (completed.reason or "")

    unknown = _docgen(tmp_path, postgres_url, "register", "history", "404/NOPE")
    assert unknown.exit_code == 65 and "No letter numbered 404/NOPE" in unknown.output
