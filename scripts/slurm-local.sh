#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the tests and the demo: munged, slurmctld and
# slurmd (as root) with all their state under one directory, and two fake GPUs so that
# `--gres=gpu:1` is accepted and jobs see CUDA_VISIBLE_DEVICES.
#
#   scripts/slurm-local.sh start|stop|status|env
#
# Idempotent. State lives in $INTERLINK_SLURM_DIR (default /tmp/interlink-slurm). Clients find the
# cluster through SLURM_CONF (`eval "$(scripts/slurm-local.sh env)"`); when /etc/slurm/slurm.conf
# is free (or ours), it is linked there too so plain `sbatch` works.
set -euo pipefail
D=${INTERLINK_SLURM_DIR:-/tmp/interlink-slurm}
CONF=$D/etc/slurm.conf
HOST=$(hostname -s)
MARK="# written by jupyterlab-interlink scripts/slurm-local.sh"

alive() { # pid file → running and not a zombie (PID 1 here reaps late)
  local f=$1 pid state
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
  [ "$state" != Z ] && [ "$state" != X ]
}

stop_pid() { # pid file: TERM, wait, KILL
  local f=$1 i
  alive "$f" || { rm -f "$f"; return 0; }
  kill "$(cat "$f")" 2>/dev/null || true
  for i in $(seq 50); do alive "$f" || break; sleep 0.1; done
  alive "$f" && kill -9 "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
}

node_state() { SLURM_CONF=$CONF sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1; }

status() {
  local ok=0
  for d in munged slurmctld slurmd; do
    if alive "$D/run/$d.pid"; then echo "$d: running (pid $(cat "$D/run/$d.pid"))"; else echo "$d: stopped"; ok=1; fi
  done
  [ $ok -eq 0 ] && echo "node $HOST: $(node_state)"
  return $ok
}

write_config() {
  local cpus mem
  cpus=$(nproc); [ "$cpus" -gt 4 ] && cpus=4
  # half of this machine's memory, in MB: a node claiming more than it has is drained
  mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
  cat >"$CONF" <<EOF
$MARK
ClusterName=interlink-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=${INTERLINK_SLURMCTLD_PORT:-6817}
SlurmdPort=${INTERLINK_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$D/run/munge.socket
CredType=cred/munge
StateSaveLocation=$D/spool/ctld
SlurmdSpoolDir=$D/spool/d
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# no cgroups here: this is what stops a job going over its --mem (sampled every second, PSS so
# shared pages count once); the job ends FAILED with "Exceeded job memory limit" in its output
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill,UsePss
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$D/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=$HOST Name=gpu File=$D/gpu/nvidia[0-1]
EOF
}

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    bash "$(dirname "$0")/install-system-deps.sh" --demo
  fi
  mkdir -p "$D"/{etc,spool/ctld,spool/d,log,run,gpu,munge}
  # The key is root's alone; the socket is for every account that submits jobs (as /run/munge is).
  chmod 700 "$D/munge"
  chmod 755 "$D/run"
  # fake GPUs: Slurm wants character devices (a missing file drains the node)
  for i in 0 1; do [ -c "$D/gpu/nvidia$i" ] || { rm -f "$D/gpu/nvidia$i"; mknod -m 666 "$D/gpu/nvidia$i" c 1 3; }; done
  [ -s "$D/munge/munge.key" ] || mungekey --create --keyfile="$D/munge/munge.key" >/dev/null
  chmod 400 "$D/munge/munge.key"
  write_config
  if [ ! -e /etc/slurm/slurm.conf ] || grep -qF "$MARK" /etc/slurm/slurm.conf 2>/dev/null; then
    mkdir -p /etc/slurm
    ln -sfn "$CONF" /etc/slurm/slurm.conf
    ln -sfn "$D/etc/gres.conf" /etc/slurm/gres.conf
  fi
  export SLURM_CONF=$CONF
  if ! alive "$D/run/munged.pid"; then
    rm -f "$D/run/munge.socket"*
    munged --key-file="$D/munge/munge.key" --socket="$D/run/munge.socket" \
      --pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munge/seed" --force
  fi
  # Daemons started with another config (an older copy of this script): restart them once (jobs
  # and their state survive). Compared with what they were started with, not with the file, which
  # an older copy may have rewritten since without touching the daemons.
  local want
  want=$(sha256sum "$CONF" | cut -d' ' -f1)
  if alive "$D/run/slurmctld.pid" &&
    [ "$(cat "$D/run/config.sha256" 2>/dev/null)" != "$want $(cat "$D/run/slurmctld.pid")" ]; then
    stop_pid "$D/run/slurmd.pid"
    stop_pid "$D/run/slurmctld.pid"
  fi
  alive "$D/run/slurmctld.pid" || slurmctld -f "$CONF"
  alive "$D/run/slurmd.pid" || slurmd -f "$CONF"
  local i state=""
  for i in $(seq 100); do
    state=$(node_state)
    case "$state" in
      idle*|mixed*|allocated*) break ;;
      drain*|down*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.1
  done
  # up by now, so slurmctld has written its pid file
  echo "$want $(cat "$D/run/slurmctld.pid")" >"$D/run/config.sha256"
  case "$state" in
    idle*|mixed*|allocated*) echo "slurm: up ($HOST $state), SLURM_CONF=$CONF" ;;
    *) echo "slurm: node $HOST is '$state'; see $D/log/" >&2; exit 1 ;;
  esac
}

stop() {
  stop_pid "$D/run/slurmd.pid"
  stop_pid "$D/run/slurmctld.pid"
  stop_pid "$D/run/munged.pid"
  echo "slurm: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
