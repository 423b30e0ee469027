"""Batch runs: streaming input, parallel workers, manifest, crash safety, concurrent runs."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from docgen.batch import BatchRunner, BatchSummary, InputFormat, count_records, read_records
from docgen.batch.order import NumberingTurn, TurnTimeout
from docgen.cli import main
from docgen.config import Settings
from docgen.register import LetterStatus, Register
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki
from tests.helpers import DATA, EXAMPLES

HTML_EXAMPLES = [
    EXAMPLES / f"{stem}.json"
    for stem in (
        "ilmate-pertek-baja-approved",
        "agro-rekom-garam-approved",
        "ikft-pertek-kimia-rejected",
        "ilmate-pertek-baja-rejected",
    )
]
DOCX_EXAMPLES = [
    EXAMPLES / "ikft-pertek-ban-approved.json",
    EXAMPLES / "agro-rekom-gula-rejected.json",
]


def _request(path: Path, request_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    data["request_id"] = request_id
    return data


def _bad_records() -> list[tuple[str, str]]:
    """One of each kind of problem, as (JSON line, words the report must contain)."""
    base = _request(HTML_EXAMPLES[0], "BAD-0")

    def variant(request_id: str, path: list[str], value: object) -> str:
        data = json.loads(json.dumps(base))
        data["request_id"] = request_id
        target = data
        for step in path[:-1]:
            target = target[int(step)] if isinstance(target, list) else target[step]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return json.dumps(data)

    return [
        (variant("BAD-NIB", ["applicant", "nib"], "12345"), "Company NIB"),
        (variant("BAD-NPWP", ["applicant", "npwp"], "12.345"), "Company NPWP"),
        (variant("BAD-NIP", ["signatory", "nip"], "197013452000031002"), "NIP"),
        (variant("BAD-HS", ["items", "0", "tariff_code"], "7208.5"), "Tariff code"),
        (variant("BAD-QTY", ["items", "0", "quantity"], "0"), "Quantity"),
        (variant("BAD-EXTRA", ["colour"], "red"), "colour"),
        (variant("BAD-MISSING", ["applicant"], _DELETE), "Applicant"),
        (variant("BAD-CTRL", ["applicant", "name"], "PT \u0007 Bel"), "control character"),
        (variant("BAD-SERVICE", ["service"], "NO-SUCH-SERVICE"), "not in the catalogue"),
        (variant("BAD-DATE", ["decision", "date"], "2026-02-30"), "Decision date"),
        (variant("BAD-VALIDITY", ["valid_until"], "2030-01-01"), "Valid until"),
        ('{"request_id": "BAD-JSON", "service": ', "the JSON is broken"),
        ("[1, 2, 3]", "JSON object"),
    ]


_DELETE = object()


def _write_batch(path: Path, good: int, *, bad: bool = True, docx_every: int = 0) -> list[str]:
    """A JSON Lines batch; returns the request ids of the good records."""
    lines, ids = [], []
    bad_records = _bad_records() if bad else []
    for index in range(good):
        pool = DOCX_EXAMPLES if docx_every and index % docx_every == 0 else HTML_EXAMPLES
        request_id = f"B-{index:04d}"
        data = _request(pool[index % len(pool)], request_id)
        if index % 25 == 0:  # hostile but valid text stays text
            data["applicant"]["name"] = 'PT <img src="file:///etc/passwd"> {{ 7*7 }} AT&T'
        lines.append(json.dumps(data))
        ids.append(request_id)
        if bad_records and index % 15 == 7:
            lines.append(bad_records.pop()[0])
    lines.extend(line for line, _ in bad_records)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return ids


def _settings(tmp: Path) -> Settings:
    Register.create(tmp / "register.sqlite3").close()
    return Settings.load(
        letter_register={"path": str(tmp / "register.sqlite3")}, output=str(tmp / "letters")
    )


def _config(tmp: Path, *, register: bool = True) -> Path:
    if register:
        Register.create(tmp / "register.sqlite3").close()
    config = tmp / "docgen.toml"
    config.write_text(
        f'output = "{tmp / "letters"}"\n[letter_register]\npath = "{tmp / "register.sqlite3"}"\n'
    )
    return config


def _manifest(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _assert_each_issued_once(register_path: Path, ids: list[str]) -> None:
    records = Register(register_path).records()
    issued = [r for r in records if r.status is LetterStatus.ISSUED]
    assert sorted(r.request_id for r in issued) == sorted(ids)
    by_series: dict[str, list[int]] = {}
    for record in records:
        by_series.setdefault(record.series, []).append(record.seq)
    for numbers in by_series.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), "gapless, no duplicates"
    assert not [r for r in records if r.status is LetterStatus.RESERVED]


def test_a_batch_with_bad_records_issues_every_good_one_and_reports_every_bad_one(
    tmp_path: Path, pki: DemoPki
) -> None:
    source = tmp_path / "today.jsonl"
    # enough good records that the bad ones land among them in both workers, DOCX among them
    good = _write_batch(source, 60, docx_every=15)
    total = 60 + len(_bad_records())
    assert count_records(source) == total
    result = CliRunner().invoke(
        main, ["--config", str(_config(tmp_path)), "batch", str(source), "--workers", "2"]
    )
    assert result.exit_code == 1, result.output
    rows = _manifest(tmp_path / "letters" / "manifest-today.jsonl")
    assert len(rows) == total
    lines_of = [int(row["position"].removeprefix("line ")) for row in rows]
    assert lines_of == list(range(1, total + 1)), "the manifest lists the input in its order"
    statuses = Counter(row["status"] for row in rows)
    assert statuses == {"issued": 60, "invalid": len(_bad_records())}
    lines = source.read_text("utf-8").splitlines()
    for row in rows:
        if row["status"] == "invalid":
            number = int(row["position"].removeprefix("line "))
            expected = next(words for line, words in _bad_records() if line == lines[number - 1])
            assert expected in row["error"], row
    _assert_each_issued_once(tmp_path / "register.sqlite3", good)
    verifier = Verifier.from_settings(_settings(tmp_path))
    for row in rows:
        if row["status"] == "issued":
            report = verifier.verify_file(Path(row["path"]))
            assert report.ok, (row, report.reasons)
    assert not list((tmp_path / "letters").rglob("*.part"))


def test_dry_run_reports_every_problem_and_issues_nothing(tmp_path: Path, pki: DemoPki) -> None:
    source = tmp_path / "check.jsonl"
    _write_batch(source, 10)
    result = CliRunner().invoke(
        main,
        ["--config", str(_config(tmp_path, register=False)), "batch", str(source), "--dry-run"],
    )
    assert result.exit_code == 1
    assert result.output.count("BAD-") == len(_bad_records()) - 2  # two have no readable id
    assert "10 valid" in result.output
    assert not (tmp_path / "register.sqlite3").exists()


def _run_batch(tmp: Path, source: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "docgen", "--config", str(_config(tmp)), "batch"]
    return subprocess.Popen(
        [*command, str(source), "--quiet", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, with its workers and LibreOffice
    )


def test_kill_9_then_the_same_command_finishes_the_job(tmp_path: Path, pki: DemoPki) -> None:
    source = tmp_path / "crash.jsonl"
    ids = _write_batch(source, 40, bad=False)
    manifest = tmp_path / "letters" / "manifest-crash.jsonl"
    run = _run_batch(tmp_path, source, "--workers", "2")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate()
    assert len(_manifest(manifest)) < 40, "the run was killed before it finished"
    rerun = _run_batch(tmp_path, source, "--workers", "2")
    _, errors = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, errors.decode()
    rows = _manifest(manifest)
    assert sorted(row["request_id"] for row in rows) == sorted(ids)
    assert {row["status"] for row in rows} <= {"issued", "already_issued"}
    _assert_each_issued_once(tmp_path / "register.sqlite3", ids)
    assert not list((tmp_path / "letters").rglob("*.part")), "no orphaned temporary files"
    assert len({row["letter_number"] for row in rows}) == 40


def test_two_runs_at_once_issue_each_request_exactly_once(tmp_path: Path, pki: DemoPki) -> None:
    source = tmp_path / "both.jsonl"
    ids = _write_batch(source, 24, bad=False)
    first = _run_batch(tmp_path, source, "--workers", "1", "--manifest", str(tmp_path / "a.jsonl"))
    second = _run_batch(tmp_path, source, "--workers", "1", "--manifest", str(tmp_path / "b.jsonl"))
    for run in (first, second):
        _, errors = run.communicate(timeout=300)
        assert run.returncode == 0, errors.decode()
    _assert_each_issued_once(tmp_path / "register.sqlite3", ids)
    a, b = _manifest(tmp_path / "a.jsonl"), _manifest(tmp_path / "b.jsonl")
    numbers_a = {row["request_id"]: row["letter_number"] for row in a}
    numbers_b = {row["request_id"]: row["letter_number"] for row in b}
    assert numbers_a == numbers_b, "both runs report the same letter for each request"
    statuses = Counter(row["status"] for row in a + b)
    assert statuses["issued"] == 24 and statuses["already_issued"] == 24


def _csv_text(requests: list[dict[str, Any]]) -> str:
    columns = [
        "request_id", "service", "nature", "enclosure", "applicant.name", "applicant.nib",
        "applicant.npwp", "applicant.address", "application.number", "application.date",
        "application.subject", "decision.outcome", "decision.date", "decision.reasons",
        "decision.conditions", "valid_until", "signatory.name", "signatory.nip",
        "signatory.title", "signatory.delegation", "signatory.acting", "addressee.title",
        "addressee.organisation", "addressee.place", "copies", "item.tariff_code",
        "item.description", "item.quantity", "item.unit", "item.country_of_origin",
        "item.destination_port", "item.brand", "item.type", "item.size", "item.specification",
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    for request in requests:
        flat: dict[str, str] = {}
        for key, value in request.items():
            if isinstance(value, dict):
                for inner, inner_value in value.items():
                    joined = (
                        "\n".join(inner_value) if isinstance(inner_value, list) else inner_value
                    )
                    flat[f"{key}.{inner}"] = "" if joined is None else str(joined)
            elif isinstance(value, list) and key != "items":
                flat[key] = "\n".join(value)
            elif key != "items":
                flat[key] = "" if value is None else str(value)
        items = request.get("items") or [{}]
        for index, item in enumerate(items):
            row = dict(flat) if index == 0 else {"request_id": flat["request_id"]}
            row.update({f"item.{k}": "" if v is None else str(v) for k, v in item.items()})
            writer.writerow(row)
    return out.getvalue()


def test_csv_rows_sharing_a_request_id_make_one_request_with_several_items(
    tmp_path: Path,
) -> None:
    requests = [json.loads(p.read_text("utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]
    source = tmp_path / "today.csv"
    source.write_text(_csv_text(requests), "utf-8")
    records = list(read_records(source))
    assert [r.error for r in records] == [None] * len(requests)
    expected = {r["request_id"]: r for r in requests}
    for record in records:
        assert record.request is not None
        original = json.loads(
            json.dumps(expected[record.request.request_id])
        )  # same content, whatever the layout
        assert record.request.model_dump(mode="json", exclude_none=True) == {
            key: value for key, value in _normalised(original).items()
        }
    assert count_records(source) == len(requests)


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    from docgen.models import LetterRequest

    return LetterRequest.from_mapping(data).model_dump(mode="json", exclude_none=True)


def test_csv_rows_of_one_request_must_agree_and_stay_together(tmp_path: Path) -> None:
    first = json.loads(HTML_EXAMPLES[0].read_text("utf-8"))
    second = json.loads(HTML_EXAMPLES[1].read_text("utf-8"))
    rows = list(csv.reader(io.StringIO(_csv_text([first]))))
    rows[2][rows[0].index("service")] = "AGRO-REKOM-GARAM"  # a later row names another service
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    conflict = tmp_path / "conflict.csv"
    conflict.write_text(out.getvalue(), "utf-8")
    (record,) = list(read_records(conflict))
    assert record.error is not None
    assert "differs from the request's first row" in str(record.error)

    # the last row of the first request moved after the second request
    header, *body = _csv_text([first, second]).splitlines(keepends=True)
    own = len(first["items"])
    split = tmp_path / "split.csv"
    split.write_text(header + "".join(body[: own - 1] + body[own:] + body[own - 1 : own]), "utf-8")
    records = list(read_records(split))
    assert [r.error is None for r in records] == [True, True, False]
    assert "must be together" in str(records[-1].error)


def test_a_folder_and_standard_input_are_inputs_too(tmp_path: Path) -> None:
    folder = tmp_path / "requests"
    folder.mkdir()
    for path in [*HTML_EXAMPLES, DATA / "rejected-missing-reason.json"]:
        (folder / path.name).write_bytes(path.read_bytes())
    records = list(read_records(folder))
    assert [r.position for r in records] == sorted(f"file {p.name}" for p in folder.iterdir())
    assert sum(r.error is not None for r in records) == 1
    assert count_records(folder) == 5
    lines = "\n".join(json.dumps(_request(p, f"S-{i}")) for i, p in enumerate(HTML_EXAMPLES))
    result = subprocess.run(
        [sys.executable, "-m", "docgen", "batch", "-", "--dry-run"],
        input=lines.encode(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"4 valid" in result.stderr


def test_the_runner_keeps_a_bounded_window(tmp_path: Path) -> None:
    runner = BatchRunner(_settings(tmp_path), workers=2)
    assert runner.window == 8
    assert InputFormat("csv") is InputFormat.CSV


def test_the_bundled_csv_and_json_lines_batches_hold_the_same_requests() -> None:
    from_csv = {
        r.request.request_id: r.request for r in read_records(EXAMPLES / "batch.csv") if r.request
    }
    from_jsonl = {
        r.request.request_id: r.request for r in read_records(EXAMPLES / "batch.jsonl") if r.request
    }
    assert from_csv == from_jsonl
    assert len(from_csv) == len(list(EXAMPLES.glob("*.json")))


def _processes() -> dict[int, tuple[str, int, str]]:
    """Every live process: its name, its parent and its state."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1]
            found[int(entry.name)] = (name, int(rest.split()[1]), rest.split()[0])
    return found


