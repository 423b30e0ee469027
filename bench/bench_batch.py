"""Batch benchmark: docgen's BatchRunner at one and all workers, against the tools, and its memory.

Works on the reference requests (``examples/ilmate-pertek-baja-approved.json`` for the HTML path,
``examples/ikft-pertek-ban-approved.json`` for the DOCX path), copied with distinct request ids
into a temporary JSON Lines file per path. Every batch run has its own temporary register and
output folder. While a run goes on, a background thread samples the RSS of the whole process
tree (this process, the workers, their LibreOffice) every 0.2 s. The workers share one
LibreOffice, as ``BatchRunner`` does by default; ``--separate-libreoffice`` gives each its own.
Prints:

1. Throughput of ``BatchRunner`` per path at 1 worker and at every core (``os.cpu_count()``):
   letters per second from the first finished letter to the last, so the workers' start-up
   (opening keys, loading fonts, starting LibreOffice for DOCX) is left out and shown
   separately, with the total wall time and the CPU seconds per letter of the whole process
   tree. Targets: speed-up 1 -> all at least 1.8x on 2 cores; CPU per letter at 1 worker at most
   0.20 s (HTML) and 0.25 s (DOCX). The DOCX path is also run at every
   core with the other LibreOffice arrangement, to show what it trades.
2. The chain of command-line tools a back office would otherwise script per letter, on a few
   letters, extrapolated per letter: HTML ``weasyprint -s letter.css --base-url templates/`` of
   docgen's merged HTML, DOCX ``soffice --headless --convert-to pdf`` of docgen's merged DOCX,
   then ``pyhanko sign addsig --field 1/100,100,300,180/Sig pkcs12 --passfile ...`` (the
   passphrase in a private file, never on the command line). Merging is done beforehand and not
   timed, and each tool gets an untimed warm-up run, both in the tools' favour. Target: docgen
   at every core at least 25x the tools' letters per second, on both paths. CPU seconds per
   letter are printed for both too: on a machine shared with other work they move less than
   wall times do.
3. Peak memory (sum of RSS over the process tree, LibreOffice included) of a long
   mixed HTML+DOCX run at every core, as the peak up to 10%, 50% and 100% of the run so that
   growth is visible, by kind of process, with the PSS sum (shared pages counted once) beside
   it. The run is made in a fresh Python process so that "main" is a process that only runs
   the batch. Target: flat, under 450 MB, over 5,000 letters (``--letters 5000``).

Processes a run started that outlive it (a LibreOffice left behind when the pool shuts down)
are reported, then stopped by their process id.

Run: ``.venv/bin/python bench/bench_batch.py [--rate-letters N] [--chain-letters N]
[--letters N] [--repeats N] [--skip-memory | --memory-only] [--separate-libreoffice]``
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import psutil

from docgen.batch import BatchRunner, BatchSummary, read_records
from docgen.config import Settings
from docgen.context import build_context
from docgen.models import LetterRequest
from docgen.register import Register
from docgen.render import Renderer
from docgen.resources import Closing
from docgen.sign import read_passphrase

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = {
    "HTML": ROOT / "examples" / "ilmate-pertek-baja-approved.json",
    "DOCX": ROOT / "examples" / "ikft-pertek-ban-approved.json",
}
SAMPLE_SECONDS = 0.2
MB = 1024 * 1024
MEMORY_LIMIT_MB = 450
CPU_LIMIT_SECONDS = {"HTML": 0.20, "DOCX": 0.25}
"""The CPU a letter may take at one worker, whole process tree, per path."""
RECYCLE_WORKERS_AFTER = inspect.signature(BatchRunner).parameters["recycle_workers_after"].default
FIELD = "1/100,100,300,180/Sig"
URL = "https://verifikasi.example.test/bench/"


def verdict(met: bool) -> str:
    """The target's outcome, as printed."""
    return "met" if met else "MISSED"


# ------------------------------------------------------------------ inputs


def copies(kind: str, count: int, tag: str) -> Iterator[str]:
    """JSON lines: ``count`` copies of the path's reference request with distinct request ids."""
    base = json.loads(REFERENCES[kind].read_text("utf-8"))
    for index in range(count):
        yield json.dumps({**base, "request_id": f"BENCH-{tag}-{kind}-{index:06d}"})


