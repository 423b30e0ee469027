"""A register is made only on purpose, a letter's file is never replaced, file errors are clear.

Field-trial defects: a missing register was silently created anew, so numbering restarted at 1
and the new letter 1 replaced the old letter 1's file; a full or read-only output folder ended
in a traceback; a "database is locked" failure was reported as not retryable.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docgen.catalogue import Catalogue
from docgen.cli import main
from docgen.config import Settings
from docgen.errors import (
    ConverterError,
    LetterInProgress,
    OutputError,
    RegisterBusy,
    RegisterError,
    RequestInvalid,
    ServiceUnavailable,
    SigningError,
    is_retryable,
)
from docgen.files import pending_path
from docgen.pipeline import Issuer, request_hash
from docgen.register import LetterRecord, LetterStatus, Register
from docgen.render import Renderer
from docgen.reports import IssuedLetter, IssueOutcome
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES, load_request

HTML_EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"


def _config(tmp: Path, register: Path, out: Path) -> Path:
    config = tmp / "docgen.toml"
    config.write_text(f'output = "{out}"\n[letter_register]\npath = "{register}"\n')
    return config


def _docgen(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def _variant(tmp: Path, request_id: str) -> Path:
    """The HTML example under another request id: same service, so the same kind of number."""
    data = json.loads(HTML_EXAMPLE.read_text("utf-8"))
    data["request_id"] = request_id
    path = tmp / f"{request_id}.json"
    path.write_text(json.dumps(data), "utf-8")
    return path


def _new_register(tmp: Path) -> Settings:
    """Settings with a register made here, on purpose, and letters under ``tmp/letters``."""
    Register.create(tmp / "register.sqlite3").close()
    return Settings.load(
        letter_register={"path": str(tmp / "register.sqlite3")}, output=str(tmp / "letters")
    )


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------- the register, made on purpose


def test_issue_batch_and_revoke_refuse_a_missing_register(tmp_path: Path, pki: DemoPki) -> None:
    register = tmp_path / "gone" / "register.sqlite3"
    out = tmp_path / "letters"
    config = _config(tmp_path, register, out)

    issued = _docgen(config, "issue", str(HTML_EXAMPLE))
    assert issued.exit_code == 74, issued.output
    assert "does not exist" in issued.output and "docgen register init" in issued.output
    assert "Traceback" not in issued.output

    source = tmp_path / "today.jsonl"
    source.write_text(HTML_EXAMPLE.read_text("utf-8").replace("\n", " ") + "\n", "utf-8")
    batch = _docgen(config, "batch", str(source), "--workers", "1", "--quiet")
    assert batch.exit_code == 74, batch.output
    assert "docgen register init" in batch.output

    revoked = _docgen(config, "revoke", "1/ILMATE/PERTEK/XII/2026", "--reason", "uji")
    assert revoked.exit_code == 74, revoked.output
    assert "does not exist" in revoked.output

    assert not register.parent.exists(), "no register (nor its folder) was made"
    assert not [p for p in _files(out) if p.suffix == ".pdf"], "no letter was written"


def test_a_deleted_register_is_an_error_and_the_letters_stay(tmp_path: Path, pki: DemoPki) -> None:
    register = tmp_path / "register.sqlite3"
    out = tmp_path / "letters"
    config = _config(tmp_path, register, out)
    assert _docgen(config, "register", "init").exit_code == 0
    first = _docgen(config, "issue", str(HTML_EXAMPLE))
    assert first.exit_code == 0, first.output
    letter = Path(first.output.split()[1])
    before = letter.read_bytes()
    for path in tmp_path.glob("register.sqlite3*"):  # the register and its WAL files
        path.unlink()

    again = _docgen(config, "issue", str(_variant(tmp_path, "OTHER-1")))
    assert again.exit_code == 74, again.output
    assert "does not exist" in again.output
    assert not register.exists()
    assert letter.read_bytes() == before
    assert [p for p in _files(out) if p.suffix == ".pdf"] == [letter]


def test_register_init_makes_the_register_once_and_keeps_it(tmp_path: Path, pki: DemoPki) -> None:
    register = tmp_path / "registers" / "register.sqlite3"
    config = _config(tmp_path, register, tmp_path / "letters")
    made = _docgen(config, "register", "init")
    assert made.exit_code == 0, made.output
    assert "Created the register" in made.output and register.is_file()
    issued = _docgen(config, "issue", str(HTML_EXAMPLE))
    assert issued.exit_code == 0, issued.output

    again = _docgen(config, "register", "init")
    assert again.exit_code == 0, again.output
    assert "already exists (1 records)" in again.output
    assert [r.status for r in Register(register).records()] == [LetterStatus.ISSUED]

    foreign = tmp_path / "other.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    refused = _docgen(_config(tmp_path, foreign, tmp_path / "letters"), "register", "init")
    assert refused.exit_code == 74, refused.output
    assert "not a docgen register" in refused.output
    with pytest.raises(RegisterError, match="not a docgen register"):
        Register(foreign)
    assert "init" in _docgen(config, "register", "--help").output


def test_the_library_opens_only_an_existing_register(tmp_path: Path) -> None:
    path = tmp_path / "register.sqlite3"
    with pytest.raises(RegisterError, match="does not exist"):
        Register(path)
    assert not path.exists()
    Register.create(path).close()
    Register(path).close()
    path.unlink()
    empty = tmp_path / "empty.sqlite3"
    empty.touch()  # a file that is not a register is never turned into one by opening it
    with pytest.raises(RegisterError, match="not a docgen register"):
        Register(empty)
    assert empty.stat().st_size == 0


# ---------------------------------------------------------------- a letter is never replaced


def test_a_fresh_register_never_replaces_the_letters_of_another(
    tmp_path: Path, pki: DemoPki
) -> None:
    out = tmp_path / "letters"
    old = _config(tmp_path, tmp_path / "old.sqlite3", out)
    assert _docgen(old, "register", "init").exit_code == 0
    first = _docgen(old, "issue", str(HTML_EXAMPLE))
    assert first.exit_code == 0, first.output
    letter = Path(first.output.split()[1])
    before = letter.read_bytes()

    # a second register, made on purpose but wrongly, numbers from 1 again into the same folder
    new_register = tmp_path / "new.sqlite3"
    new = _config(tmp_path, new_register, out)
    assert _docgen(new, "register", "init").exit_code == 0
    second = _docgen(new, "issue", str(_variant(tmp_path, "OTHER-1")))
    assert second.exit_code == 74, second.output
    assert "already holds" in second.output and "never replaces a letter" in second.output
    assert "Traceback" not in second.output
    assert letter.read_bytes() == before, "the letter issued first is untouched"
    assert _files(out) == [letter], "nothing half-written, no temporary file"
    (record,) = Register(new_register).records()
    assert record.seq == 1 and record.status is LetterStatus.VOID
    assert record.reason is not None and "already holds" in record.reason


def test_completing_a_crashed_rename_never_replaces_another_file(
    tmp_path: Path, renderer: Renderer, pki: DemoPki
) -> None:
    settings = _new_register(tmp_path)
    request = load_request(HTML_EXAMPLE)
    with Issuer(settings, renderer=renderer) as issuer:
        letter = issuer.issue(request)
        pending = pending_path(letter.path, letter.register_id)
        letter.path.rename(pending)  # a crash after recording, before the rename
        letter.path.write_bytes(b"someone else's file")
        with pytest.raises(OutputError, match="already holds another file"):
            issuer.issue(request)
        assert letter.path.read_bytes() == b"someone else's file"
        assert pending.exists(), "the letter is kept for the next attempt"

        letter.path.unlink()  # the operator moves the other file away and runs again
        again = issuer.issue(request)
        assert again.outcome is IssueOutcome.ALREADY_ISSUED
        assert again.sha256 == letter.sha256 and again.path == letter.path
        assert not pending.exists()
        # and issuing it again once more is still the same letter
        assert issuer.issue(request).sha256 == letter.sha256


class _RacedRegister(Register):
    """A register that lets a rival act just after a letter is recorded, before its move."""

    rival: Callable[[LetterRecord], None] = staticmethod(lambda record: None)

    def mark_issued(self, register_id: str, **fields: Any) -> LetterRecord:
        record = super().mark_issued(register_id, **fields)
        self.rival(record)
        return record


@pytest.mark.parametrize("rival", ["moved it", "linked it"])
def test_a_rival_completing_the_move_of_a_letter_being_issued_is_no_error(
    tmp_path: Path, renderer: Renderer, pki: DemoPki, rival: str
) -> None:
    # CI found it (a node asked for a letter another node had just recorded): the rival sees
    # the record issued and its file still pending, so it completes the move itself, and the
    # issuer's own move then found the pending name gone and failed
    settings = _new_register(tmp_path)
    request = load_request(HTML_EXAMPLE)
    seen: list[IssuedLetter] = []

    def another_issuer(record: LetterRecord) -> None:
        with Issuer(settings, renderer=renderer) as other:
            seen.append(other.issue(request))

    def half_a_move(record: LetterRecord) -> None:  # linked, not yet unlinked
        assert record.pdf_path is not None
        path = Path(record.pdf_path)
        os.link(pending_path(path, record.register_id), path)

    register = _RacedRegister(settings.letter_register.path)
    register.rival = another_issuer if rival == "moved it" else half_a_move
    with Issuer(settings, renderer=renderer, register=register) as issuer:
        letter = issuer.issue(request)
    assert letter.outcome is IssueOutcome.ISSUED
    assert _files(tmp_path / "letters") == [letter.path], "one letter, no pending file left"
    assert hashlib.sha256(letter.path.read_bytes()).hexdigest() == letter.sha256
    if seen:
        assert seen[0].outcome is IssueOutcome.ALREADY_ISSUED and seen[0].path == letter.path


# ---------------------------------------------------------------- full and read-only folders


@contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small file system of its own, mounted for the test (needs root)."""
    if os.geteuid() != 0:
        reason = "mounting a small tmpfs (a full or read-only disk) needs root"
        print(f"skipped: {reason}")
        pytest.skip(reason)
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _fill(folder: Path, leave: int) -> Path:
    """Fill a file system but for ``leave`` bytes."""
    stats = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_a_full_disk_is_a_clear_error_that_voids_the_number(tmp_path: Path, pki: DemoPki) -> None:
    register = tmp_path / "register.sqlite3"
    with _tmpfs(tmp_path / "disk", "300k") as disk:
        out = disk / "letters"
        config = _config(tmp_path, register, out)
        assert _docgen(config, "register", "init").exit_code == 0
        filler = _fill(disk, 8 * 1024)
        full = _docgen(config, "issue", str(HTML_EXAMPLE))
        assert full.exit_code == 74, full.output
        assert "disk is full" in full.output and "Traceback" not in full.output
        assert _files(disk) == [filler], "nothing half-written, no temporary file"
        (record,) = Register(register).records()
        assert record.status is LetterStatus.VOID
        assert record.reason is not None and "disk is full" in record.reason

        filler.unlink()  # the operator frees space and runs the same command again
        again = _docgen(config, "issue", str(HTML_EXAMPLE))
        assert again.exit_code == 0, again.output
        assert again.output.startswith("2/"), "the void number 1 is never reused"


