#!/usr/bin/env bash
# The demo: installs what it needs (Debian packages, npm packages), builds, and starts JupyterLab
# with the extension behind the proxy server, with the embedded local site — and a
# "Leonardo (local Slurm)" site when a single-node Slurm can be started here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh --demo
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
INTERLINK_PRODUCTION=${INTERLINK_PRODUCTION:-1} bash scripts/build.sh
mkdir -p .run
sites=examples/sites-demo.yaml
if command -v slurmctld >/dev/null && bash scripts/slurm-local.sh start >/dev/null 2>&1; then
  sites=examples/sites-demo-slurm.yaml
fi
exec node proxy-server/dist/cli.js --sites "$sites" --port "${INTERLINK_PORT:-8888}" --notebook-dir "${INTERLINK_NOTEBOOK_DIR:-$PWD/examples/notebooks}" "$@"
