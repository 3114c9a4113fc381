#!/usr/bin/env bash
# The wheel in the oldest JupyterLab it claims (pyproject.toml: jupyterlab>=4.4): a fresh
# virtualenv with jupyterlab 4.4 (constraints.txt's `# oldest:` line) and the wheel; fails unless
# `jupyter labextension list` shows the extension enabled and OK, and the server extension loads.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh >/dev/null  # builds the wheel (cached)
wheel=$(ls "${XDG_CACHE_HOME:-$HOME/.cache}/jupyterlab-interlink/wheels/$(cat .venv/.wheel)"/*.whl)
oldest=$(sed -n 's/^# oldest: //p' constraints.txt)
venv=${XDG_CACHE_HOME:-$HOME/.cache}/jupyterlab-interlink/venv-oldest
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$oldest" "$wheel"
list=$("$venv/bin/jupyter" labextension list 2>&1)
echo "$list" | grep -E "JupyterLab v|interlink"
echo "$list" | grep -q "JupyterLab v4\.4\." || { echo "FAIL: not JupyterLab 4.4"; exit 1; }
echo "$list" | grep -E "@jupyterlab-interlink/extension v[0-9.]+ .*enabled.* .*OK" >/dev/null \
  || { echo "FAIL: the extension is not enabled and OK in $oldest"; exit 1; }
server=$("$venv/bin/jupyter" server extension list 2>&1)
echo "$server" | grep -A2 "jupyterlab_interlink" | grep -q "OK" \
  || { echo "FAIL: the server extension does not load in $oldest"; echo "$server"; exit 1; }
echo "ok: the wheel loads in $oldest"