def test_a_read_only_folder_is_a_clear_error_that_voids_the_number(
    tmp_path: Path, pki: DemoPki
) -> None:
    register = tmp_path / "register.sqlite3"
    with _tmpfs(tmp_path / "disk", "1m") as disk:
        (disk / "letters").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for out in (disk / "letters", disk / "letters" / "new"):  # existing, and to be made
            config = _config(tmp_path, register, out)
            assert _docgen(config, "register", "init").exit_code == 0
            result = _docgen(config, "issue", str(HTML_EXAMPLE))
            assert result.exit_code == 74, result.output
            assert "read-only" in result.output and "Traceback" not in result.output
            assert not _files(disk)
        records = Register(register).records()
        assert [r.status for r in records] == [LetterStatus.VOID, LetterStatus.VOID]


# ---------------------------------------------------------------- retryable, decided in one place


def test_retryability_is_a_property_of_the_error_class() -> None:
    assert is_retryable(RegisterBusy("locked"))
    assert is_retryable(LetterInProgress("busy"))
    assert is_retryable(ServiceUnavailable("down"))
    assert is_retryable(ConverterError("timed out"))
    assert not is_retryable(RegisterError("missing"))
    assert not is_retryable(OutputError("full"))
    assert not is_retryable(SigningError("wrong passphrase"))
    assert not is_retryable(RequestInvalid([]))
    assert not is_retryable(TypeError("an unexpected fault repeats on every run"))
    assert RegisterBusy("locked").exit_code == 74


