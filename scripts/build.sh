#!/usr/bin/env bash
# Builds every package: the TypeScript of the Node packages and the extension, then the Python
# environment with the wheel (prebuilt labextension + bundled Node service) installed in it.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
npx tsc -b extension/tsconfig.test.json
bash scripts/python-env.sh
