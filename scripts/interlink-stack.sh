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
#   interlink-stack.sh start-kubernetes DIR   etcd, kube-apiserver, kube-scheduler in the background
#   interlink-stack.sh run-vk DIR NODE        interLink's virtual kubelet, foreground
#   interlink-stack.sh stop DIR               stops what start-kubernetes started
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

# kube-apiserver (with Debian's etcd) and kube-scheduler on loopback, in the background; their
# pids, logs, a static bearer token and a kubeconfig go in DIR. No controller-manager runs, so
# the admission plugins that wait for one (a default ServiceAccount, the not-ready taint lifted)
# are off. Ports from KUBE_PORT (default 64430), ETCD_PORT (23790), SCHEDULER_PORT (64590).
start_kubernetes() {
  local dir=${1:?start-kubernetes needs a folder}
  local kport=${KUBE_PORT:-64430} eport=${ETCD_PORT:-23790} sport=${SCHEDULER_PORT:-64590} t0
  t0=$(now)
  mkdir -p "$dir"
  command -v etcd >/dev/null || { log "etcd is missing: run scripts/install-system-deps.sh"; return 1; }
  [ -f "$dir/sa.key" ] || openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  [ -f "$dir/token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/token"
  echo "$(cat "$dir/token"),interlink-admin,interlink-admin,system:masters" >"$dir/tokens.csv"
  cat >"$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: 'https://127.0.0.1:$kport', insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: '$(cat "$dir/token")'}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KUBECONFIG
  etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$eport" \
    --advertise-client-urls "http://127.0.0.1:$eport" --listen-peer-urls "http://127.0.0.1:$((eport + 1))" \
    >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  # the service range is only a setting of the API server: nothing routes to it
  "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$eport" --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 --secure-port="$kport" --cert-dir="$dir/certs" \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$dir/sa.pub" \
    --service-account-signing-key-file="$dir/sa.key" --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC --service-cluster-ip-range=10.96.0.0/24 \
    --disable-admission-plugins=ServiceAccount,TaintNodesByCondition >"$dir/kube-apiserver.log" 2>&1 &
  echo $! >"$dir/kube-apiserver.pid"
  local deadline=$((SECONDS + 60))
  until curl -sfk -H "Authorization: Bearer $(cat "$dir/token")" "https://127.0.0.1:$kport/readyz" >/dev/null 2>&1; do
    if [ $SECONDS -gt $deadline ] || ! kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null; then
      log "kube-apiserver did not get ready; its log:"; tail -20 "$dir/kube-apiserver.log" >&2; return 1
    fi
    sleep 0.1
  done
  "$bin/kube-scheduler" --kubeconfig="$dir/kubeconfig" --authentication-kubeconfig="$dir/kubeconfig" \
    --authorization-kubeconfig="$dir/kubeconfig" --bind-address=127.0.0.1 --secure-port="$sport" \
    --leader-elect=false >"$dir/kube-scheduler.log" 2>&1 &
  echo $! >"$dir/kube-scheduler.pid"
  log "etcd + kube-apiserver ready in $(took "$t0") s; kube-scheduler started"
}

# interLink's virtual kubelet as the installer runs it: node NODE on the API server of DIR, talking
# to interLink's API at INTERLINK_URL (unix:///path) with the bearer token in DIR/vk-token.
run_vk() {
  local dir=${1:?run-vk needs the folder of start-kubernetes} node=${2:?run-vk needs a node name}
  : "${INTERLINK_URL:?INTERLINK_URL, the API: unix:///path/api.sock}"
  [ -f "$dir/vk-token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/vk-token"
  cat >"$dir/vk-$node.yaml" <<VKCONFIG
InterlinkURL: "$INTERLINK_URL"
InterlinkPort: ""
VerboseLogging: false
ErrorsOnlyLogging: false
Namespace: default
ServiceAccount: ""
VKTokenFile: "$dir/vk-token"
Resources: {CPU: "2", Memory: 8Gi, Pods: "20"}
HTTP: {Insecure: true}
KubeletHTTP: {Insecure: true}
VKCONFIG
  KUBECONFIG=$dir/kubeconfig NODENAME=$node KUBELET_URL=127.0.0.1 KUBELET_PORT=${KUBELET_PORT:-58200} \
    POD_IP=127.0.0.1 CONFIGPATH=$dir/vk-$node.yaml exec "$bin/virtual-kubelet"
}

# a stopped process may linger as a zombie here (PID 1 reaps late): gone or Z counts as ended
ended() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

stop_all() {
  local dir=${1:?stop needs a folder} f pid i
  for f in "$dir"/kube-scheduler.pid "$dir"/kube-apiserver.pid "$dir"/etcd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 100); do ended "$pid" && break; sleep 0.1; done
    ended "$pid" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
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
  start-kubernetes) shift; build_kubernetes >&2; start_kubernetes "$@" ;;
  run-vk) shift; build_interlink >&2; run_vk "$@" ;;
  stop) shift; stop_all "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
