"""``docgen batch``: the day's decisions in one command, safely resumable."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import click

from docgen.batch import (
    BatchInterrupted,
    BatchRunner,
    BatchSummary,
    InputFormat,
    ManifestRow,
    Record,
    count_records,
    read_records,
)
from docgen.cli import _Options, level_option, pass_options, with_level
from docgen.cli.issue import terminal_prompt
from docgen.config import Settings
from docgen.sign import read_passphrase

__all__ = ["batch"]


class _Reporter:
    """Progress: a bar redrawn in place on a terminal, plain lines every few seconds otherwise."""

    def __init__(self, total: int | None, *, quiet: bool, interval: float = 5.0):
        self.total = total
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.interval = 0.1 if self.tty else interval
        self.last = 0.0

    def __call__(self, summary: BatchSummary, *, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self.last < self.interval):
            return
        self.last = now
        done = summary.total
        rate = done / summary.seconds if summary.seconds > 0 else 0.0
        parts = [f"{done}" + (f"/{self.total}" if self.total else "") + " done"]
        parts.append(f"{summary.failed} with problems")
        parts.append(f"{rate:.1f}/s")
        if self.total and rate > 0:
            left = max(0.0, (self.total - done) / rate)
            parts.append(f"{int(left // 60)}:{int(left % 60):02d} left")
        line = ", ".join(parts)
        if self.tty:
            width = 30
            filled = int(width * done / self.total) if self.total else 0
            bar = "#" * filled + "." * (width - filled) if self.total else ""
            click.echo(f"\r[{bar}] {line}   ", nl=final, err=True)
        else:
            click.echo(line, err=True)


def _asked_passphrases(settings: Settings) -> dict[str, str]:
    """Ask on the terminal for every key whose passphrase has no variable or file."""
    asked = {}
    for directorate, key in settings.signing.keys.items():
        if read_passphrase(key) is None:
            asked[directorate] = terminal_prompt(str(key.pkcs12 or key.key or key.token_label))
    return asked


@click.command()
@click.argument("source", type=click.Path(exists=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the letters (by DG/service/date); default from the settings.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in InputFormat]),
    help="Input format; by default from the name: a folder, *.csv, else JSON Lines.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes [default: cores].")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Manifest file [default: OUT/manifest-<input name>.jsonl].",
)
@click.option("--dry-run", is_flag=True, help="Validate every record; issue nothing.")
@click.option(
    "--libreoffice-per-worker",
    is_flag=True,
    help="One LibreOffice per worker, not one shared: DOCX-heavy runs go faster, with "
    "about 150-200 MB more memory per worker.",
)
@click.option(
    "--ordered",
    is_flag=True,
    help="Number the letters in the input's order (by default, in the order their workers "
    "reach the register, before rendering and signing: nearly the input's order).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@level_option
@pass_options
def batch(
    options: _Options,
    source: Path,
    out_dir: Path | None,
    fmt: str | None,
    workers: int | None,
    manifest: Path | None,
    dry_run: bool,
    libreoffice_per_worker: bool,
    ordered: bool,
    quiet: bool,
    level: str | None,
) -> None:  # fmt: skip
    """Issue letters for every request in SOURCE (JSON Lines, CSV, a folder, or - for stdin).

    Every record ends issued, already issued (skipped), revoked (issued earlier, revoked
    since), invalid or failed, with its reason in the manifest; a bad record never stops the
    rest. Running the same command again after a crash finishes the job without issuing
    anything twice. Exit status 1 if any record failed.
    Ctrl-C or SIGTERM stops after the letters in progress (exit status 130 or 143).
    """
    settings = with_level(options.settings, level)
    path = None if str(source) == "-" else source
    if path is not None and not path.exists():
        raise click.BadParameter(f"{source} does not exist", param_hint="SOURCE")
    input_format = InputFormat(fmt) if fmt else None
    if path is None and input_format is InputFormat.FOLDER:
        raise click.BadParameter("standard input cannot be a folder", param_hint="--format")
    try:
        records = read_records(path, input_format)
        reporter = _Reporter(count_records(path, input_format), quiet=quiet)
        if dry_run:
            _dry_run(BatchRunner(settings), records)
            return
        root = out_dir or settings.output
        name = path.stem if path is not None else "stdin"
        target = manifest or root / f"manifest-{name}.jsonl"
        runner = BatchRunner(
            settings,
            workers=workers,
            out_dir=out_dir,
            share_libreoffice=not libreoffice_per_worker,
            ordered=ordered,
        )
        summary = _run(runner, records, target, reporter, _asked_passphrases(settings), quiet)
    except KeyboardInterrupt:  # Ctrl-C outside a run (a dry run, a passphrase prompt)
        raise click.exceptions.Exit(128 + signal.SIGINT) from None
    if not summary.ok:
        raise click.exceptions.Exit(1)


def _dry_run(runner: BatchRunner, records: Iterable[Record]) -> None:
    problems = 0
    checked = BatchSummary()
    for row in runner.check(records):
        checked.counts[row.status] += 1
        if row.status != "valid":
            problems += 1
            click.echo(f"{row.position}: {row.request_id or '(no request id)'}: {row.error}")
    click.echo(f"dry run: {checked.counts['valid']} valid, {problems} invalid", err=True)
    if problems:
        raise click.exceptions.Exit(1)


def _run(
    runner: BatchRunner,
    records: Iterable[Record],
    manifest: Path,
    reporter: _Reporter,
    passphrases: dict[str, str],
    quiet: bool,
) -> BatchSummary:
    """Run the batch and print its summary; a signal that stopped it sets the exit status."""

    def tell(row: ManifestRow) -> None:
        again = " (retryable)" if row.retryable else ""
        who = row.request_id or "(no request id)"
        click.echo(f"\n{row.status}: {row.position}: {who}: {row.error}{again}", err=True)

    try:
        summary = runner.run(
            records,
            manifest=manifest,
            progress=reporter,
            passphrases=passphrases,
            on_problem=None if quiet else tell,
        )
    except BatchInterrupted as stop:
        _report(stop.summary, manifest, reporter)
        how = "Ctrl-C" if stop.signum == signal.SIGINT else signal.Signals(stop.signum).name
        if stop.at_once:
            what = f"stopped at once by a second {how}: the letters in progress were abandoned"
        else:
            what = f"stopped by {how} once the letters in progress were finished and recorded"
        click.echo(
            f"{what}. To finish the batch, run the same command again: letters already issued "
            "are skipped, and any left half-done are completed.",
            err=True,
        )
        raise click.exceptions.Exit(128 + stop.signum) from None
    _report(summary, manifest, reporter)
    return summary


def _report(summary: BatchSummary, manifest: Path, reporter: _Reporter) -> None:
    reporter(summary, final=True)
    counts = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in
                       sorted(summary.counts.items()))  # fmt: skip
    click.echo(f"{summary.total} records in {summary.seconds:.1f} s: {counts}")
    click.echo(f"manifest: {manifest}")
