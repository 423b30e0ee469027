"""Schema versions and moving a register: an older SQLite register is migrated, never used as it
is; export from SQLite and import into PostgreSQL (and back) keep every row, with equal checksums.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docgen.catalogue import Service
from docgen.cli import main
from docgen.errors import RegisterError
from docgen.register import SCHEMA_VERSION, EventKind, LetterStatus, Register
from tests.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_database,
    postgres_session,
)
from tests.registers import (  # noqa: F401  (fixture)
    reserve,
    service_fixture,
)

# the schema of the first docgen releases, before owners, signed-revision hashes and versions
_FIRST_SCHEMA = """
CREATE TABLE series (series TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE letters (
    register_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, request_hash TEXT NOT NULL,
    series TEXT NOT NULL, seq INTEGER NOT NULL, letter_number TEXT NOT NULL UNIQUE,
    service TEXT NOT NULL, directorate TEXT NOT NULL, applicant_nib TEXT NOT NULL,
    applicant TEXT NOT NULL, decision TEXT NOT NULL, issued_on TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT, signer TEXT, pdf_sha256 TEXT, pdf_path TEXT,
    reserved_at TEXT NOT NULL, issued_at TEXT, changed_at TEXT NOT NULL, UNIQUE (series, seq)
);
CREATE UNIQUE INDEX letters_live_request ON letters (request_id) WHERE status != 'void';
CREATE INDEX letters_sha256 ON letters (pdf_sha256);
INSERT INTO series VALUES ('ILMATE/2025', 2);
INSERT INTO letters VALUES ('id1', 'OLD-1', 'h1', 'ILMATE/2025', 1, '1/ILMATE/PERTEK/XII/2025',
    'ILMATE-PERTEK-BAJA', 'ILMATE', '0220000000001', 'PT Lama', 'approved', '2025-12-01',
    'issued', NULL, 'CN=Signer', 'aa', '/old/1.pdf', '2025-12-01T02:00:00+00:00',
    '2025-12-01T02:00:05+00:00', '2025-12-01T02:00:05+00:00');
INSERT INTO letters VALUES ('id2', 'OLD-2', 'h2', 'ILMATE/2025', 2, '2/ILMATE/PERTEK/XII/2025',
    'ILMATE-PERTEK-BAJA', 'ILMATE', '0220000000001', 'PT Lama', 'approved', '2025-12-01',
    'void', 'signing failed', NULL, NULL, NULL, '2025-12-01T03:00:00+00:00', NULL,
    '2025-12-01T03:00:01+00:00');
"""


def _docgen(tmp_path: Path, location: str | Path, *args: str) -> Result:
    config = tmp_path / f"docgen-{abs(hash(str(location)))}.toml"
    key = "url" if isinstance(location, str) else "path"
    config.write_text(f'[letter_register]\n{key} = "{location}"\n')
    return CliRunner().invoke(main, ["--config", str(config), *args])


@pytest.mark.parametrize("added_later", [(), ("owner",), ("owner", "signed_sha256")])
def test_an_older_sqlite_register_is_migrated_on_purpose_keeping_its_letters(
    tmp_path: Path, service: Service, added_later: tuple[str, ...]
) -> None:
    path = tmp_path / "register.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(_FIRST_SCHEMA)
        for column in added_later:  # what earlier releases added as they opened it
            old.execute(f"ALTER TABLE letters ADD COLUMN {column} TEXT")
    old.close()

    with pytest.raises(RegisterError, match="schema version 1, this docgen needs") as refused:
        Register(path)
    assert "docgen register migrate" in str(refused.value)
    with pytest.raises(RegisterError, match="docgen register migrate"):
        Register(path, read_only=True)  # verification reports it, never reads it half-known

    migrated = _docgen(tmp_path, path, "register", "migrate")
    assert migrated.exit_code == 0, migrated.output
    assert f"from schema version 1 to {SCHEMA_VERSION}" in migrated.output
    again = _docgen(tmp_path, path, "register", "migrate")
    assert f"is up to date (schema version {SCHEMA_VERSION})" in again.output

    with Register(path) as register:
        assert register.schema_version == SCHEMA_VERSION
        old_issued, old_void = register.records()
        assert (old_issued.status, old_issued.pdf_sha256) == (LetterStatus.ISSUED, "aa")
        assert old_issued.signed_sha256 is None
        assert (old_void.status, old_void.reason) == (LetterStatus.VOID, "signing failed")
        (recorded,) = register.history(old_issued.letter_number)
        assert recorded.event is EventKind.RECORDED
        assert recorded.reason == "state when the audit trail began: issued"
        assert recorded.at == old_issued.changed_at
        assert register.counters() == {"ILMATE/2025": 2}
        assert reserve(register, service, "NEW-1").seq == 1  # a new series: ILMATE/2026
        assert register.by_sha256("aa") == old_issued
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version")]
    db.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_register_of_a_newer_docgen_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "register.sqlite3"
    Register.create(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (99, 'future', '2030-01-01T00:00:00')")
    db.close()
    with pytest.raises(RegisterError, match="made by a newer docgen"):
        Register(path)
    made = _docgen(tmp_path, path, "register", "migrate")
    assert made.exit_code == 74 and "newer than this docgen" in made.output


def _summary(output: str) -> tuple[str, str]:
    """The counts and checksum a transfer command printed."""
    found = re.search(r": (\d+ series, .*); checksum ([0-9a-f]{64})$", output.strip())
    assert found, output
    return found.group(1), found.group(2)


def test_export_from_sqlite_import_into_postgresql_and_back_keeps_everything(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str, service: Service
) -> None:
    source = tmp_path / "register.sqlite3"
    with Register.create(source, node="node-a") as register:
        for index in range(6):
            record = reserve(register, service, f"T-{index}")
            if index % 3 == 0:
                register.mark_void(record.register_id, f"failure {index}")
            else:
                register.mark_issued(
                    record.register_id, sha256=f"{index:064x}", path=f"/l/{index}.pdf", signer="S"
                )
        register.revoke("2/ILMATE/PERTEK/III/2026", "issued in error")
        reserve(register, service, "T-reserved")  # a reservation in progress moves too
        records, counters, events = register.records(), register.counters(), register.events()

    exported = _docgen(tmp_path, source, "register", "export", str(tmp_path / "register.jsonl"))
    assert exported.exit_code == 0, exported.output
    counts, checksum = _summary(exported.output)
    assert counts.startswith("1 series, 7 letters (issued 3, reserved 1, revoked 1, void 2)")
    assert (tmp_path / "register.jsonl").stat().st_mode & 0o077 == 0  # applicants' data

    assert _docgen(tmp_path, postgres_url, "register", "init").exit_code == 0
    imported = _docgen(
        tmp_path, postgres_url, "register", "import", str(tmp_path / "register.jsonl")
    )
    assert imported.exit_code == 0, imported.output
    assert _summary(imported.output) == (counts, checksum)
    with Register(postgres_url, node="node-b", lease=timedelta(0)) as copy:
        assert copy.records() == records
        assert copy.counters() == counters
        assert copy.events() == events
        # numbering and the audit trail go on where the SQLite register stopped
        taken = reserve(copy, service, "T-reserved")  # lease 0: node-b takes it over
        assert taken.seq == 7 and copy.events()[-1].id == events[-1].id + 1
        assert reserve(copy, service, "T-next").seq == 8

    refused = _docgen(
        tmp_path, postgres_url, "register", "import", str(tmp_path / "register.jsonl")
    )
    assert refused.exit_code == 74 and "is not empty" in refused.output

    again = _docgen(tmp_path, postgres_url, "register", "export", str(tmp_path / "back.jsonl"))
    assert again.exit_code == 0, again.output
    back = tmp_path / "back.sqlite3"
    assert _docgen(tmp_path, back, "register", "init").exit_code == 0
    restored = _docgen(tmp_path, back, "register", "import", str(tmp_path / "back.jsonl"))
    assert restored.exit_code == 0, restored.output
    assert _summary(restored.output) == _summary(again.output)
    assert _summary(again.output)[1] != checksum  # two more changes since the first export

    existing = _docgen(tmp_path, back, "register", "export", str(tmp_path / "back.jsonl"))
    assert existing.exit_code == 74 and "already exists" in existing.output


def test_a_damaged_export_is_refused_and_nothing_is_imported(
    tmp_path: Path, service: Service
) -> None:
    source = tmp_path / "register.sqlite3"
    with Register.create(source) as register:
        record = reserve(register, service, "D-1")
        register.mark_issued(record.register_id, sha256="f" * 64, path="/x.pdf", signer="S")
    exported = _docgen(tmp_path, source, "register", "export", str(tmp_path / "e.jsonl"))
    assert exported.exit_code == 0, exported.output
    text = (tmp_path / "e.jsonl").read_text()
    (tmp_path / "edited.jsonl").write_text(text.replace('"issued"', '"revoked"', 1))
    target = tmp_path / "target.sqlite3"
    assert _docgen(tmp_path, target, "register", "init").exit_code == 0
    refused = _docgen(tmp_path, target, "register", "import", str(tmp_path / "edited.jsonl"))
    assert refused.exit_code == 74 and "damaged or was edited" in refused.output
    with Register(target) as empty:
        assert empty.records() == [] and empty.events() == []
