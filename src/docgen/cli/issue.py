"""``docgen issue`` and ``docgen revoke``: issuing letters and withdrawing them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from docgen.cli import _Failures, _Options, level_option, pass_options, request_files, with_level
from docgen.models import LetterRequest
from docgen.register import open_register
from docgen.reports import IssueOutcome

__all__ = ["issue", "revoke", "terminal_prompt"]


def terminal_prompt(what: str) -> str:
    """Ask for a key's passphrase on the terminal, without echo; refuse when there is none."""
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"The passphrase for {what} is needed: set its environment variable or "
            "passphrase file (it is never taken from the command line)"
        )
    value: str = click.prompt(f"Passphrase for {what}", hide_input=True, err=True)
    return value


_NOTES = {
    IssueOutcome.ISSUED: "issued",
    IssueOutcome.ALREADY_ISSUED: "already issued",
    IssueOutcome.REVOKED: "already issued, REVOKED since",
}


@click.command()
@request_files
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the letters (by DG/service/date); default from the settings.",
)
@level_option
@pass_options
def issue(
    options: _Options, requests: tuple[Path, ...], out_dir: Path | None, level: str | None
) -> None:
    """Issue signed, numbered letters for REQUEST.json files.

    A request id already issued returns that same letter, never a second number. A request
    that fails is reported and the others go on; the exit status is then non-zero.
    """
    from docgen.pipeline import Issuer  # rendering and signing: imported when used

    failures = _Failures()
    settings = with_level(options.settings, level)
    with Issuer(settings, prompt=terminal_prompt) as issuer:
        for path in requests:
            with failures.guard(path):
                request = LetterRequest.from_json(path.read_bytes(), source=str(path))
                letter = issuer.issue(request, out_dir=out_dir, source=str(path))
                click.echo(f"{letter.letter_number}  {letter.path}  ({_NOTES[letter.outcome]})")
    failures.exit_if_any()


@click.command()
@click.argument("number")
@click.option("--reason", required=True, help="Why the letter is revoked (recorded and reported).")
@pass_options
def revoke(options: _Options, number: str, reason: str) -> None:
    """Revoke the issued letter NUMBER; verifying it then fails with the reason."""
    register = open_register(options.settings)
    try:
        record = register.revoke(number, reason)
    finally:
        register.close()
    click.echo(f"{record.letter_number} revoked: {record.reason}")
