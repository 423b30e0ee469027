"""``docgen register init``: make the letter register, once, on purpose.

No other command creates a register: ``issue``, ``batch`` and ``revoke`` refuse a missing one
(exit 74), so that a moved or deleted register can never silently restart the numbering at 1.
"""

from __future__ import annotations

import click

from docgen.cli import _Options, pass_options
from docgen.register import Register

__all__ = ["register"]


@click.group()
def register() -> None:
    """Work with the letter register (letter_register.path in the settings)."""


@register.command("init")
@pass_options
def init(options: _Options) -> None:
    """Create the letter register; an existing register is left as it is.

    Run it once when setting up docgen, before the first letter is issued. Running it again
    is harmless: the register already there, with its letters, is kept unchanged.
    """
    path = options.settings.letter_register.path
    existed = path.exists()
    created = Register.create(path)
    try:
        count = len(created.records())
    finally:
        created.close()
    if existed:
        click.echo(f"The register {path} already exists ({count} records); left as it is")
    else:
        click.echo(f"Created the register {path}")
