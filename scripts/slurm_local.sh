#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, with job accounting (sacct), for trying the SLURM
# launchers without a real cluster; tests/slurm_cluster.py starts one the same way for
# tests/test_slurm.py. Needs root and Debian's packages (`bash scripts/slurm_packages.sh`).
#
#   bash scripts/slurm_local.sh start DIR    # starts the daemons; prints the line to export
#   export SLURM_CONF=DIR/slurm.conf         # sbatch, squeue, sacct, scancel and sweeps use it
#   bash scripts/slurm_local.sh status DIR
#   bash scripts/slurm_local.sh stop DIR     # cancels its jobs, stops every daemon by its pid file
#
# Daemons, all started here and stopped by pid: munged (its own key and socket, the system's munge
# is left alone), mariadbd (a database of its own, TCP on 127.0.0.1) and slurmdbd, which give
# `sacct` the job states submitit polls (without them submitit never learns that a cancelled job
# ended), slurmctld and slurmd. The node is this host (`hostname -s`, 127.0.0.1) with `nproc` CPUs
# in one partition, `cpu`, the default. Ports are free ones picked at start, so two clusters on one
# machine do not collide; everything (configs, state, spool, logs, pid files) lives under DIR.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf
export SLURM_CONF=$conf
db_socket=$dir/mariadb/mariadbd.sock
munge_socket=$dir/munge/munge.socket
DAEMONS="munged mariadbd slurmdbd slurmctld slurmd"  # in start order

need() { command -v "$1" >/dev/null 2>&1 || { echo "slurm_local: $1 not found (run: bash scripts/slurm_packages.sh)" >&2; exit 3; }; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds, for SECONDS at most
  local seconds=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    timeout 10 "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "slurm_local: $what not ready after ${seconds}s; logs in $dir/log" >&2
  tail -n 15 "$dir"/log/*.log >&2 || true
  return 1
}

stop_daemons() {  # TERM the daemons named by DIR/NAME.pid, wait for them, KILL any left after 20 s
  local name pid pids=() i
  for name in "$@"; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then pids+=("$pid"); fi
    rm -f "$dir/$name.pid"
  done
  for i in $(seq 200); do
    local running=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running+=("$pid"); done
    pids=("${running[@]}")
    [ ${#pids[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  echo "slurm_local: pids ${pids[*]} did not stop on SIGTERM; killing them" >&2
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

sql() { mariadb --no-defaults --socket="$db_socket" -u root "$@"; }

start() {
  local tool name
  for tool in munged mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd sinfo sacctmgr; do need "$tool"; done
  [ "$(id -u)" -eq 0 ] || { echo "slurm_local: run as root (slurmd starts jobs as their user)" >&2; exit 3; }
  for name in $DAEMONS; do
    if alive "$name"; then echo "slurm_local: $name already runs for $dir (stop it first)" >&2; exit 1; fi
  done
  # A start that fails half-way stops what it started.
  trap 'echo "slurm_local: start failed; stopping what was started" >&2; stop' EXIT
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge" "$dir/mariadb"
  chmod 0755 "$dir/munge"  # clients reach the socket in it; the key inside is 0400
  chmod 0700 "$dir/mariadb"

  # munged (--force: it refuses to run as root otherwise).
  [ -f "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$dir/munge/munge.key"; chmod 0400 "$dir/munge/munge.key"; }
  munged --force --key-file="$dir/munge/munge.key" --socket="$munge_socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/munged.log" 2>&1

  # mariadbd: a fresh database directory, small InnoDB files; root logs in over the socket only.
  local db_port dbd_port innodb=(--innodb-log-file-size=8M --innodb-buffer-pool-size=32M)
  db_port=$(free_port)
  if [ ! -d "$dir/mariadb/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$dir/mariadb/data" --user=root --skip-test-db \
      --auth-root-authentication-method=socket "${innodb[@]}" </dev/null >"$dir/log/mariadb-install.log" 2>&1 \
      || { tail -n 20 "$dir/log/mariadb-install.log" >&2; exit 1; }
  fi
  setsid mariadbd --no-defaults --datadir="$dir/mariadb/data" --user=root --socket="$db_socket" \
    --port="$db_port" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/mariadbd.pid" \
    --log-error="$dir/log/mariadbd.log" "${innodb[@]}" </dev/null >/dev/null 2>&1 &
  wait_for 60 mariadbd mariadb --no-defaults --socket="$db_socket" -u root -e "SELECT 1"
  sql -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

  local node cpus mem_mb
  node=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  dbd_port=$(free_port)
  cat >"$dir/slurmdbd.conf" <<EOF
# Written by scripts/slurm_local.sh: job accounting for the one-node cluster beside it.
AuthType=auth/munge
AuthInfo=socket=$munge_socket
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
PidFile=$dir/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  chmod 0600 "$dir/slurmdbd.conf"
  cat >"$conf" <<EOF
# Written by scripts/slurm_local.sh: a one-node cluster, this host as controller and node.
ClusterName=harness-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$munge_socket
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

  slurmdbd </dev/null >>"$dir/log/slurmdbd.log" 2>&1  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for 60 slurmdbd sacctmgr -n list cluster
  sacctmgr -i -Q add cluster harness-local >/dev/null 2>&1 || true  # present already on a restart
  # -c: start without the jobs of an earlier run in DIR.
  slurmctld -c -f "$conf" </dev/null >>"$dir/log/slurmctld.log" 2>&1
  slurmd -f "$conf" -N "$node" </dev/null >>"$dir/log/slurmd.log" 2>&1
  wait_for 60 "node $node" bash -c '[ "$(sinfo -h -N -o %t | head -1)" = idle ]'
  trap - EXIT
  echo "export SLURM_CONF=$conf"
}

stop() {
  # Cancel this cluster's jobs first: job steps (slurmstepd) outlive slurmd otherwise.
  if alive slurmctld; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    local i
    for i in $(seq 100); do
      [ -z "$(squeue -h -o %i 2>/dev/null || echo unknown)" ] && break
      sleep 0.2
    done
  fi
  # SLURM's daemons first, then what they use (two rounds, each daemon of a round at once).
  stop_daemons slurmd slurmctld
  stop_daemons slurmdbd mariadbd munged
}

status() {
  local name rc=0
  for name in $DAEMONS; do
    if alive "$name"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"; else echo "$name: stopped"; rc=1; fi
  done
  if [ $rc -eq 0 ]; then sinfo; fi
  return $rc
}

case $action in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