def test_a_locked_register_is_a_retryable_register_error(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    path = tmp_path / "register.sqlite3"
    Register.create(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        register = Register(path, timeout=0.2)
        request = load_request(HTML_EXAMPLE)
        with pytest.raises(RegisterBusy, match="database is locked") as caught:
            register.reserve(
                request,
                catalogue.get(request.service).numbering(date.today()),
                request_hash(request),
                issued_on=date.today(),
            )
        assert is_retryable(caught.value)
        register.close()
    finally:
        holder.close()


def test_a_batch_marks_a_record_that_found_the_register_locked_retryable(
    tmp_path: Path, pki: DemoPki
) -> None:
    register = tmp_path / "register.sqlite3"
    config = _config(tmp_path, register, tmp_path / "letters")
    config.write_text(config.read_text() + "lock_timeout_seconds = 2\n")
    assert _docgen(config, "register", "init").exit_code == 0
    source = tmp_path / "locked.jsonl"
    source.write_text(json.dumps(json.loads(HTML_EXAMPLE.read_text("utf-8"))) + "\n", "utf-8")
    holder = sqlite3.connect(register, isolation_level=None)
    try:
        # held longer than docgen waits for it: the record fails, the lock is temporary
        holder.execute("BEGIN IMMEDIATE")
        result = _docgen(config, "batch", str(source), "--workers", "1", "--quiet")
    finally:
        holder.close()
    assert result.exit_code == 1, result.output
    (row,) = [
        json.loads(line)
        for line in (tmp_path / "letters" / "manifest-locked.jsonl").read_text().splitlines()
    ]
    assert row["status"] == "failed" and "database is locked" in row["error"]
    assert row["retryable"] is True
