"""A batch against a register that is missing, read-only, locked, full, damaged or not a register.

Each fault is injected between two runs of the same batch. The faulty run must fail clearly
(a message naming the register, no traceback), write no letter and change no letter already
issued; once the fault is repaired, the same batch run again completes. After both runs every
request is issued exactly once, numbered without gaps, and the manifest, the register and the
letters on disk agree, with no temporary file left behind.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from docgen.cli import main
from docgen.register import LetterStatus, Register
from scripts.demo_pki import DemoPki
from tests.test_batch import HTML_EXAMPLES, _request
from tests.test_register_safety import _fill, _tmpfs

FIRST = ["RB-1", "RB-2"]
SECOND = ["RB-3", "RB-4"]


def _docgen(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def _batch(tmp: Path, ids: list[str]) -> Path:
    source = tmp / "requests.jsonl"
    lines = [json.dumps(_request(HTML_EXAMPLES[0], request_id)) for request_id in ids]
    source.write_text("\n".join(lines) + "\n", "utf-8")
    return source


def _files(tmp: Path, ids: list[str]) -> list[str]:
    paths = []
    for request_id in ids:
        path = tmp / f"{request_id}.json"
        path.write_text(json.dumps(_request(HTML_EXAMPLES[0], request_id)), "utf-8")
        paths.append(str(path))
    return paths


def _manifest(letters: Path) -> list[dict[str, Any]]:
    (manifest,) = letters.glob("manifest-*.jsonl")
    return [json.loads(line) for line in manifest.read_text("utf-8").splitlines()]


def _letters(folder: Path) -> dict[str, str]:
    """Every file under the letters folder but the manifests, with its SHA-256."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith("manifest-")
    }


def _backup(register: Path, copy: Path) -> None:
    """A consistent copy of a register in WAL mode (SQLite's online backup)."""
    source, target = sqlite3.connect(register), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _restore(copy: Path, register: Path) -> None:
    for side in ("-wal", "-shm"):
        register.with_name(register.name + side).unlink(missing_ok=True)
    register.write_bytes(copy.read_bytes())


@contextmanager
def _fault(kind: str, register: Path, disk: Path, copy: Path) -> Iterator[None]:
    """The register broken in one way while the block runs, and repaired after it."""
    if kind == "missing":
        aside = disk / "moved-away"
        aside.mkdir()
        for path in register.parent.glob(register.name + "*"):
            path.rename(aside / path.name)
        yield
        for path in aside.iterdir():
            path.rename(register.parent / path.name)
    elif kind == "read_only":
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    elif kind == "disk_full":
        filler = _fill(disk, 0)
        yield
        filler.unlink()
    elif kind == "locked":
        holder = sqlite3.connect(register, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock throughout
        try:
            yield
        finally:
            holder.close()
    else:
        data = bytearray(copy.read_bytes())
        if kind == "damaged":
            # the pages after the schema (the letters table and its indexes) overwritten
            page = int.from_bytes(data[16:18], "big") or 65536
            data[page:] = b"\xa5" * (len(data) - page)
        else:  # "not_a_register": another file entirely
            data = bytearray(b"%PDF-1.7\n" + bytes(range(256)) * 8)
        _restore(copy, register)
        register.write_bytes(bytes(data))
        yield
        _restore(copy, register)


# what the faulty run must say, besides naming the register
SAYS = {
    "missing": "does not exist",
    "read_only": "read-only",
    "disk_full": "full",
    "locked": "locked",
    "damaged": "damaged",
    "not_a_register": "not a docgen register",
}


@pytest.mark.parametrize("kind", sorted(SAYS))
def test_a_broken_register_fails_the_batch_clearly_and_loses_nothing(
    kind: str, tmp_path: Path, pki: DemoPki
) -> None:
    with _tmpfs(tmp_path / "disk", "4m") as disk:
        register, letters = disk / "register.sqlite3", tmp_path / "letters"
        config = tmp_path / "docgen.toml"
        config.write_text(
            f'output = "{letters}"\n[letter_register]\npath = "{register}"\n'
            "lock_timeout_seconds = 1\n"
        )
        assert _docgen(config, "register", "init").exit_code == 0
        first = _docgen(config, "issue", *_files(tmp_path, FIRST))
        assert first.exit_code == 0, first.output
        before = _letters(letters)
        _backup(register, tmp_path / "backup.sqlite3")
        source = _batch(tmp_path, FIRST + SECOND)

        with _fault(kind, register, disk, tmp_path / "backup.sqlite3"):
            broken = _docgen(config, "batch", str(source), "--quiet", "--workers", "1")
            assert "Traceback" not in broken.output
            if kind == "locked":
                # a lock is temporary: each record fails, retryable, and the run goes on
                assert broken.exit_code == 1, broken.output
                rows = _manifest(letters)
                assert {row["status"] for row in rows} == {"failed"}
                assert all(row["retryable"] for row in rows)
                message = rows[0]["error"]
            else:
                # anything else needs the operator: the run stops before it starts
                assert broken.exit_code == 74, broken.output
                message = broken.output
            assert str(register) in message, "the message names the register"
            assert SAYS[kind] in message.lower(), message
            assert _letters(letters) == before, "no letter written, none changed"

        again = _docgen(config, "batch", str(source), "--quiet", "--workers", "1")
        assert again.exit_code == 0, again.output
        _assert_consistent(register, letters, FIRST + SECOND, before)


def _assert_consistent(
    register: Path, letters: Path, ids: list[str], before: dict[str, str]
) -> None:
    opened = Register(register, read_only=True)
    try:
        records = opened.records()
    finally:
        opened.close()
    issued = {r.request_id: r for r in records if r.status is LetterStatus.ISSUED}
    assert sorted(issued) == sorted(ids), "each request issued exactly once"
    assert len(issued) == len([r for r in records if r.status is LetterStatus.ISSUED])
    assert sorted(r.seq for r in records) == list(range(1, len(records) + 1))
    voids = [r for r in records if r.status is not LetterStatus.ISSUED]
    assert all(r.status is LetterStatus.VOID and r.reason for r in voids), voids
    on_disk = _letters(letters)
    assert {p: h for p, h in on_disk.items() if p in before} == before
    assert on_disk == {r.pdf_path: r.pdf_sha256 for r in issued.values()}, "files = register"
    rows = _manifest(letters)
    assert {row["request_id"] for row in rows} == set(ids)
    for row in rows:
        record = issued[row["request_id"]]
        assert (row["letter_number"], row["path"], row["sha256"]) == (
            record.letter_number,
            record.pdf_path,
            record.pdf_sha256,
        )
