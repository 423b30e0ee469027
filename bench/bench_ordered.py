"""What numbering in input order costs: ``docgen batch --ordered`` against the default.

The same batch is issued both ways, alternately, at every core: HTML letters of one and of 30
goods items and DOCX letters, mixed, so that letters take unequal times and the workers would
reach the register out of input order. Each run gets a fresh register and output folder. The
rate is counted from the first letter finished to the last (the workers' start-up, the same
both ways, left out); the ratio of the medians is printed, with the check that the ordered
runs did number every series in input order and the default ones (for comparison) did not
always.

Run: ``DOCGEN_CONFIG=certs/demo.toml .venv/bin/python bench/bench_ordered.py [--letters N]
[--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from docgen.batch import BatchRunner, BatchSummary, read_records
from docgen.config import Settings
from docgen.register import LetterStatus, Register

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "examples" / "ilmate-pertek-baja-approved.json"
DOCX = ROOT / "examples" / "ikft-pertek-ban-approved.json"


def requests(count: int, tag: str) -> list[str]:
    """``count`` JSON lines: HTML short, HTML long, DOCX, in turn."""
    html: dict[str, Any] = json.loads(HTML.read_text("utf-8"))
    docx: dict[str, Any] = json.loads(DOCX.read_text("utf-8"))
    lines = []
    for index in range(count):
        kind = index % 3
        data = json.loads(json.dumps(docx if kind == 2 else html))
        data["request_id"] = f"ORD-{tag}-{index:05d}"
        if kind == 1:
            data["items"] = data["items"] * 30
        lines.append(json.dumps(data))
    return lines


def in_input_order(register: Path, ids: list[str]) -> bool:
    """Whether every series' numbers rise with the input's order."""
    records = {r.request_id: r for r in Register(register).records()}
    last: dict[str, int] = {}
    for request_id in ids:
        record = records.get(request_id)
        if record is None or record.status is not LetterStatus.ISSUED:
            continue
        if record.seq < last.get(record.series, 0):
            return False
        last[record.series] = record.seq
    return True


def run(count: int, ordered: bool, tag: str) -> tuple[float, bool, dict[str, int]]:
    """Letters per second (first to last finished), numbered in order?, the counts."""
    with tempfile.TemporaryDirectory(prefix="bench-ordered-") as scratch:
        work = Path(scratch)
        settings = Settings.load(
            letter_register={"path": str(work / "register.sqlite3")}, output=str(work / "letters")
        )
        Register.create(settings.letter_register.path).close()
        lines = requests(count, tag)
        source = work / "batch.jsonl"
        source.write_text("\n".join(lines) + "\n", "utf-8")
        finished: list[float] = []

        def progress(summary: BatchSummary) -> None:
            finished.append(time.monotonic())

        runner = BatchRunner(settings, out_dir=work / "letters", ordered=ordered)
        summary = runner.run(
            read_records(source), manifest=work / "manifest.jsonl", progress=progress
        )
        ids = [json.loads(line)["request_id"] for line in lines]
        rate = (len(finished) - 1) / (finished[-1] - finished[0])
        return rate, in_input_order(settings.letter_register.path, ids), dict(summary.counts)


def main() -> None:
    """Alternate the two ways, print each run and the ratio of the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=60, help="letters per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each way")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {args.letters} letters a run, every core a worker")
    rates: dict[bool, list[float]] = {False: [], True: []}
    for repeat in range(args.repeats):
        for ordered in (False, True):
            rate, in_order, counts = run(args.letters, ordered, f"{repeat}{int(ordered)}")
            rates[ordered].append(rate)
            way = "--ordered" if ordered else "default  "
            print(f"  {way}  {rate:5.2f} letters/s  numbered in input order: {in_order}  {counts}")
            if ordered and not in_order:
                raise SystemExit("bench_ordered: an ordered run numbered out of input order")
    usual, kept = statistics.median(rates[False]), statistics.median(rates[True])
    print(
        f"median: default {usual:.2f} letters/s, --ordered {kept:.2f} letters/s; "
        f"--ordered runs at {kept / usual:.2f}x the default's rate"
    )


if __name__ == "__main__":
    main()
