"""``docgen services`` and ``docgen templates check``: the catalogue and its templates.

``services`` lists what the catalogue offers; ``templates check`` proves that its templates only
use variables that exist.
"""

from __future__ import annotations

import click

from docgen.catalogue import Catalogue
from docgen.cli import _Options, pass_options
from docgen.render.environment import template_environment

__all__ = ["services", "templates"]


def _catalogue(options: _Options) -> Catalogue:
    return Catalogue.load(options.settings.templates / "catalogue.toml")


@click.command()
@pass_options
def services(options: _Options) -> None:
    """List the letter services in the catalogue."""
    catalogue = _catalogue(options)
    rows = [
        (s.code, s.directorate_general, s.kind.label, s.format.value, s.title) for s in catalogue
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[4]]))


@click.group()
def templates() -> None:
    """Work with the letter templates."""


@templates.command("check")
@pass_options
def check(options: _Options) -> None:
    """Prove every variable and filter each template uses exists; exit 1 otherwise."""
    catalogue = _catalogue(options)
    from docgen.templatecheck import check_catalogue  # reads DOCX templates: docxtpl

    problems = check_catalogue(catalogue, template_environment(None, autoescape=True))
    for problem in problems:
        click.echo(str(problem), err=True)
    count = len({s.template_approved for s in catalogue} | {s.template_rejected for s in catalogue})
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"{count} templates of {len(catalogue)} services: every variable exists")