def write_jsonl(path: Path, lines: Iterator[str]) -> Path:
    """Write JSON lines to a file, one by one."""
    with path.open("w", encoding="utf-8") as sink:
        for line in lines:
            sink.write(line + "\n")
    return path


def mixed(count: int, tag: str) -> Iterator[str]:
    """``count`` requests alternating HTML and DOCX letters."""
    html = copies("HTML", (count + 1) // 2, tag)
    docx = copies("DOCX", count // 2, tag)
    for index in range(count):
        yield next(html if index % 2 == 0 else docx)


# ------------------------------------------------------------------ process tree sampling


@dataclass(frozen=True, slots=True)
class Sample:
    """The process tree's memory at one moment."""

    at: float
    """``time.monotonic()`` of the sample (the same clock in every process)."""
    total: int
    """Sum of the RSS of every process in the tree, in bytes."""
    by_kind: dict[str, int]
    """The same sum by kind of process (main, workers, LibreOffice, other)."""
    pss: int | None = None
    """Sum of the PSS (shared pages split between their users), on every few samples."""


def role_of(process: Any, root_pid: int) -> tuple[str, str]:
    """A process of the tree: its kind (main, workers, LibreOffice, other) and its role."""
    if process.pid == root_pid:
        return "main", "main"
    try:
        name = str(process.name())
        command = " ".join(str(part) for part in process.cmdline())
    except psutil.Error:
        return "other", "?"
    if name in ("soffice.bin", "oosplash", "soffice"):
        return "LibreOffice", name
    if "spawn_main" in command:
        # a worker's own child, caught between fork and exec, has the same command line
        return ("workers", "worker") if process.ppid() == root_pid else ("other", "fork")
    if "resource_tracker" in command:
        return "other", "resource_tracker"
    return "other", name


class TreeSampler(Closing):
    """Samples the summed RSS of a process and all its descendants, in a background thread.

    Also remembers every descendant it saw (by pid and start time), its CPU time, so that the
    tree's CPU time can be summed and the processes that outlive the run found afterwards.
    """

    def __init__(self, root: Any = None, interval: float = SAMPLE_SECONDS, pss_every: int = 5):
        """Prepare a sampler of ``root``'s tree (default: this process)."""
        self.interval = interval
        self.pss_every = pss_every
        self.root = root if root is not None else psutil.Process()
        self.root_pid = int(self.root.pid)
        self.samples: list[Sample] = []
        self.roles: dict[tuple[int, float], tuple[str, str]] = {}
        """Every process seen in the tree: (pid, start time) -> (kind, role)."""
        self.cpu: dict[tuple[int, float], float] = {}
        """The same processes' CPU seconds (user + system), as last seen."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop sampling, after one last sample."""
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def tree(self) -> list[Any]:
        """The root and its descendants now (empty when the root has ended)."""
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> None:
        """Take one sample of the tree."""
        at = time.monotonic()
        with_pss = len(self.samples) % self.pss_every == 0
        total, pss = 0, 0
        by_kind: Counter[str] = Counter()
        for process in self.tree():
            try:
                with process.oneshot():
                    rss = int(process.memory_info().rss)
                    key = (int(process.pid), float(process.create_time()))
                    times = process.cpu_times()
                    self.cpu[key] = float(times.user + times.system)
                if with_pss:
                    pss += int(process.memory_full_info().pss)
            except psutil.Error:
                continue
            # asked every time: a child caught between fork and exec still looks like its parent
            role = role_of(process, self.root_pid)
            if role[1] != "?" or key not in self.roles:
                self.roles[key] = role
            role = self.roles[key]
            total += rss
            by_kind[role[0]] += rss
        if total:
            self.samples.append(Sample(at, total, dict(by_kind), pss if with_pss else None))

    def count(self, role: str) -> int:
        """How many processes of a role were seen."""
        return sum(1 for _, r in self.roles.values() if r == role)

    def cpu_seconds(self) -> float:
        """CPU time of the whole tree, as last sampled."""
        return sum(self.cpu.values())

    def orphans(self, grace: float = 3.0) -> list[tuple[Any, str]]:
        """Processes of the tree still alive ``grace`` s after the run, and no longer in it."""
        deadline = time.monotonic() + grace
        while True:
            tree = {int(process.pid) for process in self.tree()}
            alive = []
            for (pid, created), (kind, _) in self.roles.items():
                if pid in tree:
                    continue
                try:
                    process = psutil.Process(pid)
                    if (
                        process.create_time() == created
                        and process.status() != psutil.STATUS_ZOMBIE
                    ):
                        alive.append((process, kind))
                except psutil.Error:
                    continue
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.2)


def stop_processes(processes: Sequence[tuple[Any, str]]) -> None:
    """Stop processes this run started, by their process id: terminate, then kill."""
    for process, _ in processes:
        try:
            process.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs([process for process, _ in processes], timeout=5)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5)


