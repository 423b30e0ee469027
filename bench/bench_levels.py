"""Signature-level benchmark: what B-T, B-LT and B-LTA cost per letter against B-B.

With the demo PKI's services live on loopback (started here when they are not running), issues
the HTML reference letter (render and sign together, through the Issuer) at each level:

- a single letter: the first letter of a fresh Issuer, which fetches revocation data;
- per letter in a batch: the median of further letters from the same Issuer, which reuses its
  timestamp client and the revocation data it fetched while fresh.

Targets: in a batch, a B-LTA letter costs at most 2x a B-B letter (the signature-level work),
and at most 1.3x (the one-pass work, which made the B-B letter cheaper and must keep the ratio).

Run: ``.venv/bin/python bench/bench_levels.py [--letters N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from docgen.config import Settings
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "examples" / "ilmate-pertek-baja-approved.json"
TSA = "http://127.0.0.1:9999/docgen-demo/tsa/tsa"
PROBE = "http://127.0.0.1:9999/docgen-demo/crls/root/latest.crl"


def services_up() -> bool:
    """Whether the demo PKI services answer."""
    try:
        with urllib.request.urlopen(PROBE, timeout=1):
            return True
    except OSError:
        return False


def start_services() -> subprocess.Popen[bytes] | None:
    """Start the demo PKI services unless they already run; wait until they answer."""
    if services_up():
        return None
    service = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "pki-services.sh")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not services_up():
        if time.monotonic() > deadline or service.poll() is not None:
            raise SystemExit("the demo PKI services did not start")
        time.sleep(0.3)
    return service


def requests(count: int, prefix: str) -> list[LetterRequest]:
    """``count`` copies of the reference request with their own request ids."""
    data = json.loads(REFERENCE.read_text("utf-8"))
    out = []
    for index in range(count):
        data["request_id"] = f"{prefix}-{index}"
        out.append(LetterRequest.from_mapping(data))
    return out


def measure(level: str, letters: int, renderer: Renderer) -> tuple[float, float]:
    """Seconds for the first letter of a fresh Issuer, and the median of the following ones."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.load(
            letter_register={"path": f"{scratch}/register.sqlite3"},
            output=f"{scratch}/letters",
            signing={"level": level, "timestamp_url": "" if level == "B-B" else TSA},
        )
        Register.create(settings.letter_register.path).close()
        with Issuer(settings, renderer=renderer) as issuer:
            times = []
            for request in requests(letters + 1, level):
                start = time.perf_counter()
                issuer.issue(request)
                times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=15, help="letters per level in the batch")
    args = parser.parse_args()
    service = start_services()
    try:
        with Renderer(Settings.load()) as renderer:
            results = {
                level: measure(level, args.letters, renderer)
                for level in ("B-B", "B-T", "B-LT", "B-LTA")
            }
    finally:
        if service is not None:
            service.terminate()
    base = results["B-B"][1]
    print(f"HTML reference letter, render + sign through the Issuer; batch of {args.letters}")
    for level, (single, batch) in results.items():
        print(
            f"{level:<6} single letter {single * 1000:7.1f} ms   "
            f"per letter in a batch {batch * 1000:7.1f} ms   x{batch / base:4.2f} of B-B"
        )
    ratio = results["B-LTA"][1] / base
    for limit in (2.0, 1.3):
        verdict = "met" if ratio <= limit else "MISSED"
        print(f"B-LTA / B-B in a batch: {ratio:.2f}x   target <= {limit:g}x: {verdict}")


if __name__ == "__main__":
    main()
