"""Several nodes issuing into one register at once, on SQLite and on PostgreSQL.

Two "nodes" (``docgen batch`` processes with 2 workers each, their own node name and output
folder) and a third process issuing from 8 threads share one register, over overlapping
requests. Node A is killed with ``kill -9`` mid-run; node B takes A's stale reservations over
once the lease has run out. Afterwards every request is issued exactly once, each series is
numbered 1..N with gaps only for recorded voids, the audit trail tells each letter's story, and
each node's manifest agrees with the register.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from docgen.config import Settings
from docgen.errors import LetterInProgress
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import EventKind, LetterStatus, Register, open_register
from docgen.render import Renderer
from tests.helpers import one_page_example
from tests.postgres import PostgresServer, postgres_database, postgres_session  # noqa: F401

DOCGEN = Path(sys.executable).with_name("docgen")
# two HTML services, each example cut to one page: quick to render
HTML = [
    one_page_example("ilmate-pertek-baja-approved"),
    one_page_example("agro-rekom-garam-approved"),
]
# Requests per run: node A takes the first three quarters, node B the last three quarters, the
# threads all of them. The suite's sizes keep it quick and already overlap every way (the nodes
# with each other, with the threads, and the rerun with all); DOCGEN_FULL_SIZE=1 runs 400 on
# each database, the field report's size (about 3 minutes each on 2 cores).
FULL_SIZE = os.environ.get("DOCGEN_FULL_SIZE") == "1"
COUNTS = {"postgresql": 400, "sqlite": 400} if FULL_SIZE else {"postgresql": 200, "sqlite": 80}
LEASE = 6.0


def _request(index: int) -> dict[str, Any]:
    """One of two one-page examples, as request ``index``."""
    return {**HTML[index % 2], "request_id": f"NODE-{index:03d}"}


def _register_table(settings_url: str, path: Path) -> str:
    table = f'path = "{path}"' if not settings_url else f'url = "{settings_url}"'
    return f"[letter_register]\n{table}\nlease_seconds = {LEASE}\nlock_timeout_seconds = 30\n"


def _node(tmp: Path, name: str, register: str, indices: range) -> tuple[Path, Path]:
    """A node's settings file and input: its own name and output folder, the shared register."""
    folder = tmp / name
    folder.mkdir(exist_ok=True)
    config = folder / "docgen.toml"
    config.write_text(f'output = "{folder / "letters"}"\n{register}node = "{name}"\n', "utf-8")
    source = folder / "requests.jsonl"
    source.write_text("".join(json.dumps(_request(i)) + "\n" for i in indices), "utf-8")
    return config, source


class _Node:
    """``docgen batch`` as one node runs it, in a process group of its own."""

    def __init__(self, config: Path, source: Path):
        self.config = config
        self.errors = config.parent / "batch.err"
        with self.errors.open("wb") as errors:
            self.process = subprocess.Popen(
                [DOCGEN, "--config", config, "batch", source, "--workers", "2", "--quiet"],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # its own process group: kill -9 reaches the whole node
            )

    def wait(self, timeout: float = 600) -> int:
        """The batch's exit status (what it printed, when the test fails)."""
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """kill -9 of the node: the batch, its workers and their LibreOffice."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def said(self) -> str:
        """What the batch wrote to standard error."""
        return self.errors.read_text(errors="replace")


def _manifest(config: Path) -> list[dict[str, Any]]:
    path = config.parent / "letters" / "manifest-requests.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _held_by(register: Register, node: str) -> set[str]:
    """The request ids whose reservation, still open, was last taken by ``node``."""
    last = {e.register_id: e.node for e in register.events()}
    return {
        r.request_id
        for r in register.records()
        if r.status is LetterStatus.RESERVED and last.get(r.register_id) == node
    }


def _issue_all(issuer: Issuer, indices: list[int]) -> list[int]:
    """Issue from 8 threads; the indices that found another node's letter in progress."""

    def one(index: int) -> int | None:
        try:
            issuer.issue(LetterRequest.from_mapping(_request(index)))
        except LetterInProgress:
            return index  # retryable: another node holds it
        return None

    with ThreadPoolExecutor(8) as pool:
        return [i for i in pool.map(one, indices, timeout=600) if i is not None]


@pytest.fixture(params=["sqlite", "postgresql"])
def register_table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The shared register's settings table, on each database; the register made on purpose."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    table = _register_table(url, tmp_path / "register.sqlite3")
    open_register(_settings(table, tmp_path, "setup"), create=True).close()
    yield table, COUNTS[request.param]


def _settings(table: str, tmp: Path, node: str) -> Settings:
    config = tmp / f"{node}.toml"
    config.write_text(f'output = "{tmp / node / "letters"}"\n{table}node = "{node}"\n', "utf-8")
    return Settings.load(config)


