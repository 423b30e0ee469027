"""Untrusted text stays text: escaped in HTML and DOCX, never evaluated, never fetched."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.context import build_context
from docgen.errors import ForbiddenResource, RequestInvalid, TemplateError
from docgen.render import Renderer
from docgen.render.html import HtmlRenderer
from tests.helpers import DATA, EXAMPLES, load_request, pdf_text

HOSTILE = [
    '<img src="file:///etc/passwd">',
    "{{ 7*7 }}",
    "{% if true %}X{% endif %}",
    'AT&T <Müller> "Ö"',
]


@pytest.mark.parametrize(
    "name", ["hostile-company-name.json", "hostile-company-name-docx.json"], ids=["html", "docx"]
)
def test_hostile_strings_come_out_as_literal_text(
    name: str, renderer: Renderer, tmp_path: Path
) -> None:
    request = load_request(DATA / name)
    letter = renderer.render_draft(request)
    # compare without white space: the layout may break a long string anywhere
    text = "".join(pdf_text(letter.pdf, tmp_path).split())
    for fragment in [*HOSTILE, "<script>alert(1)</script>"]:
        assert "".join(fragment.split()) in text, fragment
    assert "root:x:0:0" not in text  # /etc/passwd was not read into the letter


def test_html_merge_escapes_markup(renderer: Renderer, settings: Settings) -> None:
    request = load_request(DATA / "hostile-company-name.json")
    service = renderer.catalogue.get(request.service)
    html = renderer.html.to_html(
        service.template_approved, build_context(request, service, settings)
    )
    assert '<img src="file:///etc/passwd">' not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "<script>" not in html


def test_docx_merge_keeps_the_document_valid_xml(renderer: Renderer, settings: Settings) -> None:
    request = load_request(DATA / "hostile-company-name-docx.json")
    service = renderer.catalogue.get(request.service)
    docx = renderer.docx.to_docx(
        service.template_approved, build_context(request, service, settings)
    )
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        body = archive.read("word/document.xml")
        for part in archive.namelist():
            if part.endswith(".xml"):
                ElementTree.fromstring(archive.read(part))  # raises if not well-formed
    texts = "".join(node.text or "" for node in ElementTree.fromstring(body).iter())
    assert request.applicant.name in texts
    assert "{{ 7*7 }}" in texts


def test_control_characters_are_refused_before_any_rendering() -> None:
    with pytest.raises(RequestInvalid) as caught:
        load_request(DATA / "control-character.json")
    message = str(caught.value)
    assert "U+0007" in message
    assert "U+000B" in message


def _html_renderer_with(templates: Path, body: str) -> tuple[HtmlRenderer, str]:
    (templates / "html" / "evil.html.j2").write_text(body, encoding="utf-8")
    return HtmlRenderer(templates), "html/evil.html.j2"


@pytest.mark.parametrize(
    "body",
    [
        '<img src="file:///etc/passwd">',
        '<link rel="stylesheet" href="file:///etc/ssl/openssl.cnf">',
        '<img src="http://127.0.0.1:9/tracker.png">',
        '<img src="../catalogue.toml">',
        "<style>@import url(file:///etc/hostname);</style>",
    ],
)
def test_templates_cannot_reach_files_or_network(
    templates_copy: Path, body: str, settings: Settings
) -> None:
    html, template = _html_renderer_with(templates_copy, f"<p>Surat</p>{body}")
    with pytest.raises(ForbiddenResource, match="outside its assets"):
        html.render(template, {})


def test_templates_may_load_their_own_assets(templates_copy: Path) -> None:
    html, template = _html_renderer_with(templates_copy, '<img src="assets/logo.svg"><p>Surat</p>')
    assert html.render(template, {}).startswith(b"%PDF")


def test_sandbox_refuses_python_internals(templates_copy: Path) -> None:
    html, template = _html_renderer_with(
        templates_copy, "{{ request.__class__.__mro__[1].__subclasses__() }}"
    )
    request = load_request(EXAMPLES / "ilmate-pertek-baja-approved.json")
    with pytest.raises(TemplateError):
        html.render(template, {"request": request})


def test_undefined_variables_are_errors(templates_copy: Path) -> None:
    html, template = _html_renderer_with(templates_copy, "{{ request.applicant.nama }}")
    request = load_request(EXAMPLES / "ilmate-pertek-baja-approved.json")
    with pytest.raises(TemplateError, match="nama"):
        html.render(template, {"request": request})


def test_catalogue_root_is_the_only_template_source(templates_copy: Path) -> None:
    html, template = _html_renderer_with(templates_copy, '{% include "/etc/passwd" %}')
    with pytest.raises(TemplateError):
        html.render(template, {})
    assert isinstance(Catalogue.load(templates_copy / "catalogue.toml"), Catalogue)
