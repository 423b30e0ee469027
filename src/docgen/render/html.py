"""HTML letters: Jinja2 templates rendered to PDF/A-3b by WeasyPrint.

Templates are trusted (the unit ships them) but the data in them is not, so: autoescape is on,
undefined names are errors, the Jinja environment is sandboxed, and WeasyPrint may load nothing
but the template folder's own ``assets/`` — any other URL (``file:``, ``http:``, ...) stops the
render with :class:`ForbiddenResource` instead of being silently fetched or skipped.

The stylesheet is parsed once and the font configuration built once per thread, then reused for
every letter: on a short letter, font loading and subsetting dominate WeasyPrint's time.

WeasyPrint copies the stylesheet's ``@font-face`` fonts into a temporary folder of its own
(``weasyprint-*`` in ``$TMPDIR``, 1.6 MB), removed only when the font configuration is garbage
collected, which a process's last one never is. docgen gives it a folder inside the process's
own temporary folder instead (:func:`docgen.files.process_temp_dir`), removed when the process
ends, or by the next docgen process if this one is killed.

Example::

    renderer = HtmlRenderer(settings.templates)
    pdf = renderer.render("html/ilmate-pertek-baja.html.j2", context)
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import jinja2
import weasyprint
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from docgen.errors import ForbiddenResource, TemplateError
from docgen.files import process_temp_dir
from docgen.render.environment import template_environment

__all__ = ["ASSETS_DIR", "PDF_VARIANT", "STYLESHEET", "HtmlRenderer"]

PDF_VARIANT = "pdf/a-3b"
"""The PDF/A part and level of HTML letters (3b: attachments allowed)."""
ASSETS_DIR = "assets"
"""The only folder (inside the templates folder) a letter may load files from."""
STYLESHEET = "assets/letter.css"
"""The stylesheet applied to every HTML letter, relative to the templates folder."""


class _AssetFetcher(URLFetcher):  # type: ignore[misc]
    """Serves the template folder's assets from memory; anything else aborts the render."""

    def __init__(self, assets: dict[str, bytes], base_url: str):
        super().__init__(fail_on_errors=True)
        self._assets = assets
        self._base_url = base_url

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        relative = url.removeprefix(self._base_url) if url.startswith(self._base_url) else None
        if relative is None or relative not in self._assets:
            raise FatalURLFetchingError(f"forbidden resource: {url}")
        mime_type = mimetypes.guess_type(relative)[0] or "application/octet-stream"
        return URLFetcherResponse(url, self._assets[relative], headers={"Content-Type": mime_type})


_LETTER_UA = Path(__file__).with_name("letter_ua.css")


class _LetterHTML(weasyprint.HTML):  # type: ignore[misc]
    """An HTML document that uses docgen's lean user-agent stylesheet (see letter_ua.css).

    WeasyPrint asks a document for its UA stylesheets; if a future WeasyPrint stops asking, the
    full default applies: slower, never wrong.
    """

    user_agent: weasyprint.CSS

    def _ua_stylesheets(self, forms: bool = False) -> list[weasyprint.CSS]:
        return [self.user_agent]


class _Fonts(FontConfiguration):  # type: ignore[misc]
    """WeasyPrint's font configuration, whose font folder only its own process removes.

    WeasyPrint removes the folder when the configuration is collected. A forked child holds
    copies of its parent's configurations, and collects them (its other threads' at the fork,
    the rest as it ends): that removed the fonts the parent and its other children still use.
    """

    def __init__(self) -> None:
        super().__init__()
        self._owner = os.getpid()

    def __del__(self) -> None:
        if os.getpid() == getattr(self, "_owner", None):
            super().__del__()


def _font_configuration() -> FontConfiguration:
    """A WeasyPrint font configuration whose font folder lies in the process's own folder."""
    fonts = _Fonts()
    # WeasyPrint 70 makes the folder (mkdtemp) on the first @font-face only when ``_folder`` is
    # still None, and removes ``_folder`` when the configuration is collected; so a folder given
    # here is used and removed the same way. Should a later WeasyPrint stop reading it, its own
    # folder is made as before: a leftover, never a failure.
    if getattr(fonts, "_folder", False) is None:
        fonts._folder = Path(tempfile.mkdtemp(prefix="fonts-", dir=process_temp_dir()))
    return fonts


class _Warm(threading.local):
    """Per-thread WeasyPrint state: fonts, parsed stylesheets, the image cache."""

    fonts: FontConfiguration | None = None
    stylesheet: weasyprint.CSS | None = None
    user_agent: weasyprint.CSS | None = None
    cache: dict[str, Any]

    def __init__(self) -> None:
        self.cache = {}


class HtmlRenderer:
    """Renders HTML templates to PDF/A; build once, share between threads."""

    def __init__(self, templates: Path):
        """Compile nothing yet, but read every asset once; ``templates`` is the catalogue root."""
        self._root = templates.resolve()
        self._base_url = self._root.as_uri() + "/"
        assets_root = self._root / ASSETS_DIR
        self._assets = {
            path.relative_to(self._root).as_posix(): path.read_bytes()
            for path in sorted(assets_root.rglob("*"))
            if path.is_file()
        }
        self._environment = template_environment(self._root, autoescape=True)
        self._warm = _Warm()

    @property
    def environment(self) -> jinja2.Environment:
        """The Jinja2 environment (for template checks)."""
        return self._environment

    def _fetcher(self) -> _AssetFetcher:
        return _AssetFetcher(self._assets, self._base_url)

    def _prepared(self) -> _Warm:
        warm = self._warm
        if warm.fonts is None:
            warm.fonts = _font_configuration()
            css = self._assets.get(STYLESHEET, b"").decode()
            warm.stylesheet = weasyprint.CSS(
                string=css,
                base_url=self._base_url + STYLESHEET,
                url_fetcher=self._fetcher(),
                font_config=warm.fonts,
            )
            warm.user_agent = weasyprint.CSS(filename=_LETTER_UA, font_config=warm.fonts)
        return warm

    def to_html(self, template: str, context: dict[str, Any]) -> str:
        """Merge the context into a template; :class:`TemplateError` on any template fault."""
        try:
            return self._environment.get_template(template).render(context)
        except jinja2.TemplateError as error:
            raise TemplateError(f"Template {template} failed: {error}") from None

    def render(self, template: str, context: dict[str, Any]) -> bytes:
        """Render a template with a context to PDF/A-3b bytes."""
        return self.html_to_pdf(self.to_html(template, context))

    def html_to_pdf(self, html: str) -> bytes:
        """Lay out merged HTML with the warm fonts and stylesheet, as PDF/A-3b."""
        warm = self._prepared()
        try:
            document = _LetterHTML(
                string=html, base_url=self._base_url, url_fetcher=self._fetcher()
            )
            document.user_agent = warm.user_agent
            pdf: bytes = document.write_pdf(
                stylesheets=[warm.stylesheet],
                font_config=warm.fonts,
                pdf_variant=PDF_VARIANT,
                cache=warm.cache,
            )
        except FatalURLFetchingError as error:
            cause = error.__cause__ or error
            raise ForbiddenResource(
                f"The letter template tried to load something outside its assets ({cause}); "
                "the render was stopped"
            ) from None
        return pdf