def test_nodes_share_one_numbering_and_survive_a_killed_node(
    register_table: tuple[str, int], tmp_path: Path, renderer: Renderer
) -> None:
    table, count = register_table
    config_a, source_a = _node(tmp_path, "node-a", table, range(0, count * 3 // 4))
    config_b, source_b = _node(tmp_path, "node-b", table, range(count // 4, count))
    settings_c = _settings(table, tmp_path, "node-c")
    register = open_register(settings_c)
    nodes = [_Node(config_a, source_a), _Node(config_b, source_b)]
    node_a, node_b = nodes
    try:
        with Issuer(settings_c, renderer=renderer) as issuer:
            order = list(range(count))[::-1]  # from the other end, to meet the nodes midway
            with ThreadPoolExecutor(1) as side:
                first_half = side.submit(_issue_all, issuer, order[: count // 2])
                # meanwhile node A dies mid-run, workers and all, with letters in flight: once
                # it has issued some and holds a reservation (a letter takes far longer to make
                # than the moment between seeing it and the kill)
                while node_a.process.poll() is None and (
                    len(_manifest(config_a)) < 10 or not _held_by(register, "node-a")
                ):
                    time.sleep(0.05)
                node_a.kill()
                killed_at = time.monotonic()
                stale = _held_by(register, "node-a")
                assert stale, "node A was killed with letters in flight"
                left = first_half.result(timeout=600)
            left += _issue_all(issuer, order[count // 2 :])
            assert node_b.wait() in (0, 1), node_b.said()

            # after the lease, node B runs everything again, A's requests included: it takes
            # A's stale reservations over; then the threads retry what they found in progress
            time.sleep(max(0.0, killed_at + LEASE + 0.5 - time.monotonic()))
            source_b.write_text(
                "".join(json.dumps(_request(i)) + "\n" for i in range(count)), "utf-8"
            )
            rerun = _Node(config_b, source_b)
            nodes.append(rerun)
            assert rerun.wait() == 0, rerun.said()
            assert _issue_all(issuer, left) == []
        records = register.records()
        events = register.events()
    finally:
        register.close()
        for node in nodes:
            node.kill()

    issued = [r for r in records if r.status is LetterStatus.ISSUED]
    assert sorted(r.request_id for r in issued) == [f"NODE-{i:03d}" for i in range(count)]
    assert not [r for r in records if r.status is LetterStatus.RESERVED]
    voids = [r for r in records if r.status is LetterStatus.VOID]
    assert all(r.reason for r in voids), "every gap is a recorded void"
    by_series: dict[str, list[int]] = {}
    for record in records:
        by_series.setdefault(record.series, []).append(record.seq)
    for series, numbers in by_series.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), series

    # the audit trail: every letter reserved then issued; A's stale ones taken over by others;
    # a letter node A recorded but was killed before moving into place is moved by another
    # issuer of the same request, which records that (file_completed) last
    kinds: dict[str, list[EventKind]] = {}
    for event in events:
        kinds.setdefault(event.register_id, []).append(event.event)
    for record in issued:
        story = kinds[record.register_id]
        if story[-1] is EventKind.FILE_COMPLETED:
            story = story[:-1]
        assert story[0] is EventKind.RESERVED and story[-1] is EventKind.ISSUED, story
        assert Counter(story)[EventKind.ISSUED] == 1
    taken = {e.register_id: e for e in events if e.event is EventKind.TAKEN_OVER}
    by_id = {r.register_id: r for r in records}
    assert {by_id[rid].request_id for rid in taken} >= stale
    for event in taken.values():
        if by_id[event.register_id].request_id in stale:
            # another node, and only because the lease ran out (node A's fate is unknown there)
            assert event.node in ("node-b", "node-c"), event
            assert "lease ran out" in (event.reason or "") and "node-a:" in (event.reason or "")

    # each node's manifest agrees with the register (A's may lag: it was killed)
    recorded = {r.request_id: (r.letter_number, r.pdf_path, r.pdf_sha256) for r in issued}
    for config in (config_a, config_b):
        for row in _manifest(config):
            if row["status"] in ("issued", "already_issued"):
                assert (row["letter_number"], row["path"], row["sha256"]) == recorded[
                    row["request_id"]
                ]
    for record in issued:
        assert record.pdf_path is not None and Path(record.pdf_path).is_file()


def test_a_postgresql_restart_mid_batch_fails_records_retryably_and_a_rerun_completes(
    postgres: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    table = _register_table(postgres_url, tmp_path / "unused.sqlite3")
    open_register(_settings(table, tmp_path, "setup"), create=True).close()
    config, source = _node(tmp_path, "node-a", table, range(24))
    node = _Node(config, source)
    try:
        while len(_manifest(config)) < 5 and node.process.poll() is None:
            time.sleep(0.05)
        postgres.restart()  # every session of the batch is ended under it
        assert node.wait() in (0, 1), node.said()
    finally:
        node.kill()
    first = _manifest(config)
    assert len(first) == 24, "the batch went on to the end"
    failed = [row for row in first if row["status"] == "failed"]
    assert all(row["retryable"] for row in failed), failed
    assert {row["status"] for row in first} <= {"issued", "failed"}

    rerun = _Node(config, source)
    try:
        assert rerun.wait() == 0, rerun.said()
    finally:
        rerun.kill()
    rows = _manifest(config)
    statuses = Counter(row["status"] for row in rows)
    assert sum(statuses.values()) == 24 and set(statuses) <= {"issued", "already_issued"}
    # what failed is issued now (or was, if only the confirmation of its commit was lost)
    assert statuses["issued"] <= len(failed)
    register = open_register(_settings(table, tmp_path, "check"))
    try:
        records = register.records()
    finally:
        register.close()
    issued = [r for r in records if r.status is LetterStatus.ISSUED]
    assert sorted(r.request_id for r in issued) == [f"NODE-{i:03d}" for i in range(24)]
    assert not [r for r in records if r.status is LetterStatus.RESERVED]
    assert all(r.reason for r in records if r.status is LetterStatus.VOID)
