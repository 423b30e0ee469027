"""The wheel works outside the checkout, on its declared dependencies alone.

The wheel is built from this checkout and installed into a fresh virtual environment that sees
no other packages: no system site-packages, nothing from the checkout. pip resolves the wheel's
declared dependencies from a wheelhouse (wheels only) kept between runs (``$XDG_CACHE_HOME``, else
``~/.cache``, under ``docgen-tests/wheelhouse``), filled from the package index only when it
lacks something, so a repeat run needs no network. Then, from a folder outside the checkout and
with a settings file that names only the signing keys and the register, the installed ``docgen``
creates the register, renders a draft, issues a letter at PAdES B-T (the test PKI's live
timestamping authority) into its data folder, and verifies it as valid.

HTML letters only: DOCX letters need LibreOffice's bridge (Debian's python3-uno), a system
package that no wheel can declare.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES, ROOT, demo_officials

EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"


def _run(
    command: Sequence[object], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def _wheelhouse() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(cache) / "docgen-tests" / "wheelhouse"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _install(wheel: Path, venv: Path) -> None:
    """Install ``wheel`` and its dependencies into ``venv``, from the wheelhouse when it can."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python"]
    pip.append(str(venv / "bin" / "python"))
    house = _wheelhouse()
    # bytecode is written as the modules are first imported: only those docgen uses
    offline = [*pip, "install", "-q", "--no-compile", "--no-index", "--find-links", house, wheel]
    first = subprocess.run([str(p) for p in offline], capture_output=True, text=True, check=False)
    if first.returncode != 0:  # a dependency is missing from the wheelhouse: fetch them all
        # as wheels, built once from any that comes as source only (docopt), so that installing
        # from the wheelhouse needs no build tools and no index
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", house, wheel])
        for stale in house.glob("docgen-*.whl"):  # only dependencies belong there
            stale.unlink()
        _run(offline)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel built from this checkout."""
    work = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", ROOT])
    (wheel,) = (work / "dist").glob("docgen-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    for shipped in (
        "docgen/defaults.toml",
        "docgen/py.typed",
        "docgen/render/letter_ua.css",
        "docgen/templates/catalogue.toml",
        "docgen/templates/assets/letter.css",
        "docgen/templates/assets/fonts/LiberationSans-Regular.ttf",
        "docgen/templates/html/base.html.j2",
        "docgen/templates/docx/penolakan.docx",
    ):
        assert shipped in names, f"the wheel lacks {shipped}"
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src").rglob("*.py")}
    assert sources <= names, f"the wheel lacks {sorted(sources - names)}"
    assert not any(n.endswith("pki.py") for n in names), "the demo PKI stays out of the wheel"
    runtime = [line for line in metadata.decode().splitlines() if line.startswith("Requires-Dist")]
    assert not any("certomancer" in line and "extra ==" not in line for line in runtime)

    venv = work / "venv"
    _run([Path(sys.base_prefix) / "bin" / "python3", "-m", "venv", "--without-pip", venv])
    _install(wheel, venv)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python"]
    _run([*pip, venv / "bin" / "python", "check"])
    return venv


def _environment(home: Path) -> dict[str, str]:
    """The environment of an operator's shell: no settings, keys or paths of this test run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DOCGEN_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["DOCGEN_HOME"] = str(home)
    return env


def test_installed_wheel_imports_nothing_from_the_checkout(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, sys, docgen, docgen.cli, docgen.pipeline, docgen.verify, docgen.config\n"
        "files = [getattr(m, '__file__', None) or '' for m in list(sys.modules.values())]\n"
        "print(json.dumps({'docgen': docgen.__file__, 'files': files,\n"
        "    'templates': str(docgen.config.bundled_templates())}))\n"
    )
    env = _environment(tmp_path / "home")
    found = json.loads(
        _run([installed / "bin" / "python", "-c", probe], cwd=tmp_path, env=env).stdout
    )
    site = installed.resolve()
    assert Path(found["docgen"]).resolve().is_relative_to(site)
    assert Path(found["templates"]).resolve().is_relative_to(site)
    assert (Path(found["templates"]) / "catalogue.toml").is_file()
    leaked = [f for f in found["files"] if f and Path(f).resolve().is_relative_to(ROOT)]
    assert not leaked, f"modules imported from the checkout: {leaked}"


def test_installed_wheel_issues_and_verifies_outside_the_checkout(
    installed: Path, tmp_path: Path, pki: DemoPki, pki_services: str
) -> None:
    work = tmp_path / "office"
    home = tmp_path / "home"  # the data folder: the letters land here
    work.mkdir()
    shutil.copy(EXAMPLE, work / "request.json")
    passphrase = pki.p12["signer-ilmate"].parent / "passphrase"
    settings = work / "docgen.toml"
    settings.write_text(
        f'[signing]\nlevel = "B-T"\ntimestamp_url = "{pki_services}"\n'
        f'[signing.keys.ILMATE]\npkcs12 = "{pki.p12["signer-ilmate"]}"\n'
        f'passphrase_file = "{passphrase}"\n'
        '[letter_register]\npath = "register.sqlite3"\n' + demo_officials(),
        encoding="utf-8",
    )
    env = _environment(home) | {"DOCGEN_CONFIG": str(settings)}
    docgen = installed / "bin" / "docgen"

    _run([docgen, "register", "init"], cwd=work, env=env)
    assert (work / "register.sqlite3").is_file()  # relative to the settings file
    _run([docgen, "render", "request.json", "-o", "draft.pdf"], cwd=work, env=env)
    assert (work / "draft.pdf").read_bytes().startswith(b"%PDF-")
    _run([docgen, "issue", "request.json"], cwd=work, env=env)
    (letter,) = (home / "letters").rglob("*.pdf")
    verified = _run(
        [docgen, "verify", "--json", "--trust", pki.root_cert, letter], cwd=work, env=env
    )
    report = json.loads(verified.stdout)
    assert (report["verdict"], report["level"]) == ("valid", "B-T"), report
    assert report["register_status"] == "issued"


def test_installed_wheel_refuses_a_new_service_inside_the_package(
    installed: Path, tmp_path: Path
) -> None:
    """The package's own templates are replaced by the next upgrade: no service is added there."""
    samples = tmp_path / "samples"
    samples.mkdir()
    for outcome in ("approved", "rejected"):
        shutil.copy(EXAMPLES / f"ikft-pertek-kimia-{outcome}.json", samples)
    probe = "import docgen.config; print(docgen.config.bundled_templates())"
    env = _environment(tmp_path / "home")
    templates = Path(_run([installed / "bin" / "python", "-c", probe], env=env).stdout.strip())
    before = {p: p.read_bytes() for p in templates.rglob("*") if p.is_file()}

    result = subprocess.run(
        [
            *(installed / "bin" / "docgen", "services", "new", "IKFT-PERTEK-KACA"),
            *("--like", "IKFT-PERTEK-KIMIA", "--samples", samples),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "belongs to the installed docgen package" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    after = {p: p.read_bytes() for p in templates.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in samples.iterdir()) == [
        "ikft-pertek-kimia-approved.json",
        "ikft-pertek-kimia-rejected.json",
    ]
