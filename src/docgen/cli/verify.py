"""``docgen verify``: checks that each letter is genuine, unchanged, issued and not revoked."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from docgen.cli import _Failures, _Options, pass_options
from docgen.config import Settings
from docgen.errors import SigningError
from docgen.files import write_atomic
from docgen.reports import Verdict, VerificationReport
from docgen.verify.intake import FileRefused, read_letter

__all__ = ["EXIT_INVALID", "EXIT_UNCHECKED", "timestamp", "verify"]

EXIT_INVALID = 1
"""Exit status when at least one letter is invalid."""
EXIT_UNCHECKED = 3
"""Exit status when no letter is invalid but at least one could not be checked."""


def _describe(report: VerificationReport, zone: ZoneInfo, zone_label: str, *, details: bool) -> str:
    lines = [f"{report.file}: {report.verdict.value.upper()}"]
    facts = [
        f"letter {report.letter_number}" if report.letter_number else "",
        f"signed by {report.signer}" if report.signer else "",
        f"at {report.signing_time.astimezone(zone):%Y-%m-%d %H:%M:%S} {zone_label}"
        if report.signing_time
        else "",
    ]
    if report.level:
        stamps = len(report.timestamps)
        facts.append(f"PAdES {report.level}" + (f", {stamps} timestamp(s)" if stamps else ""))
    if any(facts):
        lines.append("  " + ", ".join(fact for fact in facts if fact))
    if details or not report.ok:
        for stamp in report.timestamps:
            when = f"{stamp.time.astimezone(zone):%Y-%m-%d %H:%M:%S} {zone_label}"
            trust = "" if stamp.trusted else " (NOT trusted)"
            lines.append(f"  {stamp.kind} timestamp {when} by {stamp.authority}{trust}")
        if report.revocation:
            lines.append(f"  signer's certificate revocation: {report.revocation}")
        if report.level:
            lines.append(
                "  long-term: validation data and a document timestamp are embedded"
                if report.offline
                else "  long-term: no embedded validation data with a document timestamp "
                "(not B-LTA)"
            )
    for check in report.checks:
        if details or not report.ok:
            mark = "ok" if check.passed else "FAIL" if check.checked else "not checked"
            lines.append(f"  [{mark}] {check.name}: {check.detail}")
    return "\n".join(lines)


def _with_signers(settings: Settings, signers: tuple[str, ...]) -> Settings:
    """The settings with the ``--signer DG=CERT`` certificates added to verification.signers."""
    added: dict[str, tuple[Path, ...]] = {}
    codes = sorted(directorate.code for directorate in settings.agency.directorates)
    for value in signers:
        code, _, cert = value.partition("=")
        if not code or not cert:
            raise click.BadParameter(f"{value!r} is not DG=CERT", param_hint="--signer")
        if code not in codes:
            raise click.BadParameter(
                f"{code} is no Directorate General code (known: {', '.join(codes)})",
                param_hint="--signer",
            )
        if not Path(cert).is_file():
            raise click.BadParameter(f"{cert} is no file", param_hint="--signer")
        added[code] = (*added.get(code, ()), Path(cert).absolute())
    if not added:
        return settings
    known = settings.verification.signers
    merged = {**known, **{code: (*known.get(code, ()), *paths) for code, paths in added.items()}}
    data = settings.model_dump()
    data["verification"]["signers"] = merged
    return Settings.model_validate(data)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--trust",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A trust root certificate (PEM/DER) to add; repeatable.",
)
@click.option(
    "--only-trust",
    is_flag=True,
    help="Trust only the --trust certificates, not the configured roots.",
)
@click.option(
    "--signer",
    "signers",
    multiple=True,
    metavar="DG=CERT",
    help="A signing certificate (PEM/DER) of the ministry's Directorate General DG, added to "
    "verification.signers; repeatable. Without a register, letters are valid only when their "
    "Directorate General's certificates are known.",
)
@click.option(
    "--no-register", is_flag=True, help="Do not cross-check the register (a recipient's view)."
)
@click.option(
    "--offline",
    is_flag=True,
    help="Fetch nothing: letters without embedded revocation data (B-B, B-T) cannot have "
    "their signer's revocation checked, so they are reported unchecked (exit 3), never valid.",
)
@click.option(
    "--at",
    "at_time",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Validate as of this date or time (UTC) instead of now.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON report per line.")
@click.option("--details", is_flag=True, help="List every check, also for valid letters.")
@pass_options
def verify(
    options: _Options,
    files: tuple[Path, ...],
    trust: tuple[Path, ...],
    only_trust: bool,
    signers: tuple[str, ...],
    no_register: bool,
    offline: bool,
    at_time: datetime | None,
    as_json: bool,
    details: bool,
) -> None:
    """Verify signed letters; exit 0 only if every one is valid.

    A valid letter gets one summary; an invalid one lists every check and why it failed.
    Exit status 1 when a letter is invalid, 3 when one could not be checked. Each file is
    verified in a separate process within the time and memory budget of the settings
    (``verification.time_budget_seconds``, ``verification.memory_budget_mb``).
    """
    if only_trust and not trust:
        raise click.UsageError("--only-trust needs at least one --trust certificate")
    settings = _with_signers(options.settings, signers)
    roots = list(trust) if only_trust else [*settings.verification.trust, *trust]
    at = at_time.replace(tzinfo=UTC) if at_time is not None else None
    from docgen.verify.isolated import IsolatedVerifier
    from docgen.verify.verifier import Verifier

    # built here first, so that a bad trust root is a clear error before any file is read
    factory = functools.partial(
        Verifier.from_settings,
        settings,
        trust=roots,
        use_register=not no_register,
        at=at,
        online=not offline,
    )
    factory()
    limits = settings.verification
    zone = ZoneInfo(settings.signing.timezone)
    verdicts = set()
    with IsolatedVerifier(
        factory,
        seconds=limits.time_budget_seconds,
        memory_mb=limits.memory_budget_mb,
        max_file_bytes=limits.max_file_bytes,
    ) as verifier:
        for path in files:
            report = verifier.verify_file(path)
            verdicts.add(report.verdict)
            if as_json:
                click.echo(report.model_dump_json())
            else:
                click.echo(_describe(report, zone, settings.signing.zone_label, details=details))
    if Verdict.INVALID in verdicts:
        raise click.exceptions.Exit(EXIT_INVALID)
    if Verdict.UNCHECKED in verdicts:
        raise click.exceptions.Exit(EXIT_UNCHECKED)


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@pass_options
def timestamp(options: _Options, files: tuple[Path, ...]) -> None:
    """Refresh archived B-LTA letters: add validation data and a new document timestamp.

    Each file is replaced atomically by its refreshed version; a file that cannot be refreshed
    is left as it was and reported. Run it before the newest timestamp's certificate expires.
    """
    from docgen.archive import Archiver  # pyHanko's validation: imported when used

    archiver = Archiver(options.settings)
    limit = options.settings.verification.max_file_bytes
    failures = _Failures()
    for path in files:
        with failures.guard(path):
            try:
                pdf = read_letter(path, max_bytes=limit)
            except FileRefused as error:
                raise SigningError(f"Not refreshed: {error}") from None
            write_atomic(path, archiver.refresh(pdf))
            click.echo(f"{path}: refreshed")
    failures.exit_if_any()
