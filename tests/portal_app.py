"""A small web portal that issues letters through docgen, as the ministry's portal does.

One :class:`~docgen.pipeline.Issuer` per worker process, built when the process starts serving
(the lifespan) and shared by every request the process handles; the blocking work of issuing
runs in Starlette's thread pool, so several requests of one process issue at once. Run it with::

    DOCGEN_CONFIG=portal.toml uvicorn tests.portal_app:app --workers 2 --uds /run/portal.sock

``POST /letters`` takes a request (the JSON of ``docgen schema``) and answers the letter's
number and where it is; the same request id again answers the same letter. ``GET /health``
answers once the process can issue.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from docgen.config import Settings
from docgen.errors import DocgenError, RequestInvalid, is_retryable
from docgen.models import LetterRequest
from docgen.pipeline import Issuer

MAX_BODY = 2_000_000  # a request is a few kilobytes; refuse anything far larger unread


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Build this process's Issuer before serving; close it (and its converter) at shutdown."""
    with Issuer(Settings.load()) as issuer:
        app.state.issuer = issuer
        yield


async def issue(request: Request) -> JSONResponse:
    """Issue the letter a request asks for, or answer the one already issued for its id."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "the request is too large"}, status_code=413)
    issuer: Issuer = request.app.state.issuer
    try:
        letter_request = LetterRequest.from_json(body, source="request")
        letter = await run_in_threadpool(issuer.issue, letter_request)
    except RequestInvalid as error:
        problems = [{"field": p.field, "message": p.message} for p in error.problems]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)
    except DocgenError as error:
        # retryable (a busy register, a service down): the client may try again later
        status = 503 if is_retryable(error) else 500
        return JSONResponse({"error": str(error)}, status_code=status)
    return JSONResponse(
        {
            "letter_number": letter.letter_number,
            "register_id": letter.register_id,
            "request_id": letter.request_id,
            "outcome": letter.outcome.value,
            "path": str(letter.path),
            "worker": os.getpid(),
        }
    )


async def health(request: Request) -> JSONResponse:
    """Answers once this process is serving (its Issuer is built)."""
    return JSONResponse({"worker": os.getpid()})


app = Starlette(
    routes=[Route("/letters", issue, methods=["POST"]), Route("/health", health)],
    lifespan=lifespan,
)
