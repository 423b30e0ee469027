"""Register benchmark: numbers per second and the register's cost per letter, SQLite vs PostgreSQL.

For each backend — a SQLite file, and a PostgreSQL server on loopback started here (a throw-away
cluster with fsync on, on a Unix socket, removed at the end) — one and four processes take
numbers from one series at once. Each letter is what the Issuer asks of the register: ``reserve``
(a number, in its transaction) then ``mark_issued``; rendering and signing are left out, so the
figures are the register's own. Reported: numbers taken per second (all processes together,
first start to last finish) and the latency per letter at p50 and p95, then PostgreSQL against
SQLite as ratios.

Targets: on PostgreSQL, at most 5 ms per letter at p50, and at least 500 numbers per second with
four processes contending for one series.

Run: ``.venv/bin/python bench/bench_register.py [--letters N] [--json]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' PostgreSQL server helper

from docgen.catalogue import Catalogue  # noqa: E402
from docgen.config import Settings  # noqa: E402
from docgen.models import LetterRequest  # noqa: E402
from docgen.pipeline import request_hash  # noqa: E402
from docgen.register import Register  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

REFERENCE = ROOT / "examples" / "ilmate-pertek-baja-approved.json"
TARGET_P50_MS = 5.0
TARGET_CONTENDED_PER_SECOND = 500.0


def worker(location: str, prefix: str, letters: int, start: Any, results: Connection) -> None:
    """One process: open the register, wait for the start, time each letter's register work."""
    settings = Settings.load()
    data = json.loads(REFERENCE.read_text("utf-8"))
    service = Catalogue.load(settings.templates / "catalogue.toml").get(data["service"])
    requests = []
    for index in range(letters):
        data["request_id"] = f"{prefix}-{index}"
        request = LetterRequest.from_mapping(data)
        requests.append((request, request_hash(request)))
    register = Register(location if location.startswith("postgresql") else Path(location))
    register.records()  # connected before the clock starts
    start.wait()
    began = time.perf_counter()
    latencies = []
    for request, digest in requests:
        t0 = time.perf_counter()
        record = register.reserve(
            request, service.numbering(date.today()), digest, issued_on=date.today()
        )
        register.mark_issued(record.register_id, sha256=digest, path="-", signer="-")
        latencies.append(time.perf_counter() - t0)
    ended = time.perf_counter()
    register.close()
    results.send((began, ended, latencies))


def run(location: str, processes: int, letters: int) -> dict[str, float]:
    """Numbers per second and p50/p95 latency (ms) of ``processes`` taking ``letters`` each."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    pipes, workers = [], []
    for index in range(processes):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=worker, args=(location, f"P{processes}-{index}", letters, start, send)
        )
        process.start()
        pipes.append(receive)
        workers.append(process)
    time.sleep(2.0)  # every worker loaded and connected
    start.set()
    outcomes = [pipe.recv() for pipe in pipes]
    for process in workers:
        process.join(60)
    began = min(o[0] for o in outcomes)
    ended = max(o[1] for o in outcomes)
    latencies = sorted(latency for o in outcomes for latency in o[2])
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "numbers_per_second": len(latencies) / (ended - began),
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
    }


def check_numbers(location: str, expected: int) -> None:
    """Every number 1..expected taken once (the benchmark must not measure a broken register)."""
    with Register(location if location.startswith("postgresql") else Path(location)) as register:
        seqs = sorted(r.seq for r in register.records())
    if seqs != list(range(1, expected + 1)):
        raise SystemExit(f"numbers are wrong: {len(seqs)} records, expected 1..{expected}")


def commit_floor(url: str, count: int = 200) -> float:
    """Median ms of one committed one-row transaction: what the disk's flush costs a commit."""
    import psycopg

    with psycopg.connect(url) as db:
        db.autocommit = True
        db.execute("CREATE TABLE floor (n INTEGER)")
        times = []
        for n in range(count):
            t0 = time.perf_counter()
            db.execute("INSERT INTO floor VALUES (%s)", (n,))
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=300, help="letters per process")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="run PostgreSQL without fsync (SQLite unchanged): the register's own cost, apart "
        "from the disk's",
    )
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    durable = not args.no_fsync
    with tempfile.TemporaryDirectory() as scratch, PostgresServer(durable=durable) as server:
        floor = commit_floor(server.create_database())
        for backend in ("sqlite", "postgresql"):
            for processes in (1, 4):
                if backend == "sqlite":
                    location = str(Path(scratch) / f"register-{processes}.sqlite3")
                else:
                    location = server.create_database()
                Register.create(location if backend == "postgresql" else Path(location)).close()
                results[f"{backend}-{processes}"] = run(location, processes, args.letters)
                check_numbers(location, processes * args.letters)

    if args.json:
        print(json.dumps({"commit_floor_ms": floor, **results}, indent=2))
        return
    print(
        f"PostgreSQL fsync {'on' if durable else 'off'}; one committed insert takes {floor:.2f} ms "
        "(the disk's flush: a letter commits twice, and a series' numbers are taken one commit "
        "at a time)"
    )
    print(f"{'backend':<12}{'processes':>10}{'numbers/s':>12}{'p50 ms':>9}{'p95 ms':>9}")
    for key, figures in results.items():
        backend, count = key.rsplit("-", 1)
        print(
            f"{backend:<12}{count:>10}{figures['numbers_per_second']:>12.0f}"
            f"{figures['p50_ms']:>9.2f}{figures['p95_ms']:>9.2f}"
        )
    for processes in (1, 4):
        pg, lite = results[f"postgresql-{processes}"], results[f"sqlite-{processes}"]
        print(
            f"PostgreSQL / SQLite, {processes} process(es): numbers/s "
            f"{pg['numbers_per_second'] / lite['numbers_per_second']:.2f}x, "
            f"p50 {pg['p50_ms'] / lite['p50_ms']:.2f}x, p95 {pg['p95_ms'] / lite['p95_ms']:.2f}x"
        )
    p50 = results["postgresql-1"]["p50_ms"]
    contended = results["postgresql-4"]["numbers_per_second"]
    print(
        f"target p50 <= {TARGET_P50_MS} ms on PostgreSQL: {p50:.2f} ms "
        f"{'met' if p50 <= TARGET_P50_MS else 'MISSED'}; "
        f"target >= {TARGET_CONTENDED_PER_SECOND:.0f} numbers/s with 4 processes: "
        f"{contended:.0f} {'met' if contended >= TARGET_CONTENDED_PER_SECOND else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
