"""The bundled example requests, with their dates brought forward to today once they have aged.

The examples were written for letters issued on ``WRITTEN_FOR``. docgen refuses a *valid until*
already past on the day of issue, so once an example has expired the demo would fail. This
copies ``examples/*.json`` into a folder: unchanged while every example is still valid; after
that with every date moved by the same number of days (so that ``WRITTEN_FOR`` becomes today),
and each request id marked with the shift, because the same id with other content is refused
as a conflict.

Usage: ``python scripts/demo_examples.py OUT_DIR`` (prints the files written).
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from docgen.config import Settings
from docgen.formatting import today_in

WRITTEN_FOR = date(2026, 12, 1)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_DATE_FIELDS = (("application", "date"), ("decision", "date"), (None, "valid_until"))


def shifted(request: dict[str, Any], days: int) -> dict[str, Any]:
    """The request with each of its dates ``days`` later and its id marked with the shift."""
    if days == 0:
        return request
    moved: dict[str, Any] = json.loads(json.dumps(request))
    for section, name in _DATE_FIELDS:
        holder = moved if section is None else moved.get(section, {})
        if holder.get(name):
            holder[name] = (date.fromisoformat(holder[name]) + timedelta(days=days)).isoformat()
    moved["request_id"] = f"{moved['request_id']}-D{days}"
    return moved


def main(out: Path) -> None:
    """Write the examples, dated for today, into ``out``."""
    today = today_in(Settings.load().signing.timezone)
    requests = {p: json.loads(p.read_text("utf-8")) for p in sorted(EXAMPLES.glob("*.json"))}
    expired = any(
        date.fromisoformat(r["valid_until"]) < today
        for r in requests.values()
        if r.get("valid_until")
    )
    # unchanged for as long as they are all still valid, so that running the demo again
    # returns the letters it issued before
    days = max(0, (today - WRITTEN_FOR).days) if expired else 0
    out.mkdir(parents=True, exist_ok=True)
    for path, original in requests.items():
        request = shifted(original, days)
        target = out / path.name
        target.write_text(json.dumps(request, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(target)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/demo_examples.py OUT_DIR")
    main(Path(sys.argv[1]))
