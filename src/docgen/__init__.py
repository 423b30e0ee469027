"""docgen: recommendation and technical-consideration letters, validated, rendered to PDF/A.

The public surface is what this module exports; modules and names not listed here may change.

Example::

    from docgen import LetterRequest, Renderer, Settings

    with Renderer(Settings.load()) as renderer:
        letter = renderer.render_draft(LetterRequest.from_json(raw_json))
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING

from docgen.catalogue import Catalogue, LetterKind, Service, TemplateFormat
from docgen.config import Settings
from docgen.errors import (
    CatalogueError,
    ConfigError,
    ConverterError,
    DocgenError,
    FieldProblem,
    ForbiddenResource,
    LetterInProgress,
    RegisterError,
    RenderError,
    RequestConflict,
    RequestInvalid,
    SigningError,
    TemplateError,
    UnknownLetter,
)
from docgen.lazy import lazy_names
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
from docgen.reports import Check, IssuedLetter, IssueOutcome, Verdict, VerificationReport

if TYPE_CHECKING:
    from docgen.pipeline import Issuer
    from docgen.render import RenderedLetter, Renderer
    from docgen.render.pdf import read_request
    from docgen.verify import Verifier

# Rendering, signing and verifying bring WeasyPrint, pyHanko and LibreOffice's bridge with
# them (about 100 MB): they are imported when first used, so that a process that only reads
# requests or runs a batch's main loop stays small.
_LAZY = {
    "Issuer": "docgen.pipeline",
    "RenderedLetter": "docgen.render",
    "Renderer": "docgen.render",
    "Verifier": "docgen.verify",
    "read_request": "docgen.render.pdf",
}


__getattr__ = lazy_names(__name__, _LAZY)


__version__ = version("docgen")

__all__ = [
    "Addressee",
    "ApplicationLetter",
    "Catalogue",
    "CatalogueError",
    "Check",
    "Company",
    "ConfigError",
    "ConverterError",
    "Decision",
    "DocgenError",
    "FieldProblem",
    "ForbiddenResource",
    "GoodsItem",
    "IssueOutcome",
    "IssuedLetter",
    "Issuer",
    "LetterInProgress",
    "LetterKind",
    "LetterRequest",
    "Nature",
    "Outcome",
    "RegisterError",
    "RenderError",
    "RenderedLetter",
    "Renderer",
    "RequestConflict",
    "RequestInvalid",
    "Service",
    "Settings",
    "Signatory",
    "SigningError",
    "TemplateError",
    "TemplateFormat",
    "UnknownLetter",
    "Verdict",
    "VerificationReport",
    "Verifier",
    "__version__",
    "read_request",
]