# ------------------------------------------------------------------ batch runs


class Timeline:
    """The progress callback: when each record finished."""

    def __init__(self) -> None:
        """Start the clock."""
        self.started = time.monotonic()
        self.finished: list[float] = []

    def __call__(self, summary: BatchSummary) -> None:
        self.finished.append(time.monotonic())


@dataclass
class Outcome:
    """What one batch run reports about itself."""

    workers: int
    started: float
    """``time.monotonic()`` when ``run`` was called."""
    ended: float
    """``time.monotonic()`` when it returned."""
    finished: list[float]
    """``time.monotonic()`` of each finished record, in order."""
    counts: dict[str, int]
    problems: list[str]
    """The first errors from the manifest."""


def issue_batch(source: Path, workers: int, shared: bool = True) -> Outcome:
    """Issue every request in ``source`` with a fresh register and output folder."""
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        work = Path(scratch)
        settings = Settings.load(
            letter_register={"path": str(work / "register.sqlite3")}, output=str(work / "letters")
        )
        Register.create(settings.letter_register.path).close()
        runner = BatchRunner(
            settings, workers=workers, out_dir=work / "letters", share_libreoffice=shared
        )
        manifest = work / "manifest.jsonl"
        timeline = Timeline()
        summary = runner.run(read_records(source), manifest=manifest, progress=timeline)
        ended = time.monotonic()
        problems: list[str] = []
        with manifest.open(encoding="utf-8") as rows:
            for line in rows:
                row = json.loads(line)
                if row["status"] != "issued" and len(problems) < 3:
                    problems.append(f"{row['position']}: {row['status']}: {row['error']}")
    return Outcome(
        runner.workers, timeline.started, ended, timeline.finished, dict(summary.counts), problems
    )


@dataclass
class RunResult:
    """One batch run, measured."""

    outcome: Outcome
    samples: list[Sample]
    cpu_seconds: float
    """CPU time of the whole process tree (main, workers, LibreOffice)."""
    converter_starts: int
    """LibreOffice processes (soffice.bin) started."""
    worker_processes: int
    shared: bool = True
    """Whether the workers shared one LibreOffice."""
    orphans: list[tuple[str, int]] = field(default_factory=list)
    """Processes of the run still alive after it, outside the tree: (kind, RSS bytes)."""

    @property
    def workers(self) -> int:
        """Worker processes asked for."""
        return self.outcome.workers

    @property
    def letters(self) -> int:
        """Records finished."""
        return len(self.outcome.finished)

    @property
    def wall(self) -> float:
        """Seconds from the call to ``run`` to its return (start-up and shut-down included)."""
        return self.outcome.ended - self.outcome.started

    @property
    def startup(self) -> float:
        """Seconds from the start to the first finished letter."""
        finished = self.outcome.finished
        return finished[0] - self.outcome.started if finished else math.nan

    @property
    def rate(self) -> float:
        """Letters per second from the first finished letter to the last."""
        finished = self.outcome.finished
        if len(finished) < 2:
            return math.nan
        return (len(finished) - 1) / (finished[-1] - finished[0])

    @property
    def steady_rate(self) -> float:
        """Letters per second after the first 2 x workers letters (every worker warm by then)."""
        finished = self.outcome.finished
        skip = 2 * self.workers
        if len(finished) < skip + 2:
            return math.nan
        return (len(finished) - skip) / (finished[-1] - finished[skip - 1])

    @property
    def wall_rate(self) -> float:
        """Letters per second over the whole wall time."""
        return self.letters / self.wall

    @property
    def peak(self) -> int:
        """Highest summed RSS over the run."""
        return max((sample.total for sample in self.samples), default=0)


