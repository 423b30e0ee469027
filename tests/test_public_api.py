"""The public surface is explicit: pinned here so a change to it is a deliberate one."""

from __future__ import annotations

import subprocess
import sys

import docgen


def test_exported_names_are_pinned() -> None:
    assert docgen.__all__ == [
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
    assert docgen.__all__ == sorted(docgen.__all__)


def test_every_export_exists_and_is_documented() -> None:
    for name in docgen.__all__:
        value = getattr(docgen, name)
        if name != "__version__":
            assert value.__doc__, f"{name} has no docstring"


def test_every_error_derives_from_the_one_base() -> None:
    errors = [getattr(docgen, n) for n in docgen.__all__ if n.endswith(("Error", "Invalid"))]
    errors.append(docgen.ForbiddenResource)
    for error in errors:
        assert issubclass(error, docgen.DocgenError)


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "docgen", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"docgen, version {docgen.__version__}"
