#!/usr/bin/env bash
# Sets up .venv if needed, then runs the harness: `bash scripts/harness.sh [hydra overrides]`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
# Data root: HARNESS_DATA_DIR if set, else the shared data beside the checkout, else the Hub.
if [ -z "${HARNESS_DATA_DIR:-}" ] && [ -d "$root/../shared/data" ]; then
  export HARNESS_DATA_DIR="$(cd "$root/../shared/data" && pwd)"
fi
cd "$root"
exec .venv/bin/python -m harness "$@"
