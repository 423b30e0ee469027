"""Verification website benchmark: ``docgen serve`` under load, against the pyhanko command line.

Sets up, in a temporary folder removed at the end: a copy of the demo PKI whose certificates
name a free loopback port, its services (certomancer: timestamping authority, OCSP, CRLs)
started there, a register, and letters issued into it at PAdES B-LTA from the bundled HTML
examples (request ids varied to get more). Then ``docgen serve --workers 2`` runs on another
free loopback port, with the upload rate limit raised out of the way. One ``GET /healthz`` at
a time on a new and on a reused connection shows what TCP adds to an answer. Then a client
drives the site, each phase after a warm-up that is not counted:

A. ``GET`` the QR code's page of a random issued letter (the page must name the letter's
   SHA-256). Target: at least 500 requests/s with p99 at most 50 ms, judged from two runs.
   The client is a small HTTP/1.1 client on asyncio streams: httpx costs milliseconds of CPU
   per request, which on two cores it would take from the server (``--page-client httpx``
   uses it anyway).

   A1. Closed loop: ``--page-concurrency`` clients (32), each sending its next request when
       the last is answered, as fast as the site answers. Its throughput must be at least
       500 requests/s. Its latency is not judged: with 32 requests always under way the mean
       latency is 32 / throughput (Little's law), 64 ms at 500/s.
   A2. Open loop at ``--page-rate`` requests/s (500, the target's rate; 0 skips A2): the
       same number of clients send requests on a fixed schedule, whatever the answers (at
       most that many under way: at 500/s with 50 ms each, 25 are), and each one's latency
       is counted from its scheduled time, a wait for a free client included, so a server
       that falls behind shows in it. Its p99 must be at most 50 ms, and it must achieve the
       rate it was offered within 2% (a server that cannot keep up answers fewer).
   The page target is met when both are, A2 at the target's rate, with no failed request.
B. ``POST /api/v1/verify`` (httpx) with a random letter's PDF as the body, from
   ``--upload-concurrency`` clients (4) in a closed loop; every answer must be the verdict
   ``valid`` for that letter's number. Target: at least 10 letters/s with p99 at most 1 s.

For each: requests, throughput, latency p50/p90/p99/max, errors, the server's peak memory
(RSS summed over the server process and all its descendants, sampled every 0.2 s) and the
CPU time its processes spent per request. The load generator runs on the same machine as the
server and takes CPU from it, and so does any other work there: CPU per request moves less
with the machine's load than throughput does.

Baseline, in the same run: ``pyhanko sign validate --trust ROOT --pretty-print FILE``, one
process per file, sequentially over the same letters (after one untimed run; the PKI's
services still answer, for the revocation data the command fetches), and the site's letters/s
against it. The site checks more than the command (the register, the file's structure,
revocation from the embedded data) and runs 2 server workers.

Exits 0 whether targets are met or missed; 1 when a page request failed or a verification
answer was not ``valid``.

Run: ``.venv/bin/python bench/bench_web.py [--seconds S] [--requests N] [--warmup S] [--letters N]
[--workers N] [--verifiers N] [--page-concurrency N] [--page-client raw|httpx] [--page-rate R]
[--upload-concurrency N] [--cli-files N]`` (15 s measured and 2 s of warm-up per phase)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the demo PKI and the examples' dates (scripts/)

from bench_batch import TreeSampler, stop_processes  # noqa: E402
from bench_sign import validate_command  # noqa: E402
from docgen.catalogue import Catalogue  # noqa: E402
from docgen.config import Settings  # noqa: E402
from docgen.formatting import today_in  # noqa: E402
from docgen.lifetime import die_with_parent  # noqa: E402
from docgen.models import LetterRequest  # noqa: E402
from docgen.pipeline import Issuer  # noqa: E402
from docgen.register import Register  # noqa: E402
from scripts.demo_examples import WRITTEN_FOR, shifted  # noqa: E402
from scripts.demo_pki import DemoPki, demo_officials  # noqa: E402
from scripts.pki_services import answering, pki_on_port, start_pki_services  # noqa: E402

EXAMPLES = ROOT / "examples"
LETTER_PATH = "/surat"
MB = 1024 * 1024
PAGE_TARGET = (500.0, 0.050)
"""Phase A: requests per second at least, p99 seconds at most."""
UPLOAD_TARGET = (10.0, 1.0)
"""Phase B: letters per second at least, p99 seconds at most."""


def verdict(met: bool) -> str:
    """The target's outcome, as printed."""
    return "MET" if met else "MISSED"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


