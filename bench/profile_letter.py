"""Where a letter's CPU time goes: per stage, for HTML and DOCX letters, at PAdES B-B and B-LTA.

The first deliverable of "profile first, then cut": no target, just the split. For each format
(the bundled examples ``ilmate-pertek-baja-approved.json`` for HTML, ``ikft-pertek-ban-approved
.json`` for DOCX) and each level, letters are issued by making the calls ``Issuer.issue`` makes,
in its order, each timed with ``time.process_time()``:

========================  ==============================================================
stage                     calls
========================  ==============================================================
validate                  ``LetterRequest.from_json``, ``Catalogue.check_request``, the
                          signatory against the key (once, by the Issuer)
number                    ``Register.reserve``
context                   ``build_context``
template                  ``HtmlRenderer.to_html`` / ``DocxRenderer.to_docx``
layout                    HTML: WeasyPrint's ``HTML.render``
draw + PDF write          HTML: WeasyPrint's ``Document.write_pdf``: pages painted, PDF built
font subsetting           HTML: WeasyPrint's ``build_fonts_dictionary`` (subsets, embeds)
conversion                DOCX: ``LibreOfficeConverter.docx_to_pdf``: this process (the UNO
                          bridge) and, as a row of its own, the LibreOffice process's CPU
                          (psutil); import, layout and PDF export happen inside LibreOffice
                          in one call and cannot be told apart from outside
compaction                DOCX: ``docgen.render.docx.compact``: object streams (qpdf), for
                          PDFs of 256 KB or more only
attachment + metadata     in ``PadesSigner.sign``'s one update: the letter opened with its
                          XMP kept (``open_update``), the request JSON embedded
QR + anchors              ``place_qr_and_signature`` (anchors found, QR drawn)
appearance                the signature's look: ``signature_appearance`` (WeasyPrint, cached
                          per official and minute) and its import as a form
signature                 the rest of ``PadesSigner.sign``: pyHanko's field, CMS, hashing,
                          RSA signing, the one incremental write
timestamps                B-LTA: the timestamp requests (signature and document timestamps)
validation data           B-LTA: the per-letter validation context, pyHanko's pre-signing
                          chain and revocation check, and the DSS + document-timestamp
                          revision (its timestamp request counted under timestamps)
register                  the SHA-256 digests (``pades._signed``) and ``Register.mark_issued``
file write                ``write_pending``, the taken-name checks, the move into place
========================  ==============================================================

The stages inside a library call (WeasyPrint, pyHanko, the converter) are split by wrapping the
named functions for the run; a wrapped function counts only inside the stage it belongs to, so
the signature appearance's own WeasyPrint run is not counted as the letter's layout. Nested
stages are taken out of their parent. The demo PKI's services (timestamps, OCSP, CRLs) run in a
process of their own, whose CPU is shown under the table, outside the letter's total. Another
process's CPU is read from the kernel in clock ticks (10 ms), so those rows are exact only as
means over many letters.

The first letters of each combination are warm-up and not counted (``--warmup``): they start
LibreOffice, load fonts and fetch revocation data. Per combination, a few letters are then also
issued through ``Issuer.issue`` itself, to check that the stages add up to what it costs.

Set-up: a copy of the demo PKI served on a free port, a temporary register and output folder per
combination, one warm ``Renderer`` for the whole run. Everything is stopped and removed at the end.

Run: ``.venv/bin/python bench/profile_letter.py [--letters N] [--formats html,docx]
[--levels B-B,B-LTA] [--warmup N] [--check N]``
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil
import weasyprint
import weasyprint.document
import weasyprint.pdf
from pyhanko.sign.signers import pdf_signer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the demo PKI and the examples' dates (scripts/)

import docgen.sign.appearance  # noqa: E402
import docgen.sign.pades  # noqa: E402
from docgen.catalogue import TemplateFormat  # noqa: E402
from docgen.config import Settings  # noqa: E402
from docgen.context import build_context  # noqa: E402
from docgen.files import pending_path, write_pending  # noqa: E402
from docgen.formatting import today_in  # noqa: E402
from docgen.models import LetterRequest  # noqa: E402
from docgen.pipeline import (  # noqa: E402
    Issuer,
    _holders,
    _move_into_place,
    _record_issued,
    _refuse_taken,
    letter_path,
    request_hash,
)
from docgen.register import Register  # noqa: E402
from docgen.render import Renderer  # noqa: E402
from docgen.render.docx import compact  # noqa: E402
from docgen.sign import PadesSigner, open_backend  # noqa: E402
from docgen.sign.services import TrustServices, _TimeStamper  # noqa: E402
from scripts.demo_examples import WRITTEN_FOR, shifted  # noqa: E402
from scripts.demo_pki import DemoPki, demo_officials  # noqa: E402
from scripts.pki_services import (  # noqa: E402
    pki_on_port,
    services_url,
    start_pki_services,
    stop_process,
)

EXAMPLES = {
    "html": ROOT / "examples" / "ilmate-pertek-baja-approved.json",
    "docx": ROOT / "examples" / "ikft-pertek-ban-approved.json",
}
LEVELS = ("B-B", "B-LTA")
LIBREOFFICE = "conversion: LibreOffice process"

# The table's order; a stage that a combination never reaches is left out of its table.
STAGES = (
    "validate",
    "number",
    "context",
    "template",
    "layout",
    "draw + PDF write",
    "font subsetting",
    "conversion: this process (UNO)",
    LIBREOFFICE,
    "compaction",
    "attachment + metadata",
    "QR + anchors",
    "appearance",
    "signature",
    "timestamps",
    "validation data",
    "register",
    "file write",
)


# ------------------------------------------------------------------ the stage clock


@dataclass
class Clock:
    """CPU seconds of this process per stage; a stage nested in another is taken out of it."""

    totals: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    counting: bool = True
    _stack: list[list[Any]] = field(default_factory=list)

    def current(self) -> str | None:
        """The innermost stage being timed, if any."""
        return self._stack[-1][0] if self._stack else None

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """Time a stage; what nested stages took is theirs, not this one's."""
        self._stack.append([label, 0.0])
        start = time.process_time()
        try:
            yield
        finally:
            elapsed = time.process_time() - start
            _, nested = self._stack.pop()
            if self.counting:
                self.totals[label] += elapsed - nested
            if self._stack:
                self._stack[-1][1] += elapsed

    def add(self, label: str, seconds: float) -> None:
        """Count CPU time measured elsewhere (another process) under a stage."""
        if self.counting:
            self.totals[label] += seconds


