#!/usr/bin/env bash
# The main job on embedded defaults: set up what is missing, check the templates, then render
# every bundled example letter (HTML and DOCX services, approvals and rejections) into out/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
docgen services
docgen templates check
docgen render examples/*.json --out-dir out/drafts
echo "Drafts written to out/drafts/"
