"""``docgen render``: unsigned drafts, stamped as drafts, for review before issuing."""

from __future__ import annotations

from pathlib import Path

import click

from docgen.cli import _Failures, _Options, pass_options, request_files
from docgen.files import write_atomic
from docgen.models import LetterRequest

__all__ = ["render"]


@click.command()
@request_files
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PDF to write (one request only).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the drafts, each named after its request file.",
)
@pass_options
def render(
    options: _Options, requests: tuple[Path, ...], output: Path | None, out_dir: Path | None
) -> None:
    """Render REQUEST.json files as unsigned drafts (PDF/A, stamped KONSEP).

    A request that fails validation is reported with every field at fault and no file is
    written for it; the other requests are still rendered. Exit status 65 if any failed.
    """
    if output is not None and (len(requests) > 1 or out_dir is not None):
        raise click.UsageError("-o/--output takes exactly one request; use --out-dir for several")
    if output is None and out_dir is None:
        raise click.UsageError("say where to write: -o FILE or --out-dir DIR")
    failures = _Failures()
    from docgen.render import Renderer  # WeasyPrint and LibreOffice: imported when used

    with Renderer(options.settings) as renderer:
        for path in requests:
            with failures.guard(path):
                target = output or (out_dir or Path()) / f"{path.stem}.pdf"
                request = LetterRequest.from_json(path.read_bytes(), source=str(path))
                letter = renderer.render_draft(request, source=str(path))
                write_atomic(target, letter.pdf)
                outcome = request.decision.outcome.value
                click.echo(f"{target}  ({letter.service.code}, {outcome}, draft)")
    failures.exit_if_any()