def probe(
    stack: ExitStack, clock: Clock, owner: Any, name: str, label: str, within: set[str]
) -> None:
    """Wrap ``owner.name`` for the run: inside one of the ``within`` stages it is ``label``.

    Elsewhere (the signature appearance's own WeasyPrint run, say) the wrapper only passes the
    call on, so the time stays with the stage that made it.
    """
    original = inspect.getattr_static(owner, name)
    function = original.__func__ if isinstance(original, staticmethod) else original
    if inspect.iscoroutinefunction(function):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            if clock.current() not in within:
                return await function(*args, **kwargs)
            with clock.stage(label):
                return await function(*args, **kwargs)

        wrapper: Callable[..., Any] = functools.wraps(function)(timed_async)
    else:

        def timed(*args: Any, **kwargs: Any) -> Any:
            if clock.current() not in within:
                return function(*args, **kwargs)
            with clock.stage(label):
                return function(*args, **kwargs)

        wrapper = functools.wraps(function)(timed)
    setattr(owner, name, staticmethod(wrapper) if isinstance(original, staticmethod) else wrapper)
    stack.callback(setattr, owner, name, original)


def install_probes(stack: ExitStack, clock: Clock) -> None:
    """Split the library calls into stages for as long as ``stack`` is open."""
    html = {"html to PDF"}
    # weasyprint.HTML.write_pdf is render() then Document.write_pdf(), which builds the fonts
    # dictionary (subsetting every font) through weasyprint.pdf's own global name
    probe(stack, clock, weasyprint.HTML, "render", "layout", html)
    probe(stack, clock, weasyprint.document.Document, "write_pdf", "draw + PDF write", html)
    probe(
        stack,
        clock,
        weasyprint.pdf,
        "build_fonts_dictionary",
        "font subsetting",
        {"draw + PDF write"},
    )
    sign = {"signature"}
    pades = docgen.sign.pades
    probe(stack, clock, pades, "open_update", "attachment + metadata", sign)
    probe(stack, clock, pades, "embed_request", "attachment + metadata", sign)
    probe(stack, clock, pades, "place_qr_and_signature", "QR + anchors", sign)
    probe(stack, clock, pades, "signature_appearance", "appearance", sign)
    probe(stack, clock, docgen.sign.appearance.PdfPageContent, "render", "appearance", sign)
    probe(stack, clock, pades, "_signed", "register", sign)
    probe(stack, clock, TrustServices, "validation_context", "validation data", sign)
    probe(
        stack,
        clock,
        pdf_signer.PdfSigningSession,
        "perform_presign_validation",
        "validation data",
        sign,
    )
    probe(
        stack,
        clock,
        pdf_signer.PdfPostSignatureDocument,
        "post_signature_processing",
        "validation data",
        sign,
    )
    probe(stack, clock, _TimeStamper, "async_timestamp", "timestamps", sign | {"validation data"})