def _batch_workers(processes: dict[int, tuple[str, int, str]]) -> set[int]:
    """The live children of this process that are multiprocessing workers."""
    workers = set()
    for pid, (_, parent, state) in processes.items():
        if parent == os.getpid() and state != "Z":
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                workers.add(pid)
    return workers


def _libreoffices_started_by_children() -> set[int]:
    """soffice.bin processes whose parent is a child of this process (a batch worker)."""
    processes = _processes()
    children = _batch_workers(processes)
    return {
        pid
        for pid, (name, parent, _) in processes.items()
        if name == "soffice.bin" and parent in children
    }


def _run_observed(
    runner: BatchRunner, source: Path, manifest: Path, observe: Callable[[], None]
) -> BatchSummary:
    """Run a batch while ``observe`` is called every 20 ms from another thread."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            observe()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return runner.run(read_records(source), manifest=manifest)
    finally:
        done.set()
        watcher.join()


@pytest.mark.parametrize(("share", "expected"), [(True, 1), (False, 2)])
def test_workers_share_one_libreoffice_unless_asked_otherwise(
    tmp_path: Path, pki: DemoPki, share: bool, expected: int
) -> None:
    source = tmp_path / "docx.jsonl"
    ids = _write_batch(source, 8, bad=False, docx_every=1)
    most = 0

    def observe() -> None:
        nonlocal most
        most = max(most, len(_libreoffices_started_by_children()))

    runner = BatchRunner(_settings(tmp_path), workers=2, share_libreoffice=share)
    summary = _run_observed(runner, source, tmp_path / "manifest.jsonl", observe)
    assert summary.counts == {"issued": 8}
    _assert_each_issued_once(tmp_path / "register.sqlite3", ids)
    assert most == expected  # LibreOffices running at once
    assert not _libreoffices_started_by_children(), "the workers stopped their LibreOffice"


def test_workers_are_replaced_after_their_share_of_letters(tmp_path: Path, pki: DemoPki) -> None:
    source = tmp_path / "long.jsonl"
    ids = _write_batch(source, 12, bad=False, docx_every=3)
    seen: set[int] = set()
    runner = BatchRunner(_settings(tmp_path), workers=2, recycle_workers_after=3)

    def observe() -> None:
        seen.update(_batch_workers(_processes()))

    summary = _run_observed(runner, source, tmp_path / "manifest.jsonl", observe)
    assert summary.counts == {"issued": 12}
    _assert_each_issued_once(tmp_path / "register.sqlite3", ids)
    # 12 letters, 3 per worker and 2 workers: a fresh pair takes over after the first 6 letters
    assert len(seen) == 4
    assert not _batch_workers(_processes()), "every worker ended"


def _seq_by_line(rows: list[dict[str, Any]], register_path: Path) -> dict[str, list[int]]:
    """Each series' sequence numbers, in the order of the input lines issued in it."""
    records = {r.request_id: r for r in Register(register_path).records()}
    series: dict[str, list[int]] = {}
    for row in rows:
        if row["status"] == "issued":
            record = records[row["request_id"]]
            series.setdefault(record.series, []).append(record.seq)
    return series


