#!/usr/bin/env bash
# The project's Python: a virtualenv (.venv, or $1) with JupyterLab and the rest from PyPI, pinned
# by constraints.txt, and this repository's wheel installed in it.
#   scripts/python-env.sh [VENV]   → prints nothing but errors; VENV/bin/jupyter is ready after it
# Cached: the virtualenv is rebuilt only when constraints.txt changes, the wheel only when its
# sources change (wheels kept under ~/.cache/jupyterlab-interlink/wheels by a hash of the inputs),
# and it is reinstalled only when another wheel is wanted.
# Needs node_modules (npm ci) for the wheel's build. Env PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${1:-.venv}")
python=${PYTHON:-/usr/bin/python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/jupyterlab-interlink
mkdir -p "$cache/wheels"

# 1. The virtualenv, for this constraints.txt.
want_env=$(sha256sum constraints.txt | cut -c1-16)
if [ "$(cat "$venv/.constraints" 2>/dev/null)" != "$want_env" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -c constraints.txt \
    jupyterlab jupyter_server ipykernel jupyterhub hatchling hatch-jupyter-builder hatch-nodejs-version
  echo "$want_env" > "$venv/.constraints"
fi

# 2. The wheel, for these sources (what the build reads; not tests, docs or benches).
inputs=$(git ls-files -co --exclude-standard -- pyproject.toml install.json README.md \
  jupyter-config jupyterlab_interlink extension contract vk-bridge/src vk-bridge/package.json \
  proxy-server/src proxy-server/package.json package-lock.json scripts/bundle-service.mjs \
  | grep -v -e '^jupyterlab_interlink/labextension/' -e '^jupyterlab_interlink/node/' \
            -e '^jupyterlab_interlink/_version.py' -e '__pycache__' | sort)
want_wheel=$( (echo "$inputs"; cat $inputs) | sha256sum | cut -c1-16)
wheel_dir="$cache/wheels/$want_wheel"
if ! ls "$wheel_dir"/*.whl >/dev/null 2>&1; then
  # A fresh build: what a previous build left in the package would be taken as up to date.
  rm -rf jupyterlab_interlink/labextension jupyterlab_interlink/node "$wheel_dir.tmp"
  # The JavaScript is built here, against the node_modules `npm ci` made; the build hook then
  # only checks its outputs (it would `npm install` otherwise, rewriting the lock file).
  PATH="$venv/bin:$PATH" npm run -s build:python-package >&2
  HATCH_JUPYTER_BUILDER_SKIP_NPM=1 "$venv/bin/pip" wheel -q --disable-pip-version-check --no-deps \
    --no-build-isolation -w "$wheel_dir.tmp" . >&2
  mv "$wheel_dir.tmp" "$wheel_dir"
fi

# 3. Installed, unless it already is.
if [ "$(cat "$venv/.wheel" 2>/dev/null)" != "$want_wheel" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel_dir"/*.whl
  echo "$want_wheel" > "$venv/.wheel"
fi