# ------------------------------------------------------------------ other processes


def cpu_seconds(process: psutil.Process | None) -> float:
    """A process's CPU seconds so far (user + system), 0 when it is gone."""
    if process is None:
        return 0.0
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def libreoffice(renderer: Renderer) -> psutil.Process | None:
    """The LibreOffice the renderer's converter uses, if it runs."""
    pid = renderer.converter.pid
    try:
        return psutil.Process(pid) if pid else None
    except psutil.Error:
        return None


# ------------------------------------------------------------------ set-up


def free_port() -> int:
    """A loopback port free at the moment of asking."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def settings_for(folder: Path, pki: DemoPki, port: int, level: str) -> Settings:
    """Settings of one combination: its own register and output, the private PKI's keys."""
    passphrase = str(folder.parent / "pki" / "passphrase")
    keys = {
        code: {"pkcs12": str(pki.p12[f"signer-{code.lower()}"]), "passphrase_file": passphrase}
        for code in ("AGRO", "IKFT", "ILMATE")
    }
    return Settings.load(
        output=str(folder / "letters"),
        letter_register={"path": str(folder / "register.sqlite3")},
        signing={
            "level": level,
            "timestamp_url": services_url(port, "tsa/tsa") if level != "B-B" else "",
            "keys": keys,
            "officials": demo_officials(),
        },
        verification={"trust": [str(pki.root_cert)]},
    )


def raw_requests(kind: str, count: int, tag: str, today: date) -> list[bytes]:
    """``count`` JSON copies of the format's example, each with its own request id.

    Dated for today, as the demo does, once the example has expired.
    """
    data = json.loads(EXAMPLES[kind].read_text("utf-8"))
    until = data.get("valid_until")
    days = max(0, (today - WRITTEN_FOR).days) if until and until < today.isoformat() else 0
    data = shifted(data, days)
    return [
        json.dumps(
            {**data, "request_id": f"{data['request_id']}-PROFILE-{tag}-{index:04d}"}
        ).encode()
        for index in range(count)
    ]


# ------------------------------------------------------------------ one letter, step by step


