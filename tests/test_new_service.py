"""Adding a service the way the README tells an officer to: ``services new``, edit, check, render.

Done in a private copy of the templates and the sample requests, with the CLI only; the new
service's draft must carry the officer's own wording, and nothing existing may change.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from docgen.cli import main
from tests.helpers import EXAMPLES, pdf_text


@pytest.fixture
def workplace(templates_copy: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(settings file, templates folder, samples folder), all private to the test."""
    samples = tmp_path / "examples"
    shutil.copytree(EXAMPLES, samples)
    config = tmp_path / "docgen.toml"
    config.write_text(f'templates = "{templates_copy}"\n', "utf-8")
    return config, templates_copy, samples


def _docgen(config: Path, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *arguments])
    return result.exit_code, result.output


def _new(workplace: tuple[Path, Path, Path], code: str, like: str) -> tuple[int, str]:
    """``docgen services new CODE --like LIKE`` in the test's own folders."""
    config, _, samples = workplace
    return _docgen(config, "services", "new", code, "--like", like, "--samples", str(samples))


def test_an_officer_adds_a_glass_service_like_the_chemicals_one(
    workplace: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    config, templates, samples = workplace
    before = {path: path.read_bytes() for path in templates.rglob("*") if path.is_file()}
    code, output = _new(workplace, "IKFT-PERTEK-KACA", "IKFT-PERTEK-KIMIA")
    assert code == 0, output
    template = templates / "html" / "ikft-pertek-kaca.html.j2"
    for made in (template, samples / "ikft-pertek-kaca-approved.json"):
        assert f"wrote {made}" in output
    # nothing existing changed but the catalogue, which only grew
    changed = [p for p, data in before.items() if p.read_bytes() != data]
    assert changed == [templates / "catalogue.toml"]
    assert (
        (templates / "catalogue.toml")
        .read_text("utf-8")
        .startswith(before[templates / "catalogue.toml"].decode().rstrip("\n"))
    )

    # the officer's edits: the entry's title and regulation, the template's wording, the sample
    catalogue = templates / "catalogue.toml"
    text = catalogue.read_text("utf-8")
    entry_at = text.index('code = "IKFT-PERTEK-KACA"')
    entry = text[entry_at:]
    entry = entry.replace(
        "Pertimbangan Teknis Impor Bahan Kimia Hulu", "Pertimbangan Teknis Impor Kaca", 1
    ).replace("Nomor 8 Tahun 2024", "Nomor 5 Tahun 2022", 1)
    entry = entry.replace(
        'subject = "Pertimbangan Teknis Impor Bahan Kimia"',
        'subject = "Pertimbangan Teknis Impor Kaca"',
        1,
    )
    catalogue.write_text(text[:entry_at] + entry, "utf-8")
    template.write_text(
        template.read_text("utf-8").replace(
            "bahan kimia hulu sebagai bahan baku industri", "kaca lembaran float"
        ),
        "utf-8",
    )
    sample = samples / "ikft-pertek-kaca-approved.json"
    request = json.loads(sample.read_text("utf-8"))
    request["items"][0]["description"] = "Kaca lembaran float"
    sample.write_text(json.dumps(request), "utf-8")

    code, output = _docgen(config, "templates", "check", "--samples", str(samples))
    assert code == 0, output
    assert "regulation not confirmed: IKFT-PERTEK-KACA: Peraturan Menteri Perindustrian " \
        "Nomor 5 Tahun 2022" in output  # fmt: skip

    draft = tmp_path / "draft.pdf"
    code, output = _docgen(config, "render", str(sample), "-o", str(draft))
    assert code == 0, output
    words = " ".join(pdf_text(draft.read_bytes(), tmp_path).split())
    assert "untuk mengimpor kaca lembaran float" in words
    assert "Nomor 5 Tahun 2022" in words and "Kaca lembaran float" in words
    assert "Pertimbangan Teknis Impor Kaca" in words  # the Hal

    # and beside each other: the new service's letters in both outcomes, sample and stress
    preview, sheet = tmp_path / "preview.pdf", tmp_path / "preview.png"
    code, output = _docgen(
        config, "templates", "preview", "--service", "IKFT-PERTEK-KACA", "-o", str(preview),
        "--samples", str(samples),
    )  # fmt: skip
    assert code == 0, output
    assert [line.split()[:3] for line in output.splitlines()[:4]] == [
        ["IKFT-PERTEK-KACA", outcome, kind]
        for outcome in ("approved", "rejected")
        for kind in ("sample", "stress")
    ]
    assert sheet.stat().st_size > 0 and "kaca lembaran float" in pdf_text(
        preview.read_bytes(), tmp_path
    )


def test_a_new_docx_service_starts_from_a_copy_that_passes_the_check_once_retitled(
    workplace: tuple[Path, Path, Path],
) -> None:
    config, templates, samples = workplace
    code, output = _new(workplace, "ILMATE-PERTEK-KAPAL-BTB", "ILMATE-PERTEK-BTB")
    assert code == 0, output
    copy = templates / "docx" / "ilmate-pertek-kapal-btb.docx"
    assert copy.read_bytes() == (templates / "docx" / "ilmate-pertek-btb.docx").read_bytes()
    # left as copied, it would print the other service's title: the check says so
    code, output = _docgen(config, "templates", "check", "--samples", str(samples))
    assert code == 1, output
    assert "ILMATE-PERTEK-KAPAL-BTB has the same title as ILMATE-PERTEK-BTB" in output
    catalogue = templates / "catalogue.toml"
    text = catalogue.read_text("utf-8")
    head, entry = text.rsplit("[[service]]", 1)
    entry = re.sub(
        r'(?m)^title = ".*"$', 'title = "Pertimbangan Teknis Impor Kapal Bukan Baru"', entry
    )
    catalogue.write_text(head + "[[service]]" + entry, "utf-8")
    code, output = _docgen(config, "templates", "check", "--samples", str(samples))
    assert code == 0, output
    assert "regulation not confirmed: ILMATE-PERTEK-KAPAL-BTB" in output


@pytest.mark.parametrize(
    ("code", "like", "words"),
    [
        ("IKFT-PERTEK-BAN", "IKFT-PERTEK-KIMIA", "already has a service IKFT-PERTEK-BAN"),
        ("IKFT-PERTEK-X", "NO-SUCH", "Unknown service 'NO-SUCH'"),
        ("ikft kecil", "IKFT-PERTEK-KIMIA", "is no service code"),
    ],
)
def test_a_wrong_code_changes_nothing(
    workplace: tuple[Path, Path, Path], code: str, like: str, words: str
) -> None:
    _, templates, samples = workplace
    before = sorted(p.name for p in [*templates.rglob("*"), *samples.rglob("*")])
    catalogue = (templates / "catalogue.toml").read_bytes()
    status, output = _new(workplace, code, like)
    assert status != 0 and words in output, output
    assert sorted(p.name for p in [*templates.rglob("*"), *samples.rglob("*")]) == before
    assert (templates / "catalogue.toml").read_bytes() == catalogue


def test_an_existing_sample_is_never_overwritten(workplace: tuple[Path, Path, Path]) -> None:
    _, templates, samples = workplace
    taken = samples / "ikft-pertek-kaca-rejected.json"
    taken.write_text("{}", "utf-8")
    status, output = _new(workplace, "IKFT-PERTEK-KACA", "IKFT-PERTEK-KIMIA")
    assert status != 0 and "Not overwriting" in output, output
    assert taken.read_text("utf-8") == "{}"
    assert not (templates / "html" / "ikft-pertek-kaca.html.j2").exists()
