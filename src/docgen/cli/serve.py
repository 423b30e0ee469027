"""``docgen serve``: the verification website, for recipients and their programs."""

from __future__ import annotations

import click

from docgen.cli import _Options, pass_options

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes; each verifies settings.web.verifiers uploads at once.",
)
@pass_options
def serve(options: _Options, host: str, port: int, workers: int) -> None:
    """Serve the letters' verification pages, upload-and-verify, and the JSON API.

    The QR codes lead to the page of esign.verification_base_url; put the site behind the
    HTTPS proxy that answers that address. The register is only read.
    """
    from docgen.web.server import serve as run

    run(
        options.settings,
        options.config,
        host=host,
        port=port,
        workers=workers,
        verbose=options.verbose,
    )
