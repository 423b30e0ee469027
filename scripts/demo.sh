#!/usr/bin/env bash
# The main job on embedded defaults: set up what is missing, check the templates, then render
# every bundled example letter as a draft, issue them all (numbered, signed) and verify them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
docgen services
docgen templates check
docgen render examples/*.json --out-dir out/drafts
echo "Drafts written to out/drafts/"
# issue every example (numbered, signed, recorded in out/register.sqlite3), then verify them all;
# running the demo again issues nothing new: each request id returns the letter it already has
docgen issue examples/*.json --out out/letters
docgen verify $(find out/letters -name '*.pdf' | sort)
