"""The template check (docgen.templatecheck): every variable and filter a template uses exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest

from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.render.environment import template_environment
from docgen.templatecheck import (
    TemplateProblem,
    check_catalogue,
    check_letters,
    check_source,
    unconfirmed,
)
from tests.helpers import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"


@pytest.fixture(scope="module")
def environment() -> jinja2.Environment:
    return template_environment(None, autoescape=True)


def messages(source: str, environment: jinja2.Environment) -> list[str]:
    return [str(problem) for problem in check_source(source, "t.html.j2", environment)]


@pytest.mark.parametrize(
    "source",
    [
        "{{ request.applicant.nib }}",
        "{% for item in request.items %}{{ item.tariff_code }} {{ item.quantity | kuantitas }}"
        "{% endfor %}",
        "{% for item in request.items %}{{ loop.index }}. {{ item.brand }}{% endfor %}",
        "{{ service.kind.label }}",
        "{% if request.decision.approved %}ya{% else %}tidak{% endif %}",
        "{{ agency.place }}, {{ letter.date | tanggal }}",
        "{{ request.items | length | terbilang }} {{ letter.date.month | romawi }}",
        "{% for reason in request.decision.reasons %}{{ reason }}{% endfor %}",
        "{{ request.signatory.acting }} {{ dg.name }} {{ esign.footer }}",
        "{{ request.items[0].tariff_code }}",
        "{% set items = request.items %}{{ items | length }}",
        "{% if request.valid_until is not none %}{{ request.valid_until | tanggal }}{% endif %}",
        "{% macro row(x) %}{{ x.anything }}{% endmacro %}{{ row(request) }}",
    ],
)
def test_known_paths_pass(source: str, environment: jinja2.Environment) -> None:
    assert messages(source, environment) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ request.applicant.nama }}", "t.html.j2:1: request.applicant.nama does not exist"),
        (
            "{% for item in request.items %}\n{{ item.foo }}\n{% endfor %}",
            "t.html.j2:2: item.foo does not exist",
        ),
        ("\n\n{{ letter.date | tanggalan }}", "t.html.j2:3: unknown filter 'tanggalan'"),
        ("{{ requests.applicant }}", "t.html.j2:1: unknown variable 'requests'"),
        ("{{ service.kind.nope }}", "t.html.j2:1: service.kind.nope does not exist"),
        (
            "{{ request.applicant.nib.nope }}",
            "t.html.j2:1: request.applicant.nib.nope does not exist",
        ),
        ("{% if x is frobnicated %}{% endif %}", "t.html.j2:1: unknown test 'frobnicated'"),
        (
            "{% for item in request.items %}{% endfor %}{{ item.tariff_code }}",
            "t.html.j2:1: unknown variable 'item'",
        ),
    ],
)
def test_unknown_paths_are_reported_with_template_and_line(
    source: str, expected: str, environment: jinja2.Environment
) -> None:
    assert expected in messages(source, environment)


def test_syntax_error_is_reported_with_its_line(environment: jinja2.Environment) -> None:
    problems = check_source("<p>\n\n{% if %}\n</p>\n", "x.html.j2", environment)
    assert len(problems) == 1
    assert problems[0].template == "x.html.j2"
    assert problems[0].line == 3
    assert problems[0].message.startswith("syntax error:")


def test_problem_has_the_template_line_and_message(environment: jinja2.Environment) -> None:
    problems = check_source("a\nb\n  {{ request.nope }}", "html/x.html.j2", environment)
    assert problems == [TemplateProblem("html/x.html.j2", 3, "request.nope does not exist")]


# --- known gaps (bugs) --------------------------------------------------------------------------


def test_super_in_a_block_passes(environment: jinja2.Environment) -> None:
    assert messages("{% block closing %}<p>x</p>{{ super() }}{% endblock %}", environment) == []


def test_item_fields_are_checked_through_a_set_alias(environment: jinja2.Environment) -> None:
    source = "{% set items = request.items %}{% for item in items %}{{ item.nama }}{% endfor %}"
    assert "t.html.j2:1: item.nama does not exist" in messages(source, environment)


def test_with_block_names_are_known(environment: jinja2.Environment) -> None:
    source = "{% with applicant = request.applicant %}{{ applicant.nib }}{% endwith %}"
    assert messages(source, environment) == []


# --- whole catalogue ----------------------------------------------------------------------------


def test_shipped_catalogue_has_no_template_problems(environment: jinja2.Environment) -> None:
    catalogue = Catalogue.load(TEMPLATES / "catalogue.toml")
    assert [str(problem) for problem in check_catalogue(catalogue, environment)] == []


def test_check_catalogue_reports_an_unknown_field_in_an_html_template(
    tmp_path: Path, environment: jinja2.Environment
) -> None:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES, root)
    template = "html/persetujuan.html.j2"  # reached through the services' own templates
    source = (root / template).read_text("utf-8")
    marker = "{{ request.applicant.name }}"
    assert marker in source
    changed = source.replace(marker, "{{ request.applicant.nama }}", 1)
    (root / template).write_text(changed, "utf-8")
    line = changed[: changed.index("request.applicant.nama")].count("\n") + 1

    catalogue = Catalogue.load(root / "catalogue.toml")
    problems = check_catalogue(catalogue, environment)
    assert TemplateProblem(template, line, "request.applicant.nama does not exist") in problems
    assert [p for p in problems if "nama" in p.message] == [
        TemplateProblem(template, line, "request.applicant.nama does not exist")
    ]


def test_check_catalogue_follows_extends_into_the_base_template(
    tmp_path: Path, environment: jinja2.Environment
) -> None:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES, root)
    base = root / "html" / "base.html.j2"
    base.write_text(base.read_text("utf-8") + "\n{{ agency.nope }}\n", "utf-8")
    problems = check_catalogue(Catalogue.load(root / "catalogue.toml"), environment)
    assert [p.template for p in problems if p.message == "agency.nope does not exist"] == [
        "html/base.html.j2"
    ]


def test_shipped_docx_templates_are_what_their_builder_makes(tmp_path: Path) -> None:
    """The DOCX templates are built by tools/build_docx_templates.py, never edited by hand: a
    change made to a file alone would be lost at the next build."""
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_docx_templates.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    shipped = sorted(path.name for path in (ROOT / "templates" / "docx").glob("*.docx"))
    assert sorted(path.name for path in tmp_path.glob("*.docx")) == shipped
    for name in shipped:
        built = (tmp_path / name).read_bytes()
        assert built == (ROOT / "templates" / "docx" / name).read_bytes(), name


# ------------------------------------------------------------------ what a clerk gets wrong


def _letters_problems(root: Path, environment: jinja2.Environment) -> list[str]:
    catalogue = Catalogue.load(root / "catalogue.toml")
    return [str(p) for p in check_letters(catalogue, Settings.load(), EXAMPLES, environment)]


def _edit_docx(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite a DOCX file's document.xml through ``change``, as Word would save an edit."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    xml = parts["word/document.xml"].decode()
    changed = change(xml)
    assert changed != xml
    parts["word/document.xml"] = changed.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def test_the_shipped_services_pass_and_the_unconfirmed_regulations_are_listed(
    environment: jinja2.Environment,
) -> None:
    assert _letters_problems(TEMPLATES, environment) == []
    catalogue = Catalogue.load(TEMPLATES / "catalogue.toml")
    confirmed = {s.code for s in catalogue} - {s.code for s in unconfirmed(catalogue)}
    # those whose regulation the unit's notes give by number
    assert confirmed == {
        "AGRO-REKOM-PULP-EKSPOR", "IKFT-PERTEK-BAN", "IKFT-PERTEK-KIMIA", "ILMATE-PERTEK-BAJA",
        "ILMATE-PERTEK-BTB", "ILMATE-PERTEK-MESIN-BTB", "ILMATE-PERTEK-ALAT-BTB",
    }  # fmt: skip


def test_a_docx_template_without_its_signature_bookmark_is_reported(
    templates_copy: Path, environment: jinja2.Environment
) -> None:
    _edit_docx(
        templates_copy / "docx" / "ikft-pertek-ban.docx",
        lambda xml: xml.replace('w:name="docgenSignatureBox"', 'w:name="Bookmark1"'),
    )
    assert _letters_problems(templates_copy, environment) == [
        "docx/ikft-pertek-ban.docx:0: does not mark the signature space (docgenSignatureBox): "
        "the visible signature would go to the bottom right of the last page"
    ]


def test_an_html_template_that_drops_the_qr_space_is_reported(
    templates_copy: Path, environment: jinja2.Environment
) -> None:
    template = templates_copy / "html" / "ikft-pertek-kimia.html.j2"
    template.write_text(
        template.read_text("utf-8") + "\n{% block esign_notice %}{% endblock %}\n", "utf-8"
    )
    problems = _letters_problems(templates_copy, environment)
    assert problems == [
        "html/ikft-pertek-kimia.html.j2:0: does not mark the QR code space (docgenQrBox): the QR "
        "code would go to the bottom left of the last page"
    ]


def test_a_tag_that_lost_a_brace_in_word_is_reported(
    templates_copy: Path, environment: jinja2.Environment
) -> None:
    # the clerk deleted one brace: Jinja2 sees plain text, and the letter would print the tag
    _edit_docx(
        templates_copy / "docx" / "ilmate-pertek-btb.docx",
        lambda xml: xml.replace("{{ request.applicant.name }}", "{ request.applicant.name }}", 1),
    )
    (problem,) = _letters_problems(templates_copy, environment)
    assert problem.startswith(
        "docx/ilmate-pertek-btb.docx:0: merged with ilmate-pertek-btb-approved"
    )
    assert "{ request.applicant.name }}" in problem and "retype it whole" in problem


def test_a_service_without_sample_requests_is_reported(
    templates_copy: Path, environment: jinja2.Environment
) -> None:
    catalogue = templates_copy / "catalogue.toml"
    text = catalogue.read_text("utf-8")
    entry = text[text.index('[[service]]\ncode = "IKFT-PERTEK-BAN"') :]
    entry = entry[: entry.index("\n\n") + 1] if "\n\n" in entry else entry
    catalogue.write_text(text + "\n" + entry.replace("IKFT-PERTEK-BAN", "IKFT-PERTEK-BAN-DUA"))
    assert _letters_problems(templates_copy, environment) == [
        "docx/ikft-pertek-ban.docx:0: IKFT-PERTEK-BAN-DUA has no sample request "
        "ikft-pertek-ban-dua-approved.json",
        "docx/penolakan.docx:0: IKFT-PERTEK-BAN-DUA has no sample request "
        "ikft-pertek-ban-dua-rejected.json",
    ]
