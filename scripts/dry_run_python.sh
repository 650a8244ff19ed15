#!/usr/bin/env bash
# The interpreter a sweep script gets under HARNESS_SWEEP_DRY_RUN=FILE (scripts/env.sh): each
# `python -m harness ...` or `python -m harness.bench ...` call is appended to FILE as one JSON list
# of its arguments instead of running; anything else (reading results to choose the next step)
# runs for real. tests/test_sweep_scripts.py composes every recorded run this way.
set -euo pipefail
real="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
if [ "${1:-}" = -m ] && { [ "${2:-}" = harness ] || [ "${2:-}" = harness.bench ]; }; then
  "$real" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >>"$HARNESS_SWEEP_DRY_RUN"
  exit 0
fi
exec "$real" "$@"
