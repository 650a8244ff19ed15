#!/usr/bin/env bash
# Sets up .venv if needed, then runs the test suite: `bash scripts/test.sh [pytest args]`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
if [ -z "${HARNESS_DATA_DIR:-}" ] && [ -d "$root/../shared/data" ]; then
  export HARNESS_DATA_DIR="$(cd "$root/../shared/data" && pwd)"
fi
export HF_HUB_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
cd "$root"
exec .venv/bin/python -m pytest "$@"