def test_a_ticket_takes_its_number_only_after_every_ticket_before_it() -> None:
    turn = NumberingTurn(multiprocessing.get_context("spawn"), window=2)
    numbered: list[int] = []

    def take(ticket: int) -> None:
        turn.wait(ticket, timeout=30)
        numbered.append(ticket)
        turn.passed(ticket)

    later = [threading.Thread(target=take, args=(ticket,)) for ticket in (2, 1)]
    for thread in later:
        thread.start()
    time.sleep(0.3)
    assert numbered == [], "tickets 1 and 2 wait for ticket 0"
    turn.passed(4)  # ended out of turn (found invalid): it holds nobody up later
    take(0)
    for thread in later:
        thread.join(timeout=30)
    assert numbered == [0, 1, 2]
    take(3)
    turn.wait(5, timeout=0.1)  # 4 was passed already: 5's turn has come
    with pytest.raises(TurnTimeout, match="did not take their numbers"):
        turn.wait(6, timeout=0.1)


def test_an_ordered_batch_numbers_its_letters_in_the_input_order(
    tmp_path: Path, pki: DemoPki
) -> None:
    """Long letters (40 items) alternate with short ones in one series; a request whose
    signatory may not sign is refused by a worker, out of turn, and takes no number."""
    base = _request(EXAMPLES / "ilmate-pertek-baja-approved.json", "")
    lines = []
    for index in range(10):
        data = json.loads(json.dumps(base))
        data["request_id"] = f"ORD-{index:02d}"
        data["items"] = data["items"] * (40 if index % 2 == 0 else 1)
        if index == 5:
            data["signatory"]["name"] = "Ir. Orang Lain"
        lines.append(json.dumps(data))
    source = tmp_path / "ordered.jsonl"
    source.write_text("\n".join(lines) + "\n", "utf-8")
    manifest = tmp_path / "manifest.jsonl"
    runner = BatchRunner(_settings(tmp_path), workers=2, ordered=True)
    summary = runner.run(read_records(source), manifest=manifest)
    assert summary.counts == {"issued": 9, "invalid": 1}, summary.counts
    rows = _manifest(manifest)
    assert [row["request_id"] for row in rows] == [f"ORD-{i:02d}" for i in range(10)]
    assert rows[5]["status"] == "invalid" and "Signing official" in rows[5]["error"]
    series = _seq_by_line(rows, tmp_path / "register.sqlite3")
    assert list(series.values()) == [list(range(1, 10))], "one series, numbered as read"
