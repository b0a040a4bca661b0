#!/usr/bin/env bash
# Create .venv (Python 3.11) and install requirements.txt into it; reruns are no-ops unless
# requirements.txt changed. Usage: source-free, just `bash scripts/setup_env.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  .venv/bin/python -m ipykernel install --prefix .venv --name python3 >/dev/null
  echo "$want" > "$stamp"
fi
