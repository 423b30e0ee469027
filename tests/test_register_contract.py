"""The register's guarantees, the same on SQLite and on a real PostgreSQL server.

Every test here runs once per backend: numbers per series taken one at a time and never reused,
idempotent reservations, reservations taken over from a dead process at once and from another
node only after the lease, void and revoke, the append-only audit trail, concurrent processes
(forked from a parent whose connections they must not use), and connections closed by the
object that opened them.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from docgen.catalogue import Service
from docgen.errors import LetterInProgress, RegisterError, RequestConflict, UnknownLetter
from docgen.files import process_start
from docgen.pipeline import request_hash
from docgen.register import EventKind, LetterStatus, Register
from tests.postgres import (  # noqa: F401  (fixtures)
    PostgresServer,
    postgres_database,
    postgres_session,
)
from tests.registers import (  # noqa: F401  (fixture)
    TODAY,
    request_for,
    reserve,
    service_fixture,
)

Opener = Callable[..., Register]


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A new register's location, once per backend (made by the test with ``create``)."""
    if request.param == "sqlite":
        return tmp_path / "register.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def opener(location: str | Path) -> Iterator[Opener]:
    """Opens the test's register (the first call makes it); closes every one opened, after."""
    opened: list[Register] = []

    def open_(**kwargs: Any) -> Register:
        register = Register(location, create=not opened, **kwargs)
        opened.append(register)
        return register

    yield open_
    for register in opened:
        register.close()


def test_numbers_are_sequential_idempotent_and_never_reused(
    opener: Opener, service: Service
) -> None:
    register = opener()
    first = reserve(register, service, "R-1")
    second = reserve(register, service, "R-2")
    assert (first.seq, second.seq) == (1, 2)
    assert first.series == "ILMATE/2026" and first.status is LetterStatus.RESERVED

    issued = register.mark_issued(first.register_id, sha256="a" * 64, path="/x.pdf", signer="S")
    assert issued.status is LetterStatus.ISSUED and issued.issued_at is not None
    again = reserve(register, service, "R-1")  # the same request: the letter already issued
    assert (again.register_id, again.status) == (first.register_id, LetterStatus.ISSUED)

    changed = request_for("R-1", subject="Another subject")
    with pytest.raises(RequestConflict, match="different content"):
        register.reserve(changed, service.numbering(TODAY), request_hash(changed), issued_on=TODAY)

    void = register.mark_void(second.register_id, "signing failed")
    assert (void.status, void.reason) == (LetterStatus.VOID, "signing failed")
    retried = reserve(register, service, "R-2")  # a void attempt's number is never given again
    assert retried.seq == 3 and retried.register_id != second.register_id
    assert register.counters() == {"ILMATE/2026": 3}

    revoked = register.revoke(first.letter_number, "issued in error")
    assert (revoked.status, revoked.reason) == (LetterStatus.REVOKED, "issued in error")
    with pytest.raises(UnknownLetter, match="already revoked"):
        register.revoke(first.letter_number, "again")
    with pytest.raises(UnknownLetter, match="never issued"):
        register.revoke(retried.letter_number, "reserved only")
    assert [r.seq for r in register.records()] == [1, 2, 3]
    assert register.by_sha256("a" * 64) == register.get(first.register_id)


def test_register_ids_are_128_random_bits(opener: Opener, service: Service) -> None:
    """The id ends the letter's public verification address: it must not be guessable.

    Before, ids were UUID4s: 122 random bits, and the version digit always "4".
    """
    register = opener()
    ids = [reserve(register, service, f"ID-{index}").register_id for index in range(24)]
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)
    assert len(set(ids)) == 24
    # a UUID4 has "4" in position 12 and one of 8, 9, a, b in position 16, in every id
    assert {i[12] for i in ids} != {"4"} and not {i[16] for i in ids} <= set("89ab")


def test_every_change_is_in_the_append_only_audit_trail(opener: Opener, service: Service) -> None:
    register = opener(node="node-a")
    first = reserve(register, service, "A-1")
    register.mark_issued(first.register_id, sha256="b" * 64, path="/a.pdf", signer="Signer")
    register.revoke(first.letter_number, "wrong applicant")
    register.record_file_completed(first.register_id, "/a.pdf")
    second = reserve(register, service, "A-2")
    register.mark_void(second.register_id, "converter crashed")

    history = register.history(first.letter_number)
    assert [e.event for e in history] == [
        EventKind.RESERVED,
        EventKind.ISSUED,
        EventKind.REVOKED,
        EventKind.FILE_COMPLETED,
    ]
    me = f"{os.getpid()}:{process_start(os.getpid())}"
    assert {(e.node, e.process) for e in history} == {("node-a", me)}
    assert history[2].reason == "wrong applicant"
    assert "SHA-256 " + "b" * 64 in (history[1].reason or "")
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert [e.event for e in register.history(second.letter_number)] == [
        EventKind.RESERVED,
        EventKind.VOIDED,
    ]
    with pytest.raises(UnknownLetter):
        register.history("999/NOPE")

    # the database itself refuses to change or delete an entry
    for statement in ("UPDATE letter_events SET reason = 'edited'", "DELETE FROM letter_events"):
        with (
            pytest.raises(RegisterError, match="append-only"),
            register.backend.session(write=True) as db,
        ):
            db.run(statement)
    assert len(register.events()) == 6


