"""``docgen services`` and ``docgen templates check``: the catalogue and its templates.

``services`` lists what the catalogue offers and ``services new`` adds a service modelled on
another; ``templates check`` proves that its templates only use variables that exist, and finds
what a clerk gets wrong in them.
"""

from __future__ import annotations

from pathlib import Path

import click

from docgen.catalogue import Catalogue
from docgen.cli import _Options, pass_options

__all__ = ["services", "templates"]


def _catalogue(options: _Options) -> Catalogue:
    return Catalogue.load(options.settings.templates / "catalogue.toml")


@click.group(invoke_without_command=True)
@click.pass_context
def services(context: click.Context) -> None:
    """List the letter services in the catalogue; ``services new`` adds one."""
    if context.invoked_subcommand is None:
        context.invoke(listing)


@services.command("list")
@pass_options
def listing(options: _Options) -> None:
    """List the letter services in the catalogue."""
    catalogue = _catalogue(options)
    rows = [
        (s.code, s.directorate_general, s.kind.label, s.format.value, s.title) for s in catalogue
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[4]]))


def _samples(options: _Options, samples: Path | None) -> Path:
    """The sample requests' folder: given, or the examples folder beside the templates."""
    return samples or options.settings.templates.parent / "examples"


_SAMPLES_OPTION = click.option(
    "--samples",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the services' sample requests (CODE-approved.json, CODE-rejected.json) "
    "[default: the examples folder beside the templates folder].",
)


@services.command("new")
@click.argument("code")
@click.option("--like", "like", required=True, help="The existing service to start from.")
@_SAMPLES_OPTION
@pass_options
def new(options: _Options, code: str, like: str, samples: Path | None) -> None:
    """Add service CODE, copied from service LIKE: entry, approval template, sample requests.

    Then edit its title, regulation, subject and numbering in catalogue.toml, its template and
    its samples, and run ``docgen templates check``.
    """
    from docgen.scaffold import new_service

    path = options.settings.templates / "catalogue.toml"
    for made in new_service(path, code, like=like, samples=_samples(options, samples)):
        click.echo(f"wrote {made}")
    click.echo(
        f"Now edit {code} in {path} (title, regulation, subject, number_pattern), its template "
        "and its sample requests, then run: docgen templates check",
        err=True,
    )


@click.group()
def templates() -> None:
    """Work with the letter templates."""


@templates.command("check")
@_SAMPLES_OPTION
@pass_options
def check(options: _Options, samples: Path | None) -> None:
    """Check every template and service; exit 1 on any problem.

    Every variable and filter a template uses must exist; every template must mark the
    signature and QR code spaces; every service needs a sample request for each outcome, and a
    DOCX template merged with it must show no tag. Services whose regulation is not confirmed
    are listed (that alone is no failure).
    """
    catalogue = _catalogue(options)
    # imported here, not by every command (Jinja2 alone is 6 MB): reads DOCX templates too
    from docgen.render.environment import template_environment
    from docgen.templatecheck import check_catalogue, check_letters, unconfirmed

    environment = template_environment(None, autoescape=True)
    problems = check_catalogue(catalogue, environment)
    folder = _samples(options, samples)
    if samples is not None or folder.is_dir():
        problems += check_letters(catalogue, options.settings, folder, environment)
    else:
        click.echo(
            f"no sample requests ({folder} is no folder): merged letters not checked", err=True
        )
    for problem in problems:
        click.echo(str(problem), err=True)
    for service in unconfirmed(catalogue):
        click.echo(f"regulation not confirmed: {service.code}: {service.regulation}", err=True)
    count = len({s.template_approved for s in catalogue} | {s.template_rejected for s in catalogue})
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"{count} templates of {len(catalogue)} services: no problem found")


@templates.command("preview")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("preview.pdf"),
    show_default=True,
    help="The PDF of every letter.",
)
@click.option(
    "--sheet",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The contact sheet (PNG) [default: OUTPUT with .png].",
)
@click.option(
    "--service",
    "services_",
    multiple=True,
    metavar="CODE",
    help="Only this service's letters (repeatable) [default: every service].",
)
@_SAMPLES_OPTION
@pass_options
def preview_letters(
    options: _Options,
    output: Path,
    sheet: Path | None,
    services_: tuple[str, ...],
    samples: Path | None,
) -> None:
    """Every letter of the catalogue in one PDF and a contact sheet of its pages.

    Each service in both outcomes, with its sample request and with a stress request (the
    longest names, 40 items, 10-character quantities), as drafts.
    """
    from docgen.preview import preview
    from docgen.render import Renderer

    target = sheet or output.with_suffix(".png")
    with Renderer(options.settings) as renderer:
        letters = preview(renderer, _samples(options, samples), output, target, only=services_)
    for letter in letters:
        click.echo(
            f"{letter.service:<28} {letter.outcome.value:<9} {letter.kind:<7} {letter.pages}"
        )
    pages = sum(letter.pages for letter in letters)
    click.echo(f"wrote {output} ({len(letters)} letters, {pages} pages) and {target}", err=True)