def run_batch(
    source: Path, workers: int, *, shared: bool = True, own_process: bool = False
) -> RunResult:
    """Issue a batch, here or in a fresh Python process, sampling the process tree meanwhile.

    In its own process the "main" memory is that of a process that only runs the batch, not
    that of this bench (which has rendered letters itself by then).
    """
    if own_process:
        with tempfile.TemporaryDirectory(prefix="bench-batch-child-") as scratch:
            report = Path(scratch) / "outcome.json"
            command = [sys.executable, __file__, "--child", str(source), "--workers",
                       str(workers), "--child-report", str(report)]  # fmt: skip
            if not shared:
                command.append("--separate-libreoffice")
            child = subprocess.Popen(command)
            with TreeSampler(psutil.Process(child.pid)) as sampler:
                code = child.wait()
            if code != 0:
                raise SystemExit(f"bench_batch: the batch process ended with status {code}")
            outcome = Outcome(**json.loads(report.read_text("utf-8")))
    else:
        with TreeSampler() as sampler:
            outcome = issue_batch(source, workers, shared)
    left = sampler.orphans()
    result = RunResult(
        outcome=outcome,
        samples=sampler.samples,
        cpu_seconds=sampler.cpu_seconds(),
        converter_starts=sampler.count("soffice.bin"),
        shared=shared,
        worker_processes=sampler.count("worker"),
    )
    for process, kind in left:
        try:
            result.orphans.append((kind, int(process.memory_info().rss)))
        except psutil.Error:
            continue
    if left:
        stop_processes(left)
    return result


def child_main(source: Path, workers: int, report: Path, shared: bool) -> None:
    """In the fresh process: run the batch, write what happened as JSON."""
    outcome = issue_batch(source, workers, shared)
    report.write_text(json.dumps(outcome.__dict__), "utf-8")


def describe_run(label: str, result: RunResult) -> None:
    """Print one run's line, and any failures and orphans."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.outcome.counts.items()))
    arrangement = "" if result.shared or result.workers == 1 else " (LibreOffice per worker)"
    print(
        f"    {label:<5} {result.workers} worker{'s' if result.workers > 1 else ' '}{arrangement}: "
        f"{result.rate:6.2f} letters/s (first to last finished; {result.steady_rate:5.2f} after "
        f"the first {2 * result.workers})   "
        f"start-up to first letter {result.startup:5.1f} s   wall {result.wall:6.1f} s "
        f"({result.wall_rate:5.2f}/s)   CPU {result.cpu_seconds / result.letters:4.2f} s/letter"
        f"   {counts}"
    )
    report_problems(result)


def report_problems(result: RunResult) -> None:
    """Print what looks wrong in a run: failed records, replaced workers, orphans."""
    for problem in result.outcome.problems:
        print(f"          problem: {problem}")
    # BatchRunner replaces its workers after recycle_workers_after letters each
    generations = max(1, math.ceil(result.letters / (RECYCLE_WORKERS_AFTER * result.workers)))
    if result.worker_processes > result.workers * generations:
        print(
            f"          problem: {result.worker_processes} worker processes seen for "
            f"{result.workers} workers in {generations} generation(s) (workers died?)"
        )
    expected = 2 * (1 if result.shared else result.workers)  # a new profile: started twice
    if result.converter_starts > expected * max(1, math.ceil(result.letters / 250)):
        print(
            f"          problem: LibreOffice started {result.converter_starts} times for "
            f"{result.workers} workers (restarted after a crash or timeout?)"
        )
    if result.orphans:
        kinds = Counter(kind for kind, _ in result.orphans)
        rss = sum(size for _, size in result.orphans) / MB
        listed = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        print(
            f"          problem: {len(result.orphans)} processes outlived the run, orphaned "
            f"({listed}; {rss:.0f} MB RSS); the bench stopped them"
        )


# ------------------------------------------------------------------ the tools, per letter


def tool(name: str) -> str:
    """A command, from this interpreter's bin folder first, then PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"bench_batch: the {name} command is not installed")
    return found