def issue_in_stages(
    raw: bytes,
    clock: Clock,
    settings: Settings,
    renderer: Renderer,
    register: Register,
    pades: PadesSigner,
    backends: dict[str, Any],
) -> None:
    """Issue one letter with ``Issuer.issue``'s calls in its order, each under its stage."""
    zone = ZoneInfo(settings.signing.timezone)
    with clock.stage("validate"):
        request = LetterRequest.from_json(raw)
        today = datetime.now(zone).date()
        service = renderer.catalogue.check_request(request, today=today)
        backend = backends[service.directorate_general]
        _holders(service.directorate_general, backend, settings).check(request.signatory)
    with clock.stage("number"):
        record = register.reserve(
            request, service.numbering(today), request_hash(request), issued_on=today
        )
    path = letter_path(settings.output, record)
    pending = pending_path(path, record.register_id)
    with clock.stage("file write"):
        _refuse_taken(path, record)
    url = settings.esign.verification_base_url + record.register_id
    # Renderer.render_final, step by step (the request checked already)
    with clock.stage("context"):
        context = build_context(
            request,
            service,
            settings,
            number=record.letter_number,
            letter_date=record.issued_on,
            verification_url=url,
        )
    template = service.template_for(request.decision.outcome)
    if service.format is TemplateFormat.HTML:
        with clock.stage("template"):
            html = renderer.html.to_html(template, context)
        with clock.stage("html to PDF"):  # split by the WeasyPrint probes
            rendered = renderer.html.html_to_pdf(html)
    else:
        with clock.stage("template"):
            docx = renderer.docx.to_docx(template, context)
        office = libreoffice(renderer)
        before = cpu_seconds(office)
        with clock.stage("conversion: this process (UNO)"):
            rendered = renderer.converter.docx_to_pdf(docx)
        after = libreoffice(renderer)
        if office is not None and after is not None and after.pid == office.pid:
            clock.add(LIBREOFFICE, cpu_seconds(after) - before)
        elif clock.counting:
            print("    note: LibreOffice was (re)started during a measured letter")
            clock.add(LIBREOFFICE, cpu_seconds(after))
        with clock.stage("compaction"):
            rendered = compact(rendered)
    with clock.stage("signature"):  # split by the pyHanko and PadesSigner probes
        signed = pades.sign(rendered, backend, request.signatory, url, attach=request)
    with clock.stage("file write"):
        write_pending(path, signed.pdf, record.register_id)
        _refuse_taken(path, record)
    with clock.stage("register"):
        record = _record_issued(register, record, signed, path, request, service)
    with clock.stage("file write"):
        _move_into_place(pending, path, record)


# ------------------------------------------------------------------ one combination


@dataclass
class Result:
    """One format and level: CPU per stage, wall time, and the Issuer's own cost for checking."""

    kind: str
    level: str
    letters: int
    totals: dict[str, float]
    wall: float
    services: float
    issuer_cpu: float | None
    issuer_wall: float | None


