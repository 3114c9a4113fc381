#!/usr/bin/env bash
# Everything CI runs: installs what the tests need, builds (the wheel too), lints, and runs every
# test suite (unit and integration on real processes, Slurm and Jupyter; the wheel in JupyterLab
# 4.4; then Galata in Debian's Chromium against `jupyter lab` with the wheel in a fresh virtualenv).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund
bash scripts/build.sh
# interLink and Kubernetes from the Go module proxy (cached outside the clone; see the README)
bash scripts/interlink-stack.sh build >/dev/null
npx eslint .
status=0
# --test-force-exit: a test file whose failed hook leaves a child or socket behind ends with its
# failure reported, instead of holding the whole run until CI's limit.
node --test --test-concurrency=1 --test-force-exit --test-reporter=spec \
  contract/dist vk-bridge/dist proxy-server/dist extension/dist || status=$?
bash scripts/test-oldest-jupyterlab.sh || status=$?
# A fresh virtualenv each run: the suite sees the wheel as a user's `pip install` leaves it.
fresh=${XDG_CACHE_HOME:-$HOME/.cache}/jupyterlab-interlink/venv-ui-tests
rm -rf "$fresh"
bash scripts/python-env.sh "$fresh"
UI_TESTS_VENV=$fresh npm test -w ui-tests || status=$?
exit $status
