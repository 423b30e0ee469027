"""Rendering benchmark: docgen's warm paths against the plain way, in one run.

Renders the reference letters (two pages, twelve items) and prints, per path, the median time
per letter and the ratio:

- DOCX: docgen's warm LibreOffice converter against one cold ``soffice --convert-to pdf`` per
  document, both exporting PDF/A-3b with the same options (target: warm at least 5x faster);
- HTML: docgen's HTML render (warm fonts, stylesheet parsed once, PDF/A, request attached)
  against a plain default WeasyPrint ``write_pdf`` of the same HTML and stylesheet
  (target: docgen at most 0.6x the plain time);
- DOCX, no target: the warm converter with LibreOffice on jemalloc (docgen's default) against
  the same with the system's allocator (``converter.jemalloc = false``).

Run: ``.venv/bin/python bench/bench_render.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import weasyprint
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen.config import Settings
from docgen.context import build_context
from docgen.models import LetterRequest
from docgen.render import Renderer
from docgen.render.converter import PDFA_FILTER_DATA, LibreOfficeConverter
from docgen.render.html import STYLESHEET
from docgen.render.pdf import finish

ROOT = Path(__file__).resolve().parents[1]
HTML_REFERENCE = ROOT / "examples" / "ilmate-pertek-baja-approved.json"
DOCX_REFERENCE = ROOT / "examples" / "ikft-pertek-ban-approved.json"


def compare(
    docgen: Callable[[], object], plain: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median wall times of both, after a warm-up call each, with the rounds interleaved.

    Interleaving keeps a drift in machine load (another process, CPU frequency) from favouring
    whichever side happened to run first.
    """
    docgen()
    plain()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for work, into in ((docgen, times[0]), (plain, times[1])):
            start = time.perf_counter()
            work()
            into.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def libreoffice_cpu(
    converter: LibreOfficeConverter, work: Callable[[], object], rounds: int
) -> float:
    """CPU seconds (user + system) of the converter's LibreOffice process per call of ``work``."""

    def cpu_seconds() -> float:
        assert converter.pid is not None  # psutil.Process(None) would be this process
        times = psutil.Process(converter.pid).cpu_times()
        return float(times.user + times.system)

    work()  # started, and the process id known
    before = cpu_seconds()
    for _ in range(rounds):
        work()
    return (cpu_seconds() - before) / rounds


def report(name: str, docgen: float, plain: float, target: str, met: bool) -> None:
    """Print one comparison line."""
    print(
        f"{name:<6} docgen {docgen * 1000:8.1f} ms   plain {plain * 1000:8.1f} ms   "
        f"docgen/plain {docgen / plain:5.2f}x   plain/docgen {plain / docgen:5.1f}x   "
        f"target {target}: {'met' if met else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per measurement")
    args = parser.parse_args()
    settings = Settings.load()

    with Renderer(settings) as renderer, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)

        # HTML: the same merged HTML and stylesheet through both
        request = LetterRequest.from_json(HTML_REFERENCE.read_bytes())
        service = renderer.catalogue.get(request.service)
        context = build_context(request, service, settings, number="1/ILMATE/PERTEK/XII/2026")
        html = renderer.html.to_html(service.template_approved, context)
        base_url = renderer.catalogue.root.resolve().as_uri() + "/"
        stylesheet = renderer.catalogue.root / STYLESHEET

        def plain_html() -> bytes:
            document = weasyprint.HTML(string=html, base_url=base_url)
            pdf: bytes = document.write_pdf(stylesheets=[weasyprint.CSS(filename=stylesheet)])
            return pdf

        def docgen_html() -> bytes:
            return finish(renderer.html.html_to_pdf(html), attach=request)

        pages = len(PdfFileReader(io.BytesIO(docgen_html())).root["/Pages"]["/Kids"])
        html_docgen, html_plain = compare(docgen_html, plain_html, args.rounds)

        # DOCX: the same merged document through both
        request = LetterRequest.from_json(DOCX_REFERENCE.read_bytes())
        service = renderer.catalogue.get(request.service)
        context = build_context(request, service, settings, number="1/IKFT/PERTEK-BAN/XII/2026")
        docx = renderer.docx.to_docx(service.template_approved, context)
        source = work / "letter.docx"
        source.write_bytes(docx)
        soffice = shutil.which(settings.converter.soffice) or "soffice"
        profile = (work / "profile").as_uri()

        # the same PDF/A export options as the warm converter, in soffice's JSON syntax
        options = {
            name: {"type": "boolean", "value": str(value).lower()}
            if isinstance(value, bool)
            else {"type": "long", "value": str(value)}
            for name, value in PDFA_FILTER_DATA.items()
        }
        target = f"pdf:writer_pdf_Export:{json.dumps(options)}"

        def cold_soffice() -> None:
            subprocess.run(
                [soffice, f"-env:UserInstallation={profile}", "--headless",
                 "--convert-to", target, "--outdir", str(work), str(source)],
                check=True, capture_output=True,
            )  # fmt: skip

        def warm_converter() -> bytes:
            return renderer.converter.docx_to_pdf(docx)

        docx_docgen, docx_plain = compare(warm_converter, cold_soffice, max(3, args.rounds // 2))

        # the same warm conversion with LibreOffice on the system's allocator instead of jemalloc
        no_jemalloc = settings.converter.model_copy(update={"jemalloc": False})
        with LibreOfficeConverter(no_jemalloc) as system_malloc:

            def warm_system_malloc() -> bytes:
                return system_malloc.docx_to_pdf(docx)

            jemalloc, system = compare(warm_converter, warm_system_malloc, args.rounds)
            # LibreOffice's own CPU per letter: what two workers sharing the cores compete for
            jemalloc_cpu = libreoffice_cpu(renderer.converter, warm_converter, args.rounds)
            system_cpu = libreoffice_cpu(system_malloc, warm_system_malloc, args.rounds)

    print(f"reference letters (12 items): HTML {pages} pages; {args.rounds} rounds, interleaved")
    report("DOCX", docx_docgen, docx_plain, ">= 5x faster", docx_plain / docx_docgen >= 5)
    report("HTML", html_docgen, html_plain, "<= 0.6x time", html_docgen / html_plain <= 0.6)
    print(
        f"DOCX   warm converter, LibreOffice with jemalloc {jemalloc * 1000:6.1f} ms, with the "
        f"system's malloc {system * 1000:6.1f} ms: {1 - jemalloc / system:4.0%} less time; "
        f"LibreOffice's CPU per letter {jemalloc_cpu * 1000:5.1f} ms against "
        f"{system_cpu * 1000:5.1f} ms: {1 - jemalloc_cpu / system_cpu:4.0%} less"
    )


if __name__ == "__main__":
    main()
