#!/usr/bin/env bash
# The virtualenv with JupyterHub 6 and jupyter_server 2.x (pinned in constraints.txt) that the hub
# and agent tests run. Kept outside the clone, rebuilt only when constraints.txt changes; prints
# its path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${INTERLINK_VENV:-$HOME/.cache/jupyterlab-interlink/venv-hub}"
stamp="$venv/.constraints-$(sha256sum constraints.txt | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c constraints.txt \
    jupyterhub jupyter_server ipykernel >&2
  touch "$stamp"
fi
echo "$venv"
