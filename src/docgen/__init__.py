"""docgen: recommendation and technical-consideration letters, validated, rendered to PDF/A.

The public surface is what this module exports; modules and names not listed here may change.

Example::

    from docgen import LetterRequest, Renderer, Settings

    with Renderer(Settings.load()) as renderer:
        letter = renderer.render_draft(LetterRequest.from_json(raw_json))
"""

from __future__ import annotations

from importlib.metadata import version

from docgen.catalogue import Catalogue, LetterKind, Service, TemplateFormat
from docgen.config import Settings
from docgen.errors import (
    CatalogueError,
    ConfigError,
    ConverterError,
    DocgenError,
    FieldProblem,
    ForbiddenResource,
    RenderError,
    RequestInvalid,
    TemplateError,
)
from docgen.models import (
    Addressee,
    ApplicationLetter,
    Company,
    Decision,
    GoodsItem,
    LetterRequest,
    Nature,
    Outcome,
    Signatory,
)
from docgen.render import RenderedLetter, Renderer
from docgen.render.pdf import read_request

__version__ = version("docgen")

__all__ = [
    "Addressee",
    "ApplicationLetter",
    "Catalogue",
    "CatalogueError",
    "Company",
    "ConfigError",
    "ConverterError",
    "Decision",
    "DocgenError",
    "FieldProblem",
    "ForbiddenResource",
    "GoodsItem",
    "LetterKind",
    "LetterRequest",
    "Nature",
    "Outcome",
    "RenderError",
    "RenderedLetter",
    "Renderer",
    "RequestInvalid",
    "Service",
    "Settings",
    "Signatory",
    "TemplateError",
    "TemplateFormat",
    "__version__",
    "read_request",
]
