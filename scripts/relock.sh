#!/usr/bin/env bash
# Re-resolve requirements/direct.txt into requirements/lock.txt in a throwaway venv.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -r requirements/direct.txt
"$tmp/venv/bin/pip" freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$/torch==\1/' >requirements/lock.txt
rm -rf "$tmp"
echo "wrote requirements/lock.txt"
