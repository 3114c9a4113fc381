#!/usr/bin/env bash
# Builds every package: the TypeScript of the Node packages and of the extension's unit tests, then
# the JupyterLab app with the extension bundled (development build unless INTERLINK_PRODUCTION=1: it
# is 4× faster on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b contract vk-bridge proxy-server extension/tsconfig.test.json
if [ "${INTERLINK_PRODUCTION:-0}" = 1 ]; then npm run build -w app; else npm run build:dev -w app; fi
