#!/usr/bin/env bash
# Static checks: lint, formatting, types, and that the committed contract artifact is
# exactly what the pinned compiler makes of the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

echo "== ruff"
"$BIN/ruff" check src tests bench migrations
"$BIN/ruff" format --check src tests bench migrations
echo "== mypy"
"$BIN/mypy"
echo "== contract artifacts"
node contracts/compile.mjs --check
