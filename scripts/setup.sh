#!/usr/bin/env bash
# Set up everything docgen needs on a Debian machine, idempotently: the system packages that are
# missing, a virtual environment in .venv, and docgen with its test tools installed into it.
# Sourced by demo.sh and test.sh; safe to run again (it only installs what is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# WeasyPrint needs Pango (and HarfBuzz's subsetter, for fast font subsetting); the DOCX path needs
# LibreOffice Writer and its Python bridge (python3-uno), which only Debian's own Python can import,
# so the virtual environment is made from /usr/bin/python3 with the system site-packages visible.
# LibreOffice runs with jemalloc (libjemalloc2): it converts faster, in less memory.
# poppler-utils gives pdftotext/pdfsig for the tests; softhsm2 is the hardware-key test token.
# The browser tests drive Debian's chromium through Playwright (which is never let fetch a browser
# of its own) and read the QR codes in its screenshots with zbar (libzbar0, loaded by pyzbar).
SYSTEM_PACKAGES=(
  python3 python3-venv python3-uno
  libreoffice-writer-nogui libjemalloc2
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
  fonts-liberation2 fonts-dejavu-core fontconfig
  poppler-utils softhsm2 postgresql
  chromium libzbar0
)

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (or install those packages first)" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing docgen and its Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test,bench]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The demo PKI (root, intermediate, one signing certificate per Directorate General, and test-only
# signers) is made here, never committed: keys and PKCS#12 files under certs/generated/, with a
# random passphrase in certs/generated/passphrase (mode 0600). Kept when it already exists.
.venv/bin/python scripts/demo_pki.py certs/generated
