"""The verification website as an ASGI application: pages for people, a JSON API for programs.

Pages (Indonesian, ``?lang=en`` for English):

- ``GET {verification path}/{register id}``: the QR code's page, what the register holds of the
  letter; ``POST`` there with a PDF checks a copy against it;
- ``GET /verifikasi``: upload a PDF to verify; ``POST`` answers the report.

API (``/api/v1/openapi.json`` describes it): ``GET /api/v1/letters/{register id}``,
``POST /api/v1/verify`` (the PDF as the body, or a form with a ``letter`` file field).
``GET /healthz`` answers while the process serves, ``GET /readyz`` once it can verify.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_date
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from docgen.config import Settings
from docgen.errors import DocgenError, RegisterError
from docgen.reports import VerificationReport
from docgen.web.guard import SecurityHeaders
from docgen.web.site import Site
from docgen.web.uploads import Upload, UploadRefused, read_upload
from docgen.web.views import LetterView
from docgen.web.words import LANGUAGES, words

__all__ = ["API_VERSION", "create_app"]

log = logging.getLogger("docgen.web")

API_VERSION = "1"
"""The JSON API's version; its paths begin ``/api/v1``."""

_HERE = Path(__file__).parent
_STYLE = (_HERE / "static" / "site.css").read_bytes()
_STYLE_ETAG = '"' + hashlib.sha256(_STYLE).hexdigest()[:16] + '"'
_PAGES = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


class ApiError(BaseModel):
    """What went wrong, for a program: a stable code and a sentence for people."""

    code: str
    """``not_found``, ``too_large``, ``empty``, ``no_file``, ``bad_request``,
    ``rate_limited``, ``busy``, ``unavailable``, ``method_not_allowed``."""
    message: str
    """What went wrong and what to do, in English."""


class ApiErrorBody(BaseModel):
    """The body of every API error response."""

    error: ApiError
    """The error."""


_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"letter": {"type": "string", "format": "binary"}},
                "required": ["letter"],
            }
        },
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ApiErrorBody, "description": description}
    for status, description in (
        (400, "The upload could not be read (empty, a form without the file)"),
        (413, "The upload is larger than the limit"),
        (429, "Too many uploads from this address; see Retry-After"),
        (503, "Too many uploads at once"),
    )
}


