"""Shared fixtures: one settings object, one catalogue, one warm renderer for the whole run.

The renderer owns the single LibreOffice process of the test run; it is started on the first
DOCX letter and stopped when the session ends.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.render import RenderedLetter, Renderer
from tests.helpers import EXAMPLE_FILES, load_request


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.load()


@pytest.fixture(scope="session")
def catalogue(settings: Settings) -> Catalogue:
    return Catalogue.load(settings.templates / "catalogue.toml")


@pytest.fixture(scope="session")
def renderer(settings: Settings, catalogue: Catalogue) -> Iterator[Renderer]:
    with Renderer(settings, catalogue) as shared:
        yield shared


@pytest.fixture(scope="session")
def drafts(renderer: Renderer) -> dict[str, RenderedLetter]:
    """Every bundled example rendered once as a draft, by file stem."""
    return {path.stem: renderer.render_draft(load_request(path)) for path in EXAMPLE_FILES}


@pytest.fixture
def templates_copy(tmp_path: Path, settings: Settings) -> Path:
    """A private copy of the templates folder that a test may change."""
    target = tmp_path / "templates"
    shutil.copytree(settings.templates, target)
    return target
