#!/usr/bin/env bash
# The real interLink stack on loopback, built from the Go module proxy at the versions pinned in
# scripts/interlink-stack/versions.env. Build outputs are cached outside the clone, keyed by those
# pins (~/.cache/jupyterlab-interlink/go/<key>/bin), so a second run on the same machine is quick.
#
#   interlink-stack.sh build          build what is missing (interLink API + virtual kubelet,
#                                     kube-apiserver + kube-scheduler); prints the bin folder
#   interlink-stack.sh bin [interlink|kubernetes]
#                                     the bin folder, building first what is missing (of one part)
#   interlink-stack.sh check          which pinned modules the Go module proxy serves today
#   interlink-stack.sh run-api DIR    run interLink's API server in the foreground, configured
#                                     from the environment (below); its config goes in DIR
#
# run-api, wired as interLink's installer wires it: the API listens on a Unix socket and talks to
# its plugin over another one; a token is for whoever stands in front of the API (interLink itself
# checks none).
#   INTERLINK_LISTEN   unix:///path/api.sock (default DIR/api.sock) or https://127.0.0.1:PORT
#   INTERLINK_PLUGIN   unix:///path/plugin.sock or http://127.0.0.1:PORT (required)
#   INTERLINK_TLS_CERT, INTERLINK_TLS_KEY   server certificate for https://
#   INTERLINK_CLIENT_CA                    CA that client certificates must chain to (mTLS)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pins=$here/interlink-stack/versions.env
k8smod=$here/interlink-stack/kubernetes
# shellcheck source=interlink-stack/versions.env
. "$pins"

key=$(cat "$pins" "$k8smod/go.mod" "$k8smod/go.sum" | sha256sum | cut -c1-16)
cache=${JUPYTERLAB_INTERLINK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyterlab-interlink}/go/$key
bin=$cache/bin
export GOFLAGS=-buildvcs=false

log() { echo "interlink-stack: $*" >&2; }

# seconds since the epoch with a fraction, for the build and start times the README quotes
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# interLink's go.mod replaces virtual-kubelet by a fork, which `go install mod@version` refuses:
# take the module's folder from the proxy and build inside a writable copy of it.
build_interlink() {
  [ -x "$bin/interlink" ] && [ -x "$bin/virtual-kubelet" ] && return 0
  local t0 dir src
  t0=$(now)
  dir=$(go mod download -json "$INTERLINK_MODULE@$INTERLINK_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { log "the Go module proxy did not serve $INTERLINK_MODULE@$INTERLINK_VERSION"; return 1; }
  src=$cache/src/interlink
  rm -rf "$src" && mkdir -p "$src" "$bin" && cp -r "$dir"/. "$src" && chmod -R u+w "$src"
  (cd "$src" && go build -trimpath -ldflags=-s -o "$bin/" ./cmd/interlink ./cmd/virtual-kubelet)
  log "built interLink API + virtual kubelet ($INTERLINK_VERSION) in $(took "$t0") s"
  echo "interlink $(took "$t0")" >>"$cache/build-times"
}

build_kubernetes() {
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-scheduler" ] && return 0
  local t0
  t0=$(now)
  mkdir -p "$bin"
  (cd "$k8smod" && go build -trimpath -ldflags=-s -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler)
  log "built kube-apiserver + kube-scheduler ($KUBERNETES_VERSION) in $(took "$t0") s"
  echo "kubernetes $(took "$t0")" >>"$cache/build-times"
}

check() {
  local m v
  for mv in "$INTERLINK_MODULE@$INTERLINK_VERSION" "$INTERLINK_MODULE@$INTERLINK_WANTED" \
    "$SLURM_PLUGIN_MODULE@$SLURM_PLUGIN_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION"; do
    if go list -m "$mv" >/dev/null 2>&1; then echo "served:  $mv"; else echo "refused: $mv"; fi
  done
}

run_api() {
  local dir=${1:?run-api needs a folder for its config}
  : "${INTERLINK_PLUGIN:?INTERLINK_PLUGIN, the plugin: unix:///path or http://127.0.0.1:PORT}"
  local listen=${INTERLINK_LISTEN:-unix://$dir/api.sock}
  mkdir -p "$dir"
  local address=$listen port="" plugin=$INTERLINK_PLUGIN plugin_port=""
  case $listen in
    unix://*) ;;
    https://*) address=${listen%:*} port=${listen##*:} ;;
    *) log "INTERLINK_LISTEN: unix:///path or https://127.0.0.1:PORT, not '$listen'"; return 2 ;;
  esac
  case $plugin in
    unix://*) ;;
    http://*) plugin=${INTERLINK_PLUGIN%:*} plugin_port=${INTERLINK_PLUGIN##*:} ;;
    *) log "INTERLINK_PLUGIN: unix:///path or http://127.0.0.1:PORT, not '$plugin'"; return 2 ;;
  esac
  {
    echo "InterlinkAddress: \"$address\""
    echo "InterlinkPort: \"$port\""
    echo "SidecarURL: \"$plugin\""
    echo "SidecarPort: \"$plugin_port\""
    echo "VerboseLogging: false"
    echo "ErrorsOnlyLogging: false"
    echo "DataRootFolder: \"$dir/data/\""
    if [ -n "${INTERLINK_TLS_CERT:-}" ]; then
      echo "TLS:"
      echo "  Enabled: true"
      echo "  CertFile: \"$INTERLINK_TLS_CERT\""
      echo "  KeyFile: \"$INTERLINK_TLS_KEY\""
      [ -n "${INTERLINK_CLIENT_CA:-}" ] && echo "  CACertFile: \"$INTERLINK_CLIENT_CA\""
    fi
  } >"$dir/InterLinkConfig.yaml"
  mkdir -p "$dir/data"
  case $listen in unix://*) rm -f "${listen#unix://}" ;; esac
  INTERLINKCONFIGPATH=$dir/InterLinkConfig.yaml exec "$bin/interlink"
}

case ${1:-} in
  build) build_interlink && build_kubernetes && echo "$bin" ;;
  bin)
    case ${2:-all} in
      interlink) build_interlink >&2 ;;
      kubernetes) build_kubernetes >&2 ;;
      all) build_interlink >&2 && build_kubernetes >&2 ;;
      *) log "bin: interlink, kubernetes or nothing, not '$2'"; exit 2 ;;
    esac
    echo "$bin" ;;
  check) check ;;
  run-api) shift; [ -x "$bin/interlink" ] || build_interlink >&2; run_api "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