# ------------------------------------------------------------------ set-up


def reserve_port() -> socket.socket:
    """A socket bound to a free loopback port: the port stays taken until it is closed."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    return probe


def port_of(probe: socket.socket) -> int:
    """The port a socket is bound to."""
    return int(probe.getsockname()[1])


def write_config(folder: Path, pki: DemoPki, pki_port: int, site_port: int, verifiers: int) -> Path:
    """The settings of the run: keys and trust of the private PKI, B-LTA, the site's limits."""
    passphrase = folder / "pki" / "passphrase"
    keys = [
        line
        for code in ("AGRO", "IKFT", "ILMATE")
        for line in (
            f"[signing.keys.{code}]",
            f"pkcs12 = {json.dumps(str(pki.p12[f'signer-{code.lower()}']))}",
            f"passphrase_file = {json.dumps(str(passphrase))}",
        )
    ]
    lines = [
        f"output = {json.dumps(str(folder / 'letters'))}",
        "[letter_register]",
        f"path = {json.dumps(str(folder / 'register.sqlite3'))}",
        "[signing]",
        'level = "B-LTA"',
        f'timestamp_url = "http://127.0.0.1:{pki_port}/docgen-demo/tsa/tsa"',
        *keys,
        "[verification]",
        f"trust = [{json.dumps(str(pki.root_cert))}]",
        "[esign]",
        f'verification_base_url = "http://127.0.0.1:{site_port}{LETTER_PATH}/"',
        "[web]",
        # the limit is per client address, and every request of the bench comes from one
        "uploads_per_minute = 10000000",
        "time_budget_seconds = 20.0",
        f"verifiers = {verifiers}",
    ]
    config = folder / "docgen.toml"
    config.write_text("\n".join(lines) + "\n", "utf-8")
    return config


def html_requests(count: int, settings: Settings) -> list[LetterRequest]:
    """``count`` requests from the bundled HTML examples, each with its own request id.

    Dated for today, as the demo does, once the examples have aged (a letter whose validity
    has already ended is refused).
    """
    catalogue = Catalogue.load(settings.templates / "catalogue.toml")
    examples = [json.loads(path.read_text("utf-8")) for path in sorted(EXAMPLES.glob("*.json"))]
    html = [data for data in examples if catalogue.get(data["service"]).format == "html"]
    today = today_in(settings.signing.timezone)
    expired = any(
        date.fromisoformat(data["valid_until"]) < today for data in html if data.get("valid_until")
    )
    days = max(0, (today - WRITTEN_FOR).days) if expired else 0
    requests = []
    for index in range(count):
        data = shifted(html[index % len(html)], days)
        data["request_id"] = f"{data['request_id']}-WEB-{index:04d}"
        requests.append(LetterRequest.from_mapping(data))
    return requests


@dataclass(frozen=True)
class Letter:
    """An issued letter as the bench uses it."""

    register_id: str
    letter_number: str
    sha256: str
    path: Path
    pdf: bytes


def issue_letters(config: Path, count: int) -> tuple[list[Letter], float]:
    """A fresh register with ``count`` B-LTA letters; the seconds issuing took."""
    settings = Settings.load(config, signing={"officials": demo_officials()})
    Register.create(settings.letter_register.path).close()
    start = time.perf_counter()
    letters = []
    with Issuer(settings) as issuer:
        for request in html_requests(count, settings):
            issued = issuer.issue(request)
            letters.append(
                Letter(
                    issued.register_id,
                    issued.letter_number,
                    issued.sha256,
                    issued.path,
                    issued.path.read_bytes(),
                )
            )
    return letters, time.perf_counter() - start


# ------------------------------------------------------------------ the server