def run_tool(command: list[str]) -> None:
    """Run one command; stop the bench with its output if it fails."""
    run = subprocess.run(command, capture_output=True, check=False)
    if run.returncode != 0:
        output = (run.stderr or run.stdout).decode(errors="replace").strip()
        raise SystemExit(f"bench_batch: {Path(command[0]).name} failed:\n{output[-2000:]}")


def tool_chain(kind: str, count: int, settings: Settings, work: Path) -> tuple[list[float], float]:
    """Seconds per letter of the per-letter tools after an untimed warm-up; their CPU s/letter."""
    request = LetterRequest.from_json(REFERENCES[kind].read_bytes())
    with Renderer(settings) as renderer:
        service = renderer.catalogue.get(request.service)
        key = settings.signing.keys[service.directorate_general]
        assert key.pkcs12 is not None, "the demo keys are PKCS#12 files"
        # the passphrase goes to pyhanko through a private file, never on the command line
        passfile = work / "passphrase"
        passfile.touch(mode=0o600)
        passfile.write_bytes(read_passphrase(key) or b"")
        sources = []
        for index in range(count + 1):  # the first one is the warm-up
            context = build_context(
                request,
                service,
                settings,
                number=service.letter_number(index + 1, request.decision.date),
                verification_url=f"{URL}{kind}-{index}",
            )
            if kind == "HTML":
                source = work / f"letter-{index:04d}.html"
                source.write_text(renderer.html.to_html(service.template_approved, context))
            else:
                source = work / f"letter-{index:04d}.docx"
                source.write_bytes(renderer.docx.to_docx(service.template_approved, context))
            sources.append(source)
    templates = settings.templates.resolve()
    weasyprint, soffice, pyhanko = (
        tool("weasyprint"),
        tool(settings.converter.soffice),
        tool("pyhanko"),
    )
    profile = (work / "lo-profile").as_uri()
    times = []
    cpu = 0.0
    for index, source in enumerate(sources):
        pdf = source.with_suffix(".pdf")
        signed = source.with_name(source.stem + "-signed.pdf")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        if kind == "HTML":
            run_tool([weasyprint, "-s", str(templates / "assets" / "letter.css"),
                      "--base-url", f"{templates}/", str(source), str(pdf)])  # fmt: skip
        else:
            run_tool([soffice, f"-env:UserInstallation={profile}", "--headless",
                      "--convert-to", "pdf", "--outdir", str(work), str(source)])  # fmt: skip
        run_tool([pyhanko, "sign", "addsig", "--field", FIELD, "pkcs12", "--passfile",
                  str(passfile), str(pdf), str(signed), str(key.pkcs12)])  # fmt: skip
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if not signed.is_file() or signed.stat().st_size == 0:
            raise SystemExit(f"bench_batch: the tools wrote no signed letter for {source.name}")
        if index > 0:
            times.append(elapsed)
            cpu += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return times, cpu / max(1, len(times))


# ------------------------------------------------------------------ memory over a long run


def peak_until(samples: Sequence[Sample], until: float, since: float = -math.inf) -> Sample:
    """The sample with the highest total in a time window."""
    window = [s for s in samples if since <= s.at <= until]
    return max(window or samples[:1], key=lambda s: s.total)


def breakdown(sample: Sample) -> str:
    """RSS by kind of process, in MB."""
    return ", ".join(
        f"{kind} {sample.by_kind.get(kind, 0) / MB:.0f}"
        for kind in ("main", "workers", "LibreOffice")
    )