def profile(
    kind: str,
    level: str,
    args: argparse.Namespace,
    scratch: Path,
    pki: DemoPki,
    port: int,
    renderer: Renderer,
    services: psutil.Process,
) -> Result:
    """Profile one format at one level."""
    folder = scratch / f"{kind}-{level}"
    folder.mkdir()
    settings = settings_for(folder, pki, port, level)
    today = today_in(settings.signing.timezone)
    raw = raw_requests(kind, args.warmup + args.letters + args.check + 1, level, today)
    clock = Clock()
    backends = {code: open_backend(key) for code, key in settings.signing.keys.items()}
    pades = PadesSigner(settings)
    register = Register.create(settings.letter_register.path)
    wall = service_cpu = 0.0
    try:
        with ExitStack() as probes:
            install_probes(probes, clock)
            for index, request in enumerate(raw[: args.warmup + args.letters]):
                clock.counting = index >= args.warmup
                before_services = cpu_seconds(services)
                start = time.perf_counter()
                issue_in_stages(request, clock, settings, renderer, register, pades, backends)
                if clock.counting:
                    wall += time.perf_counter() - start
                    service_cpu += cpu_seconds(services) - before_services
    finally:
        register.close()
    issuer_cpu = issuer_wall = None
    if args.check:
        # the real Issuer, with the same renderer: what the stages above should add up to; its
        # first letter fetches the revocation data again (a new PadesSigner), so it is not counted
        with Issuer(settings, renderer=renderer) as issuer:
            first, *rest = raw[args.warmup + args.letters :]
            issuer.issue(LetterRequest.from_json(first))
            cpu = elapsed = 0.0
            for request in rest:
                office = libreoffice(renderer)
                before_office, before = cpu_seconds(office), time.process_time()
                start = time.perf_counter()
                issuer.issue(LetterRequest.from_json(request))
                elapsed += time.perf_counter() - start
                cpu += time.process_time() - before + cpu_seconds(office) - before_office
        issuer_cpu, issuer_wall = cpu / args.check, elapsed / args.check
    return Result(
        kind, level, args.letters, dict(clock.totals), wall, service_cpu, issuer_cpu, issuer_wall
    )


def report(result: Result) -> None:
    """Print one combination's table."""
    n = result.letters
    total = sum(result.totals.values())
    print(f"\n{result.kind.upper()} letter, PAdES {result.level}: CPU per letter, mean of {n}")
    print(f"  {'stage':<34} {'ms/letter':>10} {'share':>7}")
    for stage in STAGES:
        seconds = result.totals.get(stage, 0.0)
        # a stage under 0.05 ms is one that does nothing at this level (pre-sign validation at
        # B-B): left out rather than shown as noise
        if seconds / n >= 0.00005:
            print(f"  {stage:<34} {seconds / n * 1000:10.1f} {seconds / total:7.1%}")
    print(f"  {'total CPU':<34} {total / n * 1000:10.1f} {1:7.1%}")
    print(f"  {'wall time':<34} {result.wall / n * 1000:10.1f}")
    if result.level != "B-B":
        print(
            f"  not counted above: the PKI services' own process (timestamps, OCSP, CRLs) "
            f"{result.services / n * 1000:.1f} ms CPU/letter"
        )
    if result.issuer_cpu is not None and result.issuer_wall is not None:
        print(
            f"  check, Issuer.issue itself: {result.issuer_cpu * 1000:.1f} ms CPU, "
            f"{result.issuer_wall * 1000:.1f} ms wall per letter"
        )


def main() -> None:
    """Profile every chosen format and level, print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10, help="measured letters per table")
    parser.add_argument("--warmup", type=int, default=2, help="letters first, not measured")
    parser.add_argument("--check", type=int, default=3, help="letters through Issuer.issue")
    parser.add_argument("--formats", default="html,docx", help="html, docx or both")
    parser.add_argument("--levels", default=",".join(LEVELS), help="B-B, B-LTA or both")
    args = parser.parse_args()
    kinds = [kind.strip().lower() for kind in args.formats.split(",") if kind.strip()]
    levels = [level.strip().upper() for level in args.levels.split(",") if level.strip()]
    if not set(kinds) <= set(EXAMPLES) or not set(levels) <= set(LEVELS) or args.letters < 1:
        parser.error("formats are html and docx, levels B-B and B-LTA, at least one letter")
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="profile-letter-") as scratch, ExitStack() as stack:
        folder = Path(scratch)
        (folder / "pki").mkdir()
        port = free_port()
        pki = pki_on_port(folder / "pki", port)
        service = start_pki_services(pki, port)
        stack.callback(stop_process, service)
        services = psutil.Process(service.pid)
        renderer = stack.enter_context(Renderer(Settings.load()))
        for kind in kinds:
            for level in levels:
                results.append(profile(kind, level, args, folder, pki, port, renderer, services))
    for result in results:
        report(result)
    print(f"\nrun time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