def create_app(settings: Settings, *, site: Site | None = None) -> FastAPI:
    """The verification site for ``settings``, to serve on its own or mount in a portal.

    A portal mounts it under a prefix (``portal.mount("/verifikasi-surat", app)``); the QR
    codes' address (``esign.verification_base_url``) must then name that prefix. The register
    is opened read-only; verification runs in separate processes with the budgets of
    ``settings.web``. A mounted application's lifespan is not run by Starlette: the portal
    closes ``app.state.site`` when it stops (its verification processes end with the portal's
    process in any case).
    """
    site = site or Site(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            site.close()

    app = FastAPI(
        title="docgen letter verification",
        version=API_VERSION,
        description="Verify letters of the Ministry of Industry: look one up by the register id "
        "its QR code ends with, or upload its PDF.",
        openapi_url=f"/api/v{API_VERSION}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.site = site
    app.add_middleware(SecurityHeaders)
    letters = site.letter_path
    max_mb = settings.web.upload_max_bytes // (1024 * 1024)

    def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        lang = _language(request)
        html = _PAGES.get_template(template).render(
            t=words(lang),
            lang=lang,
            other=LANGUAGES[1] if lang == LANGUAGES[0] else LANGUAGES[0],
            base=request.scope.get("root_path", ""),
            here=_site_path(request),
            max_mb=max_mb,
            day=lambda value: _day(value, lang),
            **values,
        )
        return HTMLResponse(html, status_code=status)

    async def verified(request: Request) -> tuple[Upload, VerificationReport]:
        if _cross_site(request, settings.esign.verification_base_url):
            # another site's page posting a letter here would show the ministry's own report
            # page, with the other site's words as the file's name: the forms are this site's
            raise UploadRefused(
                403, "cross_site", "Uploads from another site are refused; use this site's form"
            )
        # admitted (rate limit, uploads at once) before a byte is read; held until verified
        site.hold_upload(request.client.host if request.client else "unknown")
        try:
            upload = await read_upload(
                request.stream(),
                request.headers.get("content-type", ""),
                request.headers.get("content-length"),
                settings.web.upload_max_bytes,
            )
            report = await run_in_threadpool(site.verify, upload.data, upload.name)
        finally:
            site.release_upload()
        return upload, report

    def refused_page(request: Request, refusal: UploadRefused, back: str) -> HTMLResponse:
        text = words(_language(request)).get(f"refused_{refusal.code}", refusal.message)
        message = text.format(mb=max_mb, seconds=refusal.retry_after or 60)
        response = page(request, "error.html.j2", refusal.status, message=message, back=back)
        response.headers.update(refusal.headers())
        return response

    # ------------------------------------------------------------------ pages

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        base = request.scope.get("root_path", "")
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{base}/verifikasi{query}", status_code=303)

    @app.get("/static/site.css", include_in_schema=False)
    async def style(request: Request) -> Response:
        if request.headers.get("if-none-match") == _STYLE_ETAG:
            return Response(status_code=304, headers={"ETag": _STYLE_ETAG})
        return Response(
            _STYLE,
            media_type="text/css",
            headers={"ETag": _STYLE_ETAG, "Cache-Control": "public, max-age=3600"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def icon() -> Response:
        # browsers ask for it on every site: answered, not a 404 in every visitor's console
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/verifikasi", include_in_schema=False)
    async def upload_page(request: Request) -> HTMLResponse:
        return page(request, "verify.html.j2", report=None)

    @app.post("/verifikasi", include_in_schema=False)
    async def upload_report(request: Request) -> HTMLResponse:
        try:
            upload, report = await verified(request)
        except UploadRefused as refusal:
            return refused_page(request, refusal, _site_path(request))
        return page(request, "verify.html.j2", report=report, size=_size(len(upload.data)))

    @app.get(letters + "/{register_id}", include_in_schema=False)
    async def letter_page(request: Request, register_id: str) -> HTMLResponse:
        letter = await run_in_threadpool(site.letter, register_id)
        if letter is None:
            return page(request, "unknown.html.j2", 404)
        return page(request, "letter.html.j2", letter=letter, report=None)

    @app.post(letters + "/{register_id}", include_in_schema=False)
    async def letter_copy(request: Request, register_id: str) -> HTMLResponse:
        letter = await run_in_threadpool(site.letter, register_id)
        if letter is None:
            return page(request, "unknown.html.j2", 404)
        try:
            upload, report = await verified(request)
        except UploadRefused as refusal:
            return refused_page(request, refusal, _site_path(request))
        return page(
            request,
            "letter.html.j2",
            letter=letter,
            report=report,
            match=_match(letter, upload, report),
            size=_size(len(upload.data)),
        )

    # ------------------------------------------------------------------ API

    @app.get(
        f"/api/v{API_VERSION}/letters/{{register_id}}",
        response_model=LetterView,
        responses={404: {"model": ApiErrorBody, "description": "No letter was issued here"}},
        summary="What the register holds of an issued letter",
    )
    async def letter_api(register_id: str) -> LetterView | JSONResponse:
        """The letter a QR code leads to.

        Its number, date, issuer, signer, state (valid, expired or revoked) and the SHA-256 of
        the file as issued.
        """
        letter = await run_in_threadpool(site.letter, register_id)
        if letter is None:
            return _api_error(404, "not_found", "No letter was issued with this register id")
        return letter

    @app.post(
        f"/api/v{API_VERSION}/verify",
        response_model=VerificationReport,
        responses=_ERRORS,
        openapi_extra={"requestBody": _UPLOAD_BODY},
        summary="Verify a letter's PDF",
    )
    async def verify_api(request: Request) -> VerificationReport | JSONResponse:
        """The verification report of the PDF sent (the same as ``docgen verify --json``).

        ``verdict`` is ``valid`` only when every check passed; ``unchecked`` means something
        could not be checked. The file is not kept.
        """
        try:
            _, report = await verified(request)
        except UploadRefused as refusal:
            response = _api_error(refusal.status, refusal.code, refusal.message)
            response.headers.update(refusal.headers())
            return response
        return report

    @app.api_route("/healthz", methods=["GET", "HEAD"], summary="Whether the process serves")
    async def health() -> dict[str, str]:
        """Always ``{"status": "ok"}`` while the process answers."""
        return {"status": "ok"}

    @app.api_route(
        "/readyz",
        methods=["GET", "HEAD"],
        summary="Whether the site can answer: the register answers, verification starts",
        responses={503: {"description": "Not ready, with the problems"}},
    )
    async def ready() -> JSONResponse:
        """``{"status": "ready"}``, or 503 with what is not."""
        problems = await run_in_threadpool(site.readiness)
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    # ------------------------------------------------------------------ errors

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if _is_api(request):
            codes = {404: "not_found", 405: "method_not_allowed"}
            response = _api_error(
                error.status_code, codes.get(error.status_code, "bad_request"), str(error.detail)
            )
            response.headers.update(error.headers or {})
            return response
        if error.status_code == 404:
            return page(request, "unknown.html.j2", 404)
        return page(
            request, "error.html.j2", error.status_code, message=str(error.detail), back="/"
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        return _api_error(400, "bad_request", "The request could not be read")

    @app.exception_handler(DocgenError)
    async def unavailable(request: Request, error: DocgenError) -> Response:
        # the register (a PostgreSQL server, a file) or verification could not answer: say
        # which, never guess an answer
        log.warning("could not answer %s: %s", request.url.path, error)
        about = "register" if isinstance(error, RegisterError) else "verification"
        if _is_api(request):
            return _api_error(503, "unavailable", _UNAVAILABLE[about])
        text = words(_language(request))[f"unavailable_{about}"]
        return page(request, "error.html.j2", 503, message=text, back=_site_path(request))

    return app


_UNAVAILABLE = {
    "register": "The register cannot be read at the moment; try again in a few minutes",
    "verification": "Verification is unavailable at the moment; try again in a few minutes",
}


def _site_path(request: Request) -> str:
    """The request's path as a path on this site: ``//other.example/x`` is ``/other.example/x``.

    Links built from it (the other language's, the way back) must never lead to another host.
    """
    return "/" + request.url.path.lstrip("/")


def _cross_site(request: Request, public: str) -> bool:
    """Whether a browser says a page other than this site's own sent this request.

    ``Sec-Fetch-Site`` where the browser sends it: only ``same-origin`` (this site's form) and
    ``none`` (typed by the user) are this site's; ``same-site`` is a sibling host's page.
    Otherwise an ``Origin`` must be the site's public origin (``public``, from the QR codes'
    address) or the host the request names. Programs that send neither (the API, curl) are not
    affected.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    asked = _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
    return _origin(origin) not in (_origin(public), asked)


def _origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port of an address, the port filled in; None when it is none."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


def _is_api(request: Request) -> bool:
    """Whether the request is for the JSON API (its errors are JSON, not pages)."""
    return request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/")


def _language(request: Request) -> str:
    lang = request.query_params.get("lang", LANGUAGES[0])
    return lang if lang in LANGUAGES else LANGUAGES[0]


def _api_error(status: int, code: str, message: str) -> JSONResponse:
    body = ApiErrorBody(error=ApiError(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status)


_UNCHANGED = frozenset({"integrity", "coverage", "structure", "modifications"})


def _match(letter: LetterView, upload: Upload, report: VerificationReport) -> str:
    """Whether an upload is the letter of the page.

    The very file; the letter with only validation data and timestamps added since; the letter
    with other changes; or another file.
    """
    if hashlib.sha256(upload.data).hexdigest() == letter.sha256:
        return "same_file"
    if report.letter_number != letter.letter_number:
        return "other_file"
    unchanged = all(check.passed for check in report.checks if check.name in _UNCHANGED)
    return "same_letter_refreshed" if unchanged else "changed_copy"


def _day(value: date | None, lang: str) -> str:
    if value is None:
        return ""
    return format_date(value, "d MMMM y", locale="id" if lang == "id" else "en")


def _size(count: int) -> str:
    return f"{count / 1024:.0f} KB" if count < 1024 * 1024 else f"{count / 1048576:.1f} MB"
