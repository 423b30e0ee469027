#!/usr/bin/env bash
# Serve the demo PKI's OCSP responder, CRLs and timestamping authority on 127.0.0.1:9999 (the
# addresses its certificates name) until stopped. Used by demo.sh; run it by hand to issue
# B-LTA letters with certs/demo-services.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec .venv/bin/certomancer --config certs/demo-pki.yml --key-root certs/generated/keys \
  animate --aiohttp --port 9999 --no-web-ui