def memory_run(letters: int, workers: int, scratch: Path, shared: bool) -> None:
    """Part 3: a long mixed run at every core; peak RSS of the tree at 10%, 50% and 100%."""
    source = write_jsonl(scratch / "mixed.jsonl", mixed(letters, "MEM"))
    print(
        f"3. memory: {letters} letters, HTML and DOCX alternating, {workers} workers, in a fresh "
        f"process; RSS summed over its process tree every {SAMPLE_SECONDS:g} s"
    )
    result = run_batch(source, workers, shared=shared, own_process=True)
    if not result.samples or not result.outcome.finished:
        print("    no samples taken")
        return
    finished = result.outcome.finished
    end = result.samples[-1].at
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.outcome.counts.items()))
    print(
        f"    {result.rate:.2f} letters/s (first to last finished), wall {result.wall:.1f} s, "
        f"start-up {result.startup:.1f} s, CPU {result.cpu_seconds / result.letters:.2f} "
        f"s/letter (start-up included); {counts}; LibreOffice started "
        f"{result.converter_starts} time(s) for {result.workers} workers"
    )
    previous = -math.inf
    segments = []
    for percent in (10, 50, 100):
        done = max(1, math.ceil(letters * percent / 100))
        at = end if percent == 100 else finished[min(done, len(finished)) - 1]
        overall = peak_until(result.samples, at)
        segment = peak_until(result.samples, at, previous)
        segments.append(segment.total)
        pss = [s.pss for s in result.samples if s.pss is not None and previous <= s.at <= at]
        pss_text = f", PSS peak {max(pss) / MB:.0f} MB" if pss else ""
        print(
            f"    peak up to {percent:3d}% ({done:5d} letters): {overall.total / MB:7.1f} MB   "
            f"in this stretch: {segment.total / MB:7.1f} MB ({breakdown(segment)}{pss_text})"
        )
        previous = at
    report_problems(result)
    peak_mb = result.peak / MB
    growth = (segments[2] - segments[1]) / MB
    flat = segments[2] <= segments[1] * 1.05
    print(
        f"    peak {peak_mb:.1f} MB; the 50-100% stretch's peak against the 10-50% one's: "
        f"{growth:+.1f} MB ({'flat' if flat else 'growing'}: within 5% {verdict(flat)})"
    )
    real = "" if letters >= 5000 else f" (on {letters} letters only; --letters 5000 checks it)"
    print(
        f"    target flat and under {MEMORY_LIMIT_MB} MB over 5,000 letters{real}: "
        f"{verdict(flat and peak_mb < MEMORY_LIMIT_MB)}"
    )


# ------------------------------------------------------------------ main


