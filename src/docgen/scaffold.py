"""A new service started from an existing one (``docgen services new CODE --like EXISTING``).

The officer gets, for the new code, everything a service needs, copied from the one it is like:

* its catalogue entry, appended to ``catalogue.toml`` as text (comments and layout kept), with
  the new code, its own approval template and ``regulation_confirmed = false``;
* its approval template: the existing one copied, ``html/<code>.html.j2`` or ``docx/<code>.docx``
  (rejections share the existing service's rejection template);
* its two sample requests, ``<code>-approved.json`` and ``<code>-rejected.json`` in the samples
  folder, naming the new service.

Nothing existing is overwritten, and the catalogue is replaced only once the new entry loads:
a failure leaves every file as it was. The templates inside an installed package are refused:
the next install or upgrade of docgen would replace them, and the new service with them. What
to edit next is for the officer (title, regulation, subject, numbering, the template's wording,
the samples), then ``docgen templates check``.

Example::

    created = new_service(settings.templates / "catalogue.toml", "IKFT-PERTEK-KACA",
                          like="IKFT-PERTEK-KIMIA", samples=Path("examples"))
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from docgen.catalogue import Catalogue, Service, TemplateFormat
from docgen.errors import CatalogueError
from docgen.models import Outcome
from docgen.templatecheck import sample_path

__all__ = ["new_service"]

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
_PACKAGE = Path(__file__).resolve().parent


def _refuse_installed_package(catalogue_path: Path) -> None:
    """Refuse a catalogue that lies in the installed package (a source checkout's is its own)."""
    root = catalogue_path.resolve().parent
    if root.is_relative_to(_PACKAGE):
        raise CatalogueError(
            f"The templates folder {root} belongs to the installed docgen package: the next "
            "install or upgrade would replace it, and the new service with it. Copy the folder "
            'to one of your own, name it in the settings (templates = "/path/to/templates" '
            "in docgen.toml), copy the sample requests beside it (examples/) or name them with "
            "--samples, then add the service there"
        )


def _entry(text: str, code: str) -> str:
    """The ``[[service]]`` block of ``code`` in the catalogue's text, up to the next block."""
    blocks = re.split(r"(?m)^(?=\[\[service\]\])", text)
    for block in blocks:
        if re.search(rf'(?m)^code\s*=\s*"{re.escape(code)}"\s*$', block):
            return block.rstrip("\n") + "\n"
    raise CatalogueError(f"The catalogue's text has no entry with code = {code!r}")


def _set(block: str, key: str, value: str) -> str:
    """``block`` with ``key = value`` (replaced where it is, else added after the code)."""
    line = f"{key} = {value}"
    pattern = rf"(?m)^{re.escape(key)}\s*=.*$"
    if re.search(pattern, block):
        return re.sub(pattern, lambda _: line, block, count=1)
    return re.sub(r"(?m)^(code\s*=.*)$", lambda match: f"{match.group(1)}\n{line}", block, count=1)


def _template_name(service: Service, code: str) -> str:
    if service.format is TemplateFormat.HTML:
        return f"html/{code.lower()}.html.j2"
    return f"docx/{code.lower()}.docx"


def new_service(catalogue_path: Path, code: str, *, like: str, samples: Path) -> list[Path]:
    """Add service ``code`` modelled on service ``like``; return the files made or changed."""
    if not _CODE.fullmatch(code):
        raise CatalogueError(
            f"{code!r} is no service code: capital letters, digits and hyphens, 2 to 40 "
            "characters, e.g. IKFT-PERTEK-KACA"
        )
    _refuse_installed_package(catalogue_path)
    catalogue = Catalogue.load(catalogue_path)
    model = catalogue.get(like)  # CatalogueError naming the known codes when unknown
    if code in {service.code for service in catalogue}:
        raise CatalogueError(f"The catalogue already has a service {code}")
    root = catalogue_path.parent
    template = _template_name(model, code)
    copies = {root / template: root / model.template_approved}
    for outcome in Outcome:
        copies[sample_path(samples, code, outcome)] = sample_path(samples, like, outcome)
    taken = [str(path) for path in copies if path.exists()]
    if taken:
        raise CatalogueError(f"Not overwriting what exists: {', '.join(taken)}")
    missing = [str(source) for source in copies.values() if not source.is_file()]
    if missing:
        raise CatalogueError(f"Cannot copy what is missing: {', '.join(missing)}")

    text = catalogue_path.read_text("utf-8")
    block = _set(_entry(text, like), "code", json.dumps(code))
    block = _set(block, "template_approved", json.dumps(template))
    block = _set(block, "regulation_confirmed", "false")
    updated = text.rstrip("\n") + "\n\n" + block
    partial = catalogue_path.with_name(f".{catalogue_path.name}.{os.getpid()}.new")
    made: list[Path] = []
    try:
        partial.write_text(updated, "utf-8")
        for target, source in copies.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            made.append(target)  # before writing: a copy cut short is removed too
            if target.suffix == ".json":
                request = json.loads(source.read_text("utf-8"))
                request["service"] = code
                request["request_id"] = f"CONTOH-{code}-{request.get('request_id', '')}"
                target.write_text(json.dumps(request, ensure_ascii=False, indent=2) + "\n", "utf-8")
            else:
                shutil.copyfile(source, target)
        Catalogue.load(partial)  # the new entry loads, its template exists: now it counts
        partial.replace(catalogue_path)
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        raise
    finally:
        partial.unlink(missing_ok=True)
    return [catalogue_path, *made]
