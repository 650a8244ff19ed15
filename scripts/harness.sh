#!/usr/bin/env bash
# Sets up .venv if needed, then runs the harness: `bash scripts/harness.sh [hydra overrides]`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$python" -m harness "$@"