def speed_parts(
    args: argparse.Namespace, cores: int, settings: Settings, work: Path, shared: bool
) -> None:
    """Parts 1 and 2: throughput at 1 and every worker, and against the per-letter tools."""
    # 1. throughput at 1 worker and at every core, per path
    settings_counts = sorted({1, cores})
    print(
        f"1. BatchRunner throughput, {args.rate_letters} letters per run, "
        f"{args.repeats} run(s) per setting, interleaved (median)"
    )
    rates: dict[tuple[str, int], float] = {}
    cpu_per_letter: dict[str, float] = {}
    for kind in REFERENCES:
        source = write_jsonl(work / f"{kind}.jsonl", copies(kind, args.rate_letters, "RATE"))
        runs: dict[int, list[RunResult]] = {workers: [] for workers in settings_counts}
        cpu: dict[int, list[float]] = {workers: [] for workers in settings_counts}
        for _ in range(args.repeats):
            for workers in settings_counts:
                result = run_batch(source, workers, shared=shared)
                runs[workers].append(result)
                cpu[workers].append(result.cpu_seconds / result.letters)
                describe_run(kind, result)
        for workers in settings_counts:
            rates[kind, workers] = statistics.median(r.rate for r in runs[workers])
        cpu_per_letter[kind] = statistics.median(cpu[cores])
        speedup = rates[kind, cores] / rates[kind, 1]
        steady = statistics.median(r.steady_rate for r in runs[cores]) / statistics.median(
            r.steady_rate for r in runs[1]
        )
        target = verdict(speedup >= 1.8) if cores >= 2 else "n/a (one core: nothing to speed up)"
        print(
            f"    {kind:<5} speed-up 1 -> {cores} workers: {speedup:4.2f}x "
            f"({rates[kind, 1]:.2f} -> {rates[kind, cores]:.2f} letters/s; {steady:4.2f}x "
            f"after the first letters of each worker)   target >= 1.8x on 2 cores: {target}"
        )
        one = statistics.median(cpu[1])
        limit = CPU_LIMIT_SECONDS[kind]
        print(
            f"    {kind:<5} CPU per letter at 1 worker, whole process tree (LibreOffice "
            f"included; start-up included): {one:5.3f} s   target <= {limit:.2f} s: "
            f"{verdict(one <= limit)}"
        )
        if kind == "DOCX" and cores >= 2:
            # the other LibreOffice arrangement, for the trade-off between speed and memory
            other = [run_batch(source, cores, shared=not shared) for _ in range(args.repeats)]
            for result in other:
                describe_run(kind, result)
            rate = statistics.median(r.rate for r in other)
            print(
                f"    {kind:<5} with one LibreOffice "
                f"{'per worker' if shared else 'shared by all'} instead: {rate:.2f} "
                f"letters/s at {cores} workers = {rate / rates[kind, 1]:4.2f}x one worker"
            )

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"   (load average now {load})")

    # 2. the command-line tools, one letter at a time
    print(
        f"2. per-letter command-line tools, {args.chain_letters} letters per path "
        "(after one untimed warm-up; merging not timed), against docgen at "
        f"{cores} workers"
    )
    for kind in REFERENCES:
        folder = work / f"tools-{kind}"
        folder.mkdir()
        times, tool_cpu = tool_chain(kind, args.chain_letters, settings, folder)
        per_letter = statistics.mean(times)
        chain_rate = 1 / per_letter
        chain = (
            "weasyprint + pyhanko sign addsig"
            if kind == "HTML"
            else "soffice --convert-to pdf + pyhanko sign addsig"
        )
        ratio = rates[kind, cores] / chain_rate
        print(
            f"    {kind:<5} {chain}: {per_letter:5.2f} s/letter = {chain_rate:5.2f} letters/s "
            f"(median {statistics.median(times):.2f} s)   docgen {rates[kind, cores]:5.2f} "
            f"letters/s = {ratio:5.1f}x (1 worker: {rates[kind, 1] / chain_rate:4.1f}x)   "
            f"target >= 25x: {verdict(ratio >= 25)}"
        )
        docgen_cpu = cpu_per_letter[kind]
        print(
            f"          CPU per letter (moves less with other load): tools {tool_cpu:5.2f} s, "
            f"docgen {docgen_cpu:5.2f} s (its start-up included), "
            f"tools/docgen {tool_cpu / docgen_cpu:4.1f}x"
        )

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"   (load average now {load})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate-letters", type=int, default=60, help="letters per path and setting in part 1"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per setting in part 1 (interleaved; median)"
    )
    parser.add_argument(
        "--chain-letters", type=int, default=10, help="letters per path through the tools (part 2)"
    )
    parser.add_argument(
        "--letters", type=int, default=600, help="letters in the memory run (part 3; target 5000)"
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip part 3")
    parser.add_argument(
        "--memory-only", action="store_true", help="only part 3 (the long memory run)"
    )
    parser.add_argument(
        "--separate-libreoffice",
        action="store_true",
        help="one LibreOffice per worker instead of one shared by all (BatchRunner's default)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:  # the fresh process of a memory run
        child_main(args.child, args.workers, args.child_report, not args.separate_libreoffice)
        return
    shared = not args.separate_libreoffice
    cores = os.cpu_count() or 1
    settings = Settings.load()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{cores} cores (os.cpu_count), load average before the bench {load}")
    print(
        "LibreOffice: "
        + ("one shared by all workers" if shared else "one per worker (--separate-libreoffice)")
    )

    with tempfile.TemporaryDirectory(prefix="bench-batch-inputs-") as scratch:
        work = Path(scratch)

        if not args.memory_only:
            speed_parts(args, cores, settings, work, shared)

        # 3. memory over a long mixed run
        if not args.skip_memory:
            memory_run(args.letters, cores, work, shared)


if __name__ == "__main__":
    main()
