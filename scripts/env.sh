# Sourced (not run) by scripts/harness.sh and the sweep scripts: sets up .venv if needed, chooses the
# data root (HARNESS_DATA_DIR if set, else the shared data beside the checkout, else the Hub), moves
# to the checkout and sets $python to the venv's interpreter.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
if [ -z "${HARNESS_DATA_DIR:-}" ] && [ -d "$root/../shared/data" ]; then
  export HARNESS_DATA_DIR="$(cd "$root/../shared/data" && pwd)"
fi
cd "$root"
python="$root/.venv/bin/python"
# HARNESS_SWEEP_DRY_RUN=FILE: record the harness commands a sweep script would run, without running
# them (scripts/dry_run_python.sh; tests/test_sweep_scripts.py).
if [ -n "${HARNESS_SWEEP_DRY_RUN:-}" ]; then python="$root/scripts/dry_run_python.sh"; fi
