#!/usr/bin/env bash
# Sets up .venv if needed, then runs the test suite: `bash scripts/test.sh [pytest args]`.
# The suite runs in HARNESS_TEST_WORKERS pytest-xdist processes (default 2, this project's core
# count; 0 runs it in this process), one test file per worker at a time (--dist loadfile) so that a
# file's module fixtures (the SLURM test's one-node cluster) exist once. conftest.py splits the
# machine's cores between the workers' torch threads.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh"
if [ -z "${HARNESS_DATA_DIR:-}" ] && [ -d "$root/../shared/data" ]; then
  export HARNESS_DATA_DIR="$(cd "$root/../shared/data" && pwd)"
fi
export HF_HUB_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
cd "$root"
exec .venv/bin/python -m pytest -n "${HARNESS_TEST_WORKERS:-2}" --dist loadfile "$@"
