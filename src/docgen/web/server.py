"""Running the site on its own: uvicorn, one or several worker processes (``docgen serve``)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from fastapi import FastAPI

from docgen.config import CONFIG_ENV, Settings
from docgen.lifetime import die_with_parent
from docgen.logs import quiet_libraries
from docgen.web.app import create_app
from docgen.web.site import Site

__all__ = ["app_from_environment", "serve"]

_SERVER_PID = "DOCGEN_SERVER_PID"
_VERBOSE = "DOCGEN_SERVER_VERBOSE"


def app_from_environment() -> FastAPI:
    """The application for a uvicorn worker: settings from ``$DOCGEN_CONFIG``.

    A worker process of ``docgen serve`` ends with the server's main process, even when that
    one is killed with SIGKILL.
    """
    server = os.environ.get(_SERVER_PID)
    if server and os.getpid() != int(server) and os.getppid() == int(server):
        die_with_parent(signal.SIGTERM)
    # as the command line logs (a worker is a new interpreter); its verification processes
    # log as it does. Verbose: each upload's size and verdict, at INFO
    verbose = bool(os.environ.get(_VERBOSE))
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        quiet_libraries()
    return create_app(Settings.load())


def serve(
    settings: Settings, config: Path | None, *, host: str, port: int, workers: int, verbose: bool
) -> None:
    """Serve the site until interrupted; the register and catalogue are checked first.

    ``config`` is the settings file the workers load (each worker process loads it again).
    """
    import uvicorn

    Site(settings).close()  # a missing register or catalogue: a clear error, before serving
    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    os.environ[_SERVER_PID] = str(os.getpid())
    os.environ[_VERBOSE] = "1" if verbose else ""
    uvicorn.run(
        "docgen.web.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.web.forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=10,
        log_level="info",  # where it listens, and when it stops
        access_log=verbose,  # the addresses asked name letters: only when asked for
    )
