#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests use: Debian's Jupyter server stack and
# ipykernel (the real parts behind JupyterLab), Chromium for Playwright, JupyterHub, a single-node
# Slurm with munge, OpenSSH (the bench's baseline), bubblewrap (optional isolation), openssl
# (certificates for the https tests of interLink), etcd (kube-apiserver's store) and libfaketime
# (the idle test moves the server's clock).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
want=(python3-venv python3-jupyter-server python3-jupyterlab-server python3-ipykernel chromium libfaketime
      jupyterhub slurm-wlm munge openssh-client openssh-server bubblewrap curl openssl etcd-server)
if [ "${1:-}" = "--demo" ]; then want=(python3-venv python3-jupyter-server python3-jupyterlab-server python3-ipykernel slurm-wlm munge bubblewrap); fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
