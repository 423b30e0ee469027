#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: set up what is missing, then run the format and
# lint checks, strict type checks and every test (real WeasyPrint, LibreOffice, pyHanko, SQLite).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff format --check"; ruff format --check src tests bench tools scripts
echo "== ruff check";          ruff check src tests bench tools scripts
echo "== mypy --strict";       mypy
# two processes, each running whole test files (module fixtures are set up once), in the order
# tests/conftest.py gives them (the longest first); later arguments win: `-n 0`, one process
echo "== pytest";              pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
