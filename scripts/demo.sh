#!/usr/bin/env bash
# The demo: installs what it needs (Debian packages, npm packages, the project's virtualenv with
# JupyterLab from PyPI and this project's wheel), then runs `jupyter lab`: the extension and its
# Node service with the embedded local site — and a "Leonardo (local Slurm)" site when a
# single-node Slurm can be started here. JupyterLab prints its URL with ?token=.
# A second start with nothing changed reuses the virtualenv and the cached wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh --demo
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/build.sh
sites=examples/sites-demo.yaml
if command -v slurmctld >/dev/null && bash scripts/slurm-local.sh start >/dev/null 2>&1; then
  sites=examples/sites-demo-slurm.yaml
fi
args=(--no-browser --ip=127.0.0.1 --port="${INTERLINK_PORT:-8888}"
      --ServerApp.root_dir="${INTERLINK_NOTEBOOK_DIR:-$PWD/examples/notebooks}")
# Containers and CI often run as root; jupyter_server refuses unless told.
[ "$(id -u)" -eq 0 ] && args+=(--allow-root)
INTERLINK_SITES="$PWD/$sites" exec .venv/bin/jupyter lab "${args[@]}" "$@"
