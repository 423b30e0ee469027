"""``docgen register``: make, migrate, inspect and move the letter register.

``init`` makes the register, once, on purpose. No other command creates one: ``issue``,
``batch`` and ``revoke`` refuse a missing register (exit 74), so that a moved or deleted
register can never silently restart the numbering at 1. ``migrate`` brings a register made by
an earlier docgen to the current schema. ``history`` prints a letter's audit trail; ``export``
and ``import`` move a register between SQLite and PostgreSQL, printing counts and a checksum
that must match.
"""

from __future__ import annotations

from pathlib import Path

import click

from docgen.cli import _Options, pass_options
from docgen.register import SCHEMA_VERSION, open_register
from docgen.register.transfer import export_register, import_register

__all__ = ["register"]


@click.group()
def register() -> None:
    """Work with the letter register (letter_register.url or .path in the settings)."""


@register.command("init")
@pass_options
def init(options: _Options) -> None:
    """Create the letter register; an existing register is kept, and migrated if older.

    Run it once when setting up docgen, before the first letter is issued. Running it again
    is harmless: the register already there, with its letters, is kept unchanged (only its
    schema is brought up to date, as ``migrate`` does).
    """
    created = open_register(options.settings, create=True)
    try:
        count = len(created.records())
    finally:
        created.close()
    where = created.describe
    if created.created:
        click.echo(f"Created the register {where} (schema version {SCHEMA_VERSION})")
        return
    click.echo(f"The register {where} already exists ({count} records); left as it is")
    if created.migrated_from is not None:
        click.echo(
            f"Its schema was migrated from version {created.migrated_from} to {SCHEMA_VERSION}"
        )


@register.command("migrate")
@pass_options
def migrate(options: _Options) -> None:
    """Bring the register's schema up to this docgen's version (every node, once)."""
    migrated = open_register(options.settings, migrate=True)
    migrated.close()
    if migrated.migrated_from is None:
        click.echo(
            f"The register {migrated.describe} is up to date (schema version {SCHEMA_VERSION})"
        )
    else:
        click.echo(
            f"Migrated the register {migrated.describe} from schema version "
            f"{migrated.migrated_from} to {SCHEMA_VERSION}"
        )


@register.command("history")
@click.argument("number")
@pass_options
def history(options: _Options, number: str) -> None:
    """Print the audit trail of the letter NUMBER: every change, when, where and why."""
    opened = open_register(options.settings, read_only=True)
    try:
        record = opened.by_number(number)
        events = opened.history(number)
    finally:
        opened.close()
    if record is not None:
        click.echo(f"Letter {record.letter_number} ({record.register_id}): {record.status.value}")
    for event in events:
        line = (
            f"{event.at:%Y-%m-%d %H:%M:%S} UTC  {event.event.value:<14}  "
            f"{event.node} (process {event.process})"
        )
        click.echo(line + (f"  {event.reason}" if event.reason else ""))


@register.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_options
def export(options: _Options, file: Path) -> None:
    """Write the whole register to a new FILE (JSON Lines) to import elsewhere."""
    source = open_register(options.settings)
    try:
        summary = export_register(source, file)
    finally:
        source.close()
    click.echo(f"Exported {source.describe} to {file}: {summary.describe()}")


@register.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_options
def import_(options: _Options, file: Path) -> None:
    """Write an exported FILE into the register, which must be new and empty."""
    target = open_register(options.settings)
    try:
        summary = import_register(target, file)
    finally:
        target.close()
    click.echo(f"Imported {file} into {target.describe}: {summary.describe()}")
