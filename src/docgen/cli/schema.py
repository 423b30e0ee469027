"""``docgen schema``: the JSON Schema of a letter request, for callers that validate first."""

from __future__ import annotations

import json

import click

from docgen.models import LetterRequest

__all__ = ["schema"]


@click.command()
def schema() -> None:
    """Print the JSON Schema of a letter request."""
    click.echo(json.dumps(LetterRequest.model_json_schema(), indent=2, ensure_ascii=False))
