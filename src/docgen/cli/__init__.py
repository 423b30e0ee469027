"""The ``docgen`` command line: a thin layer over the library.

Commands parse arguments, call the library, and print results. Errors become messages and exit
statuses in one place, :class:`_DocgenGroup`: a :class:`docgen.errors.DocgenError` prints its
message (``--verbose`` adds the traceback) and exits with the error's ``exit_code``.

Example::

    docgen render examples/ilmate-pertek-baja-approved.json -o draft.pdf
    docgen services
    docgen templates check
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click

from docgen.config import Settings
from docgen.errors import DocgenError
from docgen.logs import quiet_libraries

__all__ = ["main"]


class _DocgenGroup(click.Group):
    """Runs a command and turns docgen's errors into a message and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DocgenError as error:
            options = ctx.find_object(_Options)
            if options is not None and options.verbose:
                traceback.print_exc()
            click.secho(f"error: {error}", fg="red", err=True)
            ctx.exit(error.exit_code)


class _Options:
    """Options shared by every command."""

    def __init__(self, config: Path | None, verbose: bool):
        self.config = config
        self.verbose = verbose
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The settings, loaded once on first use."""
        if self._settings is None:
            self._settings = Settings.load(self.config)
        return self._settings


pass_options = click.make_pass_decorator(_Options)

request_files = click.argument(
    "requests",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
"""The REQUEST.json files argument of the commands that take requests."""

level_option = click.option(
    "--level",
    type=click.Choice(["B-B", "B-T", "B-LT", "B-LTA"]),
    help="PAdES level for this run, overriding signing.level in the settings.",
)
"""The ``--level`` option of the commands that sign."""


def with_level(settings: Settings, level: str | None) -> Settings:
    """The settings with another signature level, when one was asked for."""
    if level is None:
        return settings
    signing = settings.signing.model_copy(update={"level": level})
    return settings.model_copy(update={"signing": signing})


class _Failures:
    """Per-file errors of a command over several files: reported, never stopping the rest."""

    def __init__(self) -> None:
        self.errors: list[DocgenError] = []

    @contextlib.contextmanager
    def guard(self, what: object) -> Iterator[None]:
        """Report a docgen error raised in the block for ``what`` and carry on after it."""
        try:
            yield
        except DocgenError as error:
            click.secho(f"error: {what}: {error}", fg="red", err=True)
            self.errors.append(error)

    def exit_if_any(self) -> None:
        """Exit with the most serious status of the errors seen, if there were any."""
        if self.errors:
            raise click.exceptions.Exit(max(error.exit_code for error in self.errors))


@click.group(cls=_DocgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("docgen"), "--version", prog_name="docgen")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DOCGEN_CONFIG",
    help="Settings file (TOML) overriding the embedded defaults. [env: DOCGEN_CONFIG]",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress and show tracebacks of errors.")
@click.pass_context
def main(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """Issue recommendation and technical-consideration letters as signed PDF/A."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        quiet_libraries()  # the reports say in words what they log with tracebacks
    ctx.obj = _Options(config, verbose)


def _register() -> None:
    from docgen.cli import batch, catalogue, issue, register, render, schema, serve, verify

    main.add_command(batch.batch)
    main.add_command(issue.issue)
    main.add_command(issue.revoke)
    main.add_command(register.register)
    main.add_command(verify.verify)
    main.add_command(verify.timestamp)
    main.add_command(render.render)
    main.add_command(schema.schema)
    main.add_command(serve.serve)
    main.add_command(catalogue.services)
    main.add_command(catalogue.templates)


_register()