def test_another_node_takes_a_reservation_over_only_after_the_lease(
    opener: Opener, service: Service
) -> None:
    node_a = opener(node="node-a")
    node_b = opener(node="node-b", lease=timedelta(seconds=1))
    held = reserve(node_a, service, "L-1")
    with pytest.raises(LetterInProgress, match="being issued by another process"):
        reserve(node_b, service, "L-1")  # node A's process may be alive: B cannot know

    time.sleep(1.1)
    taken = reserve(node_b, service, "L-1")
    assert (taken.register_id, taken.seq) == (held.register_id, 1)
    event = node_b.history(held.letter_number)[-1]
    assert event.event is EventKind.TAKEN_OVER and event.node == "node-b"
    assert "lease ran out" in (event.reason or "") and "node-a:" in (event.reason or "")

    # the former owner can no longer finish it, nor void it (retryable: asking again returns
    # the letter the new owner issues); the new owner can
    with pytest.raises(LetterInProgress, match="taken over"):
        node_a.mark_issued(held.register_id, sha256="c" * 64, path="/c.pdf", signer="S")
    with pytest.raises(LetterInProgress, match="taken over"):
        node_a.mark_void(held.register_id, "late")
    done = node_b.mark_issued(held.register_id, sha256="c" * 64, path="/c.pdf", signer="S")
    assert done.status is LetterStatus.ISSUED and node_a.counters() == {"ILMATE/2026": 1}


def _reserve_and_die(location: str | Path, service: Service, request_id: str) -> None:
    """Forked child: reserve a number, then end without issuing it (a crash)."""
    reserve(Register(location), service, request_id)
    os._exit(0)


def test_the_same_node_takes_over_at_once_when_the_owner_process_is_gone(
    opener: Opener, location: str | Path, service: Service
) -> None:
    register = opener(lease=timedelta(hours=1))
    child = multiprocessing.get_context("fork").Process(
        target=_reserve_and_die, args=(location, service, "D-1")
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    (crashed,) = register.records()
    assert crashed.status is LetterStatus.RESERVED

    taken = reserve(register, service, "D-1")  # the lease is long, but its process is gone
    assert (taken.register_id, taken.seq) == (crashed.register_id, 1)
    events = register.history(crashed.letter_number)
    assert [e.event for e in events] == [EventKind.RESERVED, EventKind.TAKEN_OVER]
    assert events[0].process.split(":")[0] == str(child.pid)  # the child's own identity
    assert "process has ended" in (events[1].reason or "")


def _reserve_many(
    register: Register, service: Service, prefix: str, count: int, start: Any
) -> None:
    """Forked child: uses the register object its parent opened (never its connections)."""
    start.wait()
    for index in range(count):
        record = reserve(register, service, f"{prefix}-{index}")
        register.mark_issued(record.register_id, sha256=f"{prefix}{index}", path="-", signer="-")
    os._exit(0)


def test_four_processes_take_distinct_consecutive_numbers(opener: Opener, service: Service) -> None:
    register = opener()
    assert register.records() == []  # the parent holds an open connection when it forks
    context = multiprocessing.get_context("fork")
    start = context.Event()
    per_process = 25
    workers = [
        context.Process(target=_reserve_many, args=(register, service, name, per_process, start))
        for name in "ABCD"
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    records = register.records()  # the parent's connection survived its children
    total = 4 * per_process
    assert sorted(r.seq for r in records) == list(range(1, total + 1))
    assert len({r.letter_number for r in records}) == total
    assert {r.status for r in records} == {LetterStatus.ISSUED}
    owners = {e.process.split(":")[0] for e in register.events()}
    assert owners == {str(worker.pid) for worker in workers}


def _attempt(register: Register, service: Service, start: Any, outcomes: Any) -> None:
    """Forked child: one attempt at the request every child tries at the same moment."""
    start.wait()
    try:
        outcomes.put(reserve(register, service, "SAME").register_id)
    except LetterInProgress:
        outcomes.put("in progress")
    except Exception as error:  # reported to the test, which fails on it
        outcomes.put(repr(error))
    outcomes.close()
    outcomes.join_thread()  # delivered before the child ends without clean-up
    os._exit(0)


def test_simultaneous_attempts_at_one_request_reserve_one_number(
    opener: Opener, service: Service
) -> None:
    register = opener()
    reserve(register, service, "FIRST")  # the series exists: the attempts race for a number
    context = multiprocessing.get_context("fork")
    start, outcomes = context.Event(), context.Queue()
    workers = [
        context.Process(target=_attempt, args=(register, service, start, outcomes))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    results = [outcomes.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(60)
    (live,) = [r for r in register.records() if r.request_id == "SAME"]
    assert live.seq == 2 and register.counters() == {"ILMATE/2026": 2}  # no number lost
    assert set(results) <= {live.register_id, "in progress"}
    assert live.register_id in results


def test_close_closes_the_connections_this_object_opened(opener: Opener) -> None:
    register = opener()
    other = opener()
    assert register.records() == [] and other.records() == []
    register.close()
    assert register.backend._open == []
    assert other.records() == []  # another object's connections stay open
    assert register.records() == []  # and a closed register opens a new one when used again
