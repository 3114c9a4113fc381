#!/usr/bin/env bash
# Everything CI runs: installs what the tests need, builds, lints, and runs every test suite
# (unit and integration on real processes, Slurm and Jupyter; then Playwright in Debian's Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund
bash scripts/build.sh
npx eslint .
status=0
node --test --test-concurrency=1 --test-reporter=spec \
  contract/dist vk-bridge/dist proxy-server/dist || status=$?
npm test -w ui-tests || status=$?
exit $status
