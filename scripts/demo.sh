#!/usr/bin/env bash
# The main job on embedded defaults: set up what is missing, check the templates, then render
# every bundled example letter as a draft, issue them all (numbered, signed) and verify them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
# the demo PKI's certificates name port 9999: another process there (another demo) would answer
# for its services, and every letter would fail to sign
if ! python -c 'import socket; socket.socket().bind(("127.0.0.1", 9999))' 2>/dev/null; then
  echo "Port 9999 is in use by another process (another demo?): the demo PKI's services need it." >&2
  echo "Stop that process, or wait until it ends, then run the demo again." >&2
  exit 1
fi
docgen services
docgen templates check
# the examples, their dates brought forward to today once they have aged (a letter is never
# issued for a future decision, nor with a validity already past)
python scripts/demo_examples.py out/examples > /dev/null
docgen render out/examples/*.json --out-dir out/drafts
echo "Drafts written to out/drafts/"
# the demo PKI's timestamping authority, OCSP responder and CRLs, live on loopback, so that the
# letters are signed at PAdES B-LTA (certs/demo-services.toml); stopped when the demo ends
mkdir -p out
bash scripts/pki-services.sh > out/pki-services.log 2>&1 &
services=$!
trap 'kill $services 2>/dev/null || true' EXIT
.venv/bin/python - <<'WAIT'
import time, urllib.request
for _ in range(120):
    try:
        urllib.request.urlopen("http://127.0.0.1:9999/docgen-demo/crls/root/latest.crl", timeout=1)
        break
    except OSError:
        time.sleep(0.5)
else:
    raise SystemExit("the demo PKI services did not start; see out/pki-services.log")
WAIT
if ! kill -0 "$services" 2>/dev/null; then
  echo "the demo PKI services stopped; see out/pki-services.log" >&2
  exit 1
fi
export DOCGEN_CONFIG=certs/demo-services.toml
# the register is made on purpose, never by issuing (a lost register must not restart the
# numbering); on a second run it already exists and is left as it is
docgen register init
# issue every example (numbered, signed, recorded in out/register.sqlite3), then verify them all;
# running the demo again issues nothing new: each request id returns the letter it already has
docgen issue out/examples/*.json --out out/letters
docgen verify $(find out/letters -name '*.pdf' | sort)