def serve(config: Path, probe: socket.socket, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """``docgen serve`` on the reserved port, once its ``/readyz`` answers 200."""
    port = port_of(probe)
    with log.open("wb") as sink:
        # let go of the port at the last moment, for the server to take
        probe.close()
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "docgen", "--config", str(config), "serve"),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    deadline = time.monotonic() + 120
    while not answering(f"http://127.0.0.1:{port}/readyz"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            output = log.read_text("utf-8", errors="replace")[-3000:]
            raise SystemExit(f"bench/bench_web.py: docgen serve did not become ready:\n{output}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen[bytes]) -> list[str]:
    """Stop a process this bench started and every process under it; what outlived it.

    Its descendants are listed first: once it has ended they are no longer found under it.
    A process already ended and waited for is left alone (its id may be another's by now).
    """
    if process.poll() is not None:
        return []
    try:
        below = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        below = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # some end only once they see their parent gone (multiprocessing's resource tracker)
    _, alive = psutil.wait_procs(below, timeout=5)
    left = []
    for child in alive:
        try:
            left.append((child, f"{child.pid} {' '.join(child.cmdline())[:100]}"))
        except psutil.Error:
            continue
    # started by this run, through the process that should have stopped them: stopped by id
    stop_processes(left)
    return [described for _, described in left]


# ------------------------------------------------------------------ the load generator


@dataclass
class Phase:
    """The measured requests of one phase."""

    name: str
    latencies: list[float] = field(default_factory=list)
    """Seconds per measured request that was answered as expected."""
    errors: int = 0
    """Measured requests that failed: no answer, another status, the wrong content."""
    examples: list[str] = field(default_factory=list)
    """The first few errors, described."""
    window: float = math.nan
    """Seconds from the start of measurement to the end of the last measured request."""
    warmup_requests: int = 0
    """Requests answered during the warm-up (not measured)."""
    warmup_seconds: float = math.nan
    """How long the warm-up lasted."""
    warmup_errors: int = 0
    """Warm-up requests that failed: not measured, but a failure all the same."""
    silent_lanes: int = 0
    """Lanes still without an answer when measurement began (after 30 s of waiting)."""
    server_cpu: float = math.nan
    """CPU seconds the server's processes used while measuring."""
    client_cpu: float = math.nan
    """CPU seconds the load generator used while measuring."""
    peak_rss: int = 0
    """Peak of the server tree's summed RSS during the phase (warm-up included), bytes."""
    peak_pss: int = 0
    """The same as PSS (shared pages split between the processes sharing them), bytes."""

    @property
    def requests(self) -> int:
        """Measured requests, failed ones included."""
        return len(self.latencies) + self.errors

    def cpu_per_request(self, seconds: float) -> float:
        """CPU seconds per measured request, from a total."""
        return seconds / self.requests if self.requests else math.nan

    @property
    def rate(self) -> float:
        """Requests per second over the measured window, failed ones included."""
        return self.requests / self.window if self.window > 0 else math.nan

    def percentile(self, percent: float) -> float:
        """Latency at ``percent`` (nearest rank), in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]

    def fail(self, what: str) -> None:
        """Count one failed measured request."""
        self.errors += 1
        self.note(what)

    def note(self, what: str) -> None:
        """Keep the first few errors' descriptions."""
        if len(self.examples) < 3:
            self.examples.append(what)


Check = Callable[[int], Awaitable[str | None]]
"""One request from a lane (its index given): None when the answer is as expected, else what
is wrong with it."""


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) so far of a process and its descendants now alive."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return math.nan
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += float(times.user + times.system)
    return total


def own_cpu() -> float:
    """CPU seconds (user + system) of this process so far: the load generator's."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(
    phase: Phase, one: Check, concurrency: int, server: int, rate: float, args: argparse.Namespace
) -> None:
    """Send requests from ``concurrency`` lanes at once; measure after the warm-up.

    Each lane sends its next request as soon as its last one is answered (a closed loop), or,
    with a ``rate``, the lanes take requests from a schedule of ``rate`` a second (an open
    loop, at most ``concurrency`` under way): a request's latency is then counted from its
    scheduled time, so a server that falls behind shows in it instead of slowing the
    schedule. Measurement begins once ``args.warmup`` seconds have passed and every lane has
    had an answer (with several server workers, each one's first upload starts its
    verification process: slow, and not what is measured), or 30 s more have passed. It
    ends after ``args.seconds``, or after ``args.requests`` measured requests when that comes
    first; requests under way then are waited for and counted. The CPU time the server
    (process ``server`` and its descendants) and this process used while measuring is kept.
    """
    began = time.perf_counter()
    answered = [False] * concurrency
    all_answered = asyncio.Event()
    measuring_since = math.inf
    stopping = False
    last_end = 0.0
    started = 0
    tickets = 0

    async def lane(index: int) -> None:
        nonlocal last_end, started, tickets
        while not stopping:
            if rate:
                scheduled = began + tickets / rate
                tickets += 1
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                if stopping:
                    return
                start = scheduled
            else:
                start = time.perf_counter()
            measured = start >= measuring_since
            if measured:
                if args.requests and started >= args.requests:
                    return
                started += 1
            try:
                problem = await one(index)
            except (
                httpx.HTTPError, OSError, EOFError, TimeoutError, ValueError,
                asyncio.LimitOverrunError,
            ) as error:  # fmt: skip
                problem = f"{type(error).__name__}: {error}"
            end = time.perf_counter()
            if not answered[index]:
                answered[index] = True
                if all(answered):
                    all_answered.set()
            if not measured:
                phase.warmup_requests += 1
                if problem is not None:
                    phase.warmup_errors += 1
                    phase.note(f"in the warm-up: {problem}")
                continue
            last_end = max(last_end, end)
            if problem is None:
                phase.latencies.append(end - start)
            else:
                phase.fail(problem)

    lanes = [asyncio.create_task(lane(index)) for index in range(concurrency)]
    try:
        await asyncio.sleep(args.warmup)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_answered.wait(), timeout=30)
        phase.silent_lanes = answered.count(False)
        measuring_since = time.perf_counter()
        server_cpu, client_cpu = tree_cpu(server), own_cpu()
        phase.warmup_seconds = measuring_since - began
        deadline = measuring_since + args.seconds
        while time.perf_counter() < deadline and not (args.requests and started >= args.requests):
            await asyncio.sleep(0.05)
        stopping = True
        await asyncio.gather(*lanes)
        phase.server_cpu = tree_cpu(server) - server_cpu
        phase.client_cpu = own_cpu() - client_cpu
    finally:
        for task in lanes:
            task.cancel()
    phase.window = last_end - measuring_since
    if phase.requests == 0:
        phase.window = time.perf_counter() - began


class RawConnection:
    """One keep-alive HTTP/1.1 connection for GET requests, one at a time, on asyncio streams.

    The page phase's client: httpx costs milliseconds of CPU per request (its connection pool
    and, without sniffio installed, a failed import per request), which on a machine of two
    cores takes from the server the CPU it is measured on. Only what the site answers is
    read: a status line, headers and a Content-Length body. Reconnects when the server closes.
    """

    def __init__(self, host: str, port: int):
        """Prepare a connection to ``host:port``; it opens on the first request."""
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """The status and body of ``GET path``."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            async with asyncio.timeout(60):
                writer.write(
                    f"GET {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                status = int(lines[0].split(b" ", 2)[1])
                headers = dict(line.lower().split(b":", 1) for line in lines[1:] if b":" in line)
                if b"content-length" not in headers:
                    raise OSError("an answer without Content-Length (not what the site sends)")
                body = await reader.readexactly(int(headers[b"content-length"]))
            if headers.get(b"connection", b"").strip() == b"close":
                self.close()
            return status, body
        except BaseException:
            self.close()  # the next request starts on a new connection
            raise

    def close(self) -> None:
        """Close the connection (a later request opens another)."""
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def page_check(connections: list[RawConnection], letters: list[Letter]) -> Check:
    """GET a random letter's QR page; it must be 200 and name the letter's SHA-256."""

    async def one(lane: int) -> str | None:
        letter = random.choice(letters)
        status, body = await connections[lane].get(f"{LETTER_PATH}/{letter.register_id}")
        return page_problem(letter, status, body)

    return one


def httpx_page_check(client: httpx.AsyncClient, base: str, letters: list[Letter]) -> Check:
    """The same as :func:`page_check`, through httpx (``--page-client httpx``)."""

    async def one(lane: int) -> str | None:
        letter = random.choice(letters)
        response = await client.get(f"{base}{LETTER_PATH}/{letter.register_id}")
        return page_problem(letter, response.status_code, response.content)

    return one


def page_problem(letter: Letter, status: int, body: bytes) -> str | None:
    """What is wrong with a letter's page as answered; None when nothing."""
    if status != 200:
        return f"status {status} for the page of {letter.letter_number}"
    if letter.sha256.encode("ascii") not in body:
        return f"the page of {letter.letter_number} does not name its SHA-256"
    return None


def upload_check(client: httpx.AsyncClient, base: str, letters: list[Letter]) -> Check:
    """POST a random letter's PDF to the API; the verdict must be valid, for its number."""

    async def one(lane: int) -> str | None:
        letter = random.choice(letters)
        response = await client.post(
            f"{base}/api/v1/verify",
            content=letter.pdf,
            headers={"content-type": "application/pdf"},
        )
        if response.status_code != 200:
            return f"status {response.status_code}: {response.text[:200]}"
        report: dict[str, Any] = response.json()
        if report.get("verdict") != "valid":
            failed = [c.get("name") for c in report.get("checks", []) if not c.get("passed")]
            return f"verdict {report.get('verdict')!r} for {letter.letter_number}; failed {failed}"
        if report.get("letter_number") != letter.letter_number:
            return f"letter number {report.get('letter_number')!r}, sent {letter.letter_number}"
        return None

    return one


def httpx_client(concurrency: int) -> httpx.AsyncClient:
    """An httpx client with a connection for each lane."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # trust_env off: a proxy named in the environment must not stand between client and server
    return httpx.AsyncClient(limits=limits, timeout=60, trust_env=False)


async def run_phase(
    phase: Phase, server: subprocess.Popen[bytes], one: Check, concurrency: int, rate: float,
    args: argparse.Namespace,
) -> Phase:  # fmt: skip
    """One phase, with the server's process tree sampled throughout."""
    with TreeSampler(psutil.Process(server.pid)) as sampler:
        await drive(phase, one, concurrency, server.pid, rate, args)
    phase.peak_rss = max((s.total for s in sampler.samples), default=0)
    phase.peak_pss = max((s.pss or 0 for s in sampler.samples), default=0)
    return phase


async def page_phase(
    server: subprocess.Popen[bytes],
    port: int,
    letters: list[Letter],
    args: argparse.Namespace,
    rate: float,
) -> Phase:
    """Phase A through the client chosen: A1 (closed loop) without a ``rate``, else A2."""
    if rate:
        phase = Phase(f"A2. QR page, GET ({args.page_client}, {rate:g}/s)")
    else:
        phase = Phase(f"A1. QR page, GET ({args.page_client}, closed)")
    lanes = args.page_concurrency
    if args.page_client == "httpx":
        async with httpx_client(lanes) as client:
            check = httpx_page_check(client, f"http://127.0.0.1:{port}", letters)
            return await run_phase(phase, server, check, lanes, rate, args)
    connections = [RawConnection("127.0.0.1", port) for _ in range(lanes)]
    try:
        check = page_check(connections, letters)
        return await run_phase(phase, server, check, lanes, rate, args)
    finally:
        for connection in connections:
            connection.close()


async def upload_phase(
    server: subprocess.Popen[bytes], port: int, letters: list[Letter], args: argparse.Namespace
) -> Phase:
    """Phase B, through httpx."""
    lanes = args.upload_concurrency
    async with httpx_client(lanes) as client:
        check = upload_check(client, f"http://127.0.0.1:{port}", letters)
        return await run_phase(Phase("B. verify upload, POST"), server, check, lanes, 0, args)


async def keepalive_probe(port: int, rounds: int = 20) -> tuple[float, float]:
    """Median seconds of a lone ``GET /healthz``: on a new connection, on a reused one.

    Tells the server's own time from a wait in TCP: with Nagle's algorithm left on for the
    server's sockets, an answer on a reused connection waits for the client's delayed ACK.
    """
    fresh, reused = [], []
    for _ in range(rounds):
        connection = RawConnection("127.0.0.1", port)
        start = time.perf_counter()
        await connection.get("/healthz")
        fresh.append(time.perf_counter() - start)
        connection.close()
    connection = RawConnection("127.0.0.1", port)
    await connection.get("/healthz")
    for _ in range(rounds):
        start = time.perf_counter()
        await connection.get("/healthz")
        reused.append(time.perf_counter() - start)
    connection.close()
    return statistics.median(fresh), statistics.median(reused)


# ------------------------------------------------------------------ the baseline


def cli_baseline(letters: list[Letter], root_cert: Path, count: int) -> tuple[Phase, str]:
    """``pyhanko sign validate`` once per file, one after the other, after an untimed run."""
    command, tool = validate_command(root_cert)
    if tool == "pyhanko sign validate":
        command = [*command, "--pretty-print"]
        tool = "pyhanko sign validate --pretty-print"
    files = [letter.path for letter in letters[: max(1, min(count, len(letters)))]]
    phase = Phase(tool)
    subprocess.run([*command, str(files[0])], capture_output=True, check=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    for path in files:
        start = time.perf_counter()
        run = subprocess.run([*command, str(path)], capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if run.returncode == 0:
            phase.latencies.append(elapsed)
        else:
            output = (run.stdout + run.stderr).decode(errors="replace").strip()
            phase.fail(f"exit status {run.returncode} for {path.name}: {output[-300:]}")
    phase.window = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    phase.client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return phase, tool


# ------------------------------------------------------------------ reporting


def ms(seconds: float) -> str:
    """Seconds as milliseconds, for the table."""
    return f"{seconds * 1000:8.1f}"


def row(label: str, phase: Phase, cpu: str, memory: str) -> str:
    """One line of the table."""
    return (
        f"{label:<36} {phase.requests:>8} {phase.rate:>9.2f} {ms(phase.percentile(50))} "
        f"{ms(phase.percentile(90))} {ms(phase.percentile(99))} "
        f"{ms(max(phase.latencies, default=math.nan))} {phase.errors:>7} {cpu:>12}  {memory}"
    )


def describe(phase: Phase, concurrency: int, cores: int, rate: float = 0.0) -> None:
    """Print one phase as soon as it has run (``rate``: the rate it was offered, if any)."""
    server_cpu = phase.cpu_per_request(phase.server_cpu)
    load = (
        f"{rate:g}/s offered (at most {concurrency} under way): achieved"
        if rate
        else f"{concurrency} at once:"
    )
    print(
        f"    {phase.requests} requests in {phase.window:.1f} s (and {phase.warmup_requests} in "
        f"{phase.warmup_seconds:.1f} s of warm-up, not counted), {load} "
        f"{phase.rate:.1f}/s, p50 {phase.percentile(50) * 1000:.1f} ms, p99 "
        f"{phase.percentile(99) * 1000:.1f} ms, max "
        f"{max(phase.latencies, default=math.nan) * 1000:.1f} ms, {phase.errors} errors"
    )
    print(
        f"    server CPU {server_cpu * 1000:.2f} ms per request (all its processes; "
        f"{cores} cores at that cost: at most {cores / server_cpu:.0f}/s with nothing else "
        f"running), load generator {phase.cpu_per_request(phase.client_cpu) * 1000:.2f} ms; "
        f"server peak RSS {phase.peak_rss / MB:.0f} MB (PSS {phase.peak_pss / MB:.0f} MB)"
    )
    if phase.silent_lanes:
        print(
            f"    problem: {phase.silent_lanes} of {concurrency} clients still had no answer "
            f"after {phase.warmup_seconds:.0f} s of warm-up while the others had many: the "
            "server does not take waiting requests in turn"
        )
    for example in phase.examples:
        print(f"    error: {example}")


def target_line(name: str, phase: Phase, target: tuple[float, float], unit: str) -> bool:
    """Print whether a phase met its target; whether it did."""
    rate, p99 = target
    met = phase.rate >= rate and phase.percentile(99) <= p99 and phase.errors == 0
    print(
        f"{name}: {phase.rate:.1f} {unit}/s (target >= {rate:g}), p99 "
        f"{phase.percentile(99) * 1000:.0f} ms (target <= {p99 * 1000:g} ms), "
        f"{phase.errors} errors: {verdict(met)}"
    )
    return met


RATE_TOLERANCE = 0.02
"""A2 must achieve the rate it was offered within this fraction of it."""


def page_target(closed: Phase, paced: Phase | None, offered: float, in_flight: int) -> bool:
    """Print the page target, A1's throughput and A2's latency at its rate; whether it is met."""
    rate, p99 = PAGE_TARGET
    throughput = closed.rate >= rate and closed.errors == 0
    print(
        f"A1. QR page, closed loop: {closed.rate:.1f} requests/s (target >= {rate:g}), "
        f"{closed.errors} errors: {verdict(throughput)}"
    )
    print(
        f"    its p99 ({closed.percentile(99) * 1000:.0f} ms) is not judged: with {in_flight} "
        f"requests always under way the mean latency is {in_flight} / throughput (Little's "
        f"law), {in_flight / closed.rate * 1000:.0f} ms here"
    )
    if paced is None:
        print(
            f"A2. QR page, open loop: skipped (--page-rate 0): the p99 at "
            f"{rate:g} requests/s is not measured"
        )
        print(f"A. QR page (>= {rate:g} requests/s with p99 <= {p99 * 1000:g} ms): NOT JUDGED")
        return False
    kept_up = paced.rate >= offered * (1 - RATE_TOLERANCE)
    latency = paced.percentile(99) <= p99
    clean = paced.errors == 0
    print(
        f"A2. QR page, open loop at {offered:g}/s: achieved {paced.rate:.1f} requests/s "
        f"(target >= {offered * (1 - RATE_TOLERANCE):g}, the offered rate less "
        f"{RATE_TOLERANCE:.0%}), p99 {paced.percentile(99) * 1000:.1f} ms (target <= "
        f"{p99 * 1000:g} ms), {paced.errors} errors: {verdict(kept_up and latency and clean)}"
    )
    if offered != rate:
        print(
            f"A. QR page (>= {rate:g} requests/s with p99 <= {p99 * 1000:g} ms): NOT JUDGED "
            f"(A2 ran at {offered:g}/s, not the target's {rate:g}/s)"
        )
        return False
    met = throughput and kept_up and latency and clean
    print(
        f"A. QR page (>= {rate:g} requests/s with p99 <= {p99 * 1000:g} ms): "
        f"throughput {closed.rate:.1f}/s (A1), p99 {paced.percentile(99) * 1000:.1f} ms at "
        f"{paced.rate:.1f}/s achieved of {offered:g}/s offered (A2): {verdict(met)}"
    )
    return met


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per phase")
    parser.add_argument(
        "--requests", type=int, default=0, help="stop a phase after N measured requests (0: no)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per phase")
    parser.add_argument("--letters", type=int, default=20, help="B-LTA letters issued")
    parser.add_argument("--workers", type=int, default=2, help="docgen serve --workers")
    parser.add_argument(
        "--verifiers", type=int, default=1, help="web.verifiers: verification processes per worker"
    )
    parser.add_argument("--page-concurrency", type=int, default=32, help="page requests at once")
    parser.add_argument(
        "--page-client",
        choices=("raw", "httpx"),
        default="raw",
        help="phase A's client: asyncio streams (light), or httpx (heavy on CPU)",
    )
    parser.add_argument(
        "--page-rate",
        type=float,
        default=PAGE_TARGET[0],
        help="phase A2: page requests/s offered (open loop), the p99 measured at it (0: skip A2)",
    )
    parser.add_argument("--upload-concurrency", type=int, default=4, help="uploads at once")
    parser.add_argument(
        "--cli-files", type=int, default=20, help="letters the pyhanko command validates"
    )
    args = parser.parse_args()
    if args.page_rate < 0:
        parser.error("--page-rate must be 0 (skip A2) or more")
    # a SIGTERM ends the bench through its clean-up (servers stopped, files removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    cores = os.cpu_count() or 1
    print(f"{cores} cores (os.cpu_count), load average before the bench {load_average()}")
    print(
        "note: the load generator runs on this machine, beside the server, and other work on "
        "it (test runs) moves the figures"
    )
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch, ExitStack() as cleanup:
        folder = Path(scratch)
        (folder / "pki").mkdir()
        pki_probe, site_probe = reserve_port(), reserve_port()
        cleanup.callback(site_probe.close)
        pki_port, site_port = port_of(pki_probe), port_of(site_probe)
        pki_probe.close()
        pki = pki_on_port(folder / "pki", pki_port)
        services = start_pki_services(pki, pki_port)
        cleanup.callback(stop, services)
        config = write_config(folder, pki, pki_port, site_port, args.verifiers)
        letters, seconds = issue_letters(config, args.letters)
        print(
            f"issued {len(letters)} B-LTA letters (HTML examples) in {seconds:.1f} s "
            f"({seconds / len(letters):.2f} s each), PKI services on port {pki_port}"
        )
        server = serve(config, site_probe, args.workers, folder / "serve.log")
        cleanup.callback(stop_server, server)
        base = f"http://127.0.0.1:{site_port}"
        resting = TreeSampler(psutil.Process(server.pid))
        resting.sample()
        rest = resting.samples[-1].total if resting.samples else 0
        print(
            f"docgen serve --workers {args.workers} (web.verifiers = {args.verifiers}) ready "
            f"at {base}; server tree at rest {rest / MB:.0f} MB RSS"
        )

        fresh, reused = asyncio.run(keepalive_probe(site_port))
        print(
            f"one GET /healthz at a time: {fresh * 1000:.1f} ms on a new connection, "
            f"{reused * 1000:.1f} ms on a reused (keep-alive) one (medians)"
        )
        if reused > 0.02 and reused > 3 * fresh:
            print(
                "    problem: answers on a reused connection wait ~40 ms for the client's "
                "delayed ACK: the server's sockets have Nagle's algorithm on (uvicorn leaves "
                "TCP_NODELAY off with --workers > 1, uvicorn issue #3149); keep-alive clients, "
                "a reverse proxy among them, see it on every request"
            )

        print(
            f"A1. GET the QR page of a random letter, {args.page_concurrency} at once "
            f"({args.page_client} client, closed loop: the throughput)"
        )
        closed = asyncio.run(page_phase(server, site_port, letters, args, 0.0))
        describe(closed, args.page_concurrency, cores)
        paced = None
        if args.page_rate:
            print(
                f"A2. GET the QR page of a random letter, {args.page_rate:g}/s offered "
                f"({args.page_client} client, open loop: the latency at that rate)"
            )
            paced = asyncio.run(page_phase(server, site_port, letters, args, args.page_rate))
            describe(paced, args.page_concurrency, cores, args.page_rate)
        print(f"B. POST /api/v1/verify a random letter, {args.upload_concurrency} at once")
        upload = asyncio.run(upload_phase(server, site_port, letters, args))
        describe(upload, args.upload_concurrency, cores)
        # stopped before the baseline runs, so that the command has the machine to itself
        stop_server(server)

        print(
            "baseline: the pyhanko command line, one file after another, the PKI's services "
            f"answering its revocation requests (load {load_average()})"
        )
        cli, tool = cli_baseline(letters, pki.root_cert, args.cli_files)
        describe_cli(cli)

    return report(args, closed, paced, upload, cli, tool, cores)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop ``docgen serve``, saying so when some of its processes had to be stopped by id."""
    left = stop(server)
    if left:
        print(f"problem: server processes outlived it, stopped by id: {', '.join(left)}")


def describe_cli(cli: Phase) -> None:
    """Print the baseline as soon as it has run."""
    print(
        f"    {cli.requests} files in {cli.window:.1f} s: {cli.rate:.2f} letters/s, p50 "
        f"{cli.percentile(50) * 1000:.0f} ms, p99 {cli.percentile(99) * 1000:.0f} ms, "
        f"{cli.errors} failed"
    )
    for example in cli.examples:
        print(f"    failed: {example}")


def report(
    args: argparse.Namespace,
    closed: Phase,
    paced: Phase | None,
    upload: Phase,
    cli: Phase,
    tool: str,
    cores: int,
) -> int:
    """The final table, the targets, the ratio to the baseline; the exit status."""
    pages = [closed] if paced is None else [closed, paced]
    print()
    print(f"load average after the bench {load_average()}")
    header = (
        f"{'':<36} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>7} {'CPU ms/req':>12}  server peak memory"
    )
    print(header)
    print("-" * len(header))
    for phase in (*pages, upload):
        memory = f"{phase.peak_rss / MB:.0f} MB RSS ({phase.peak_pss / MB:.0f} MB PSS)"
        cpu = f"{phase.cpu_per_request(phase.server_cpu) * 1000:.2f}"
        print(row(phase.name, phase, cpu, memory))
    cpu = f"{cli.cpu_per_request(cli.client_cpu) * 1000:.2f}"
    print(row(f"baseline: {tool.split(' --')[0]}", cli, cpu, "(one process per file)"))
    print(
        "(CPU ms/req: CPU time of the server's processes per request while measuring; for the "
        "baseline, of the command's processes)"
    )
    print()
    page_target(closed, paced, args.page_rate, args.page_concurrency)
    target_line("B. verify upload", upload, UPLOAD_TARGET, "letters")
    ratio = upload.rate / cli.rate if cli.rate > 0 else math.nan
    print(
        f"site / {tool}: {ratio:.1f}x the letters per second ({upload.rate:.1f} against "
        f"{cli.rate:.2f})"
    )
    site_cpu, cli_cpu = (
        upload.cpu_per_request(upload.server_cpu),
        cli.cpu_per_request(cli.client_cpu),
    )
    print(
        f"    by CPU time per letter, which other work on the machine moves less: "
        f"{cli_cpu / site_cpu:.1f}x ({site_cpu * 1000:.0f} ms against {cli_cpu * 1000:.0f} ms)"
    )
    print(
        f"    not like for like: the site verifies more than the command (the register entry, "
        f"the file's structure, revocation from the embedded data) and runs {args.workers} "
        f"server workers with {args.verifiers} verification process(es) each on {cores} cores; "
        "the command validates one file at a time, a new process each"
    )
    page_failed = sum(phase.errors + phase.warmup_errors for phase in pages)
    upload_failed = upload.errors + upload.warmup_errors
    failed = page_failed > 0 or upload_failed > 0
    if failed:
        print()
        print("!" * 78)
        print(
            f"!!! FAILURES: {page_failed} page requests and {upload_failed} uploads failed "
            "(warm-up included): no answer within 60 s, an error status, the wrong page, or a "
            "verdict other than 'valid' for the letter sent"
        )
        for example in (*(e for phase in pages for e in phase.examples), *upload.examples):
            print(f"!!!   {example}")
        print("!" * 78)
    if cli.errors:
        print(f"note: the pyhanko command failed on {cli.errors} file(s): its figures are off")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
