#!/usr/bin/env bash
# A single-node SLURM on this machine, for the cluster test: Debian's slurm-wlm and munge.
#
#   tests/cluster/slurm.sh start    install slurm-wlm and munge if missing (needs root and apt-get), write a
#                                   slurm.conf for this node, start munged, slurmctld and slurmd, and wait until
#                                   sinfo shows the node idle; exits 0 if they were already up
#   tests/cluster/slurm.sh stop     stop the daemons that `start` started (by their pid files), nothing else
#   tests/cluster/slurm.sh status   exit 0 if the node answers and is usable
#
# Everything it writes (slurm.conf, pid files, logs, spool) is in $STACKPHOT_SLURM_DIR (default
# /tmp/stackphot-slurm); /etc/slurm is left alone, so the SLURM commands need
# SLURM_CONF=$STACKPHOT_SLURM_DIR/slurm.conf. `start` prints that assignment as its last line.
# On failure it prints the reason (the daemons' own error lines) on stderr and exits non-zero.
set -euo pipefail

DIR=${STACKPHOT_SLURM_DIR:-/tmp/stackphot-slurm}
CONF=$DIR/slurm.conf
MUNGE_SOCKET=/run/munge/munge.socket.2
export SLURM_CONF=$CONF

# fail MESSAGE [LOG]: say why on stderr, with the last lines of the daemon's LOG, and exit 1.
fail() {
    echo "slurm.sh: $1" >&2
    if [[ -s ${2:-} ]]; then
        echo "last lines of $2:" >&2
        tail -n 5 "$2" >&2
    fi
    exit 1
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sinfo >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || fail "SLURM is not installed (${missing[*]} missing) and there is no apt-get"
    echo "installing slurm-wlm and munge with apt-get" >&2
    apt-get update -qq >&2 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2 ||
        fail "apt-get install slurm-wlm munge failed"
}

# Use a munged that already answers; otherwise start one as the munge user and remember its pid.
start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile /etc/munge/munge.key >&2 || fail "mungekey could not create a key"
        chown munge:munge /etc/munge/munge.key
    fi
    runuser -u munge -- munged --force --pid-file /run/munge/munged.pid >&2 ||
        fail "munged did not start" /var/log/munge/munged.log
    cp /run/munge/munged.pid "$DIR/munged.pid"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "munged started but does not answer on $MUNGE_SOCKET"
}

write_conf() {
    local node
    # This machine as slurmd sees it: NodeName, CPUs, sockets, cores, threads, RealMemory.
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || fail "slurmd -C did not describe the node: $node"
    mkdir -p "$DIR/state" "$DIR/spool"
    cat >"$CONF" <<EOF
# Written by tests/cluster/slurm.sh: one node, this machine, for the cluster test.
ClusterName=stackphot
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmctldParameters=enable_configless
SlurmdPort=6818
# No cgroups (a container may not delegate them), no accounting database: squeue reports job states.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
# Start a job as soon as a CPU is free (the default waits up to 3 s to batch submissions).
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Finished jobs stay visible to squeue for 5 minutes (the executor plugin reads their final state there).
MinJobAge=300
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() {
    sinfo --noheader --format=%T 2>/dev/null | head -n 1
}

# A daemon is ours and running when its pid file names a live process.
running() {
    [[ -s $DIR/$1.pid ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null
}

usable() {
    running slurmctld && running slurmd && [[ $(node_state) =~ ^(idle|mixed|allocated)$ ]]
}

start() {
    [[ $(id -u) == 0 ]] || fail "must run as root to install and start the SLURM daemons (uid $(id -u))"
    mkdir -p "$DIR"
    if usable; then
        echo "SLURM_CONF=$CONF"
        return 0
    fi
    install_packages
    start_munge
    write_conf
    if ! running slurmctld; then
        : >"$DIR/slurmctld.log"
        slurmctld -f "$CONF" -c >&2 || fail "slurmctld did not start" "$DIR/slurmctld.log"
    fi
    for _ in $(seq 60); do
        scontrol ping 2>/dev/null | grep -q UP && break
        running slurmctld || fail "slurmctld exited" "$DIR/slurmctld.log"
        sleep 0.5
    done
    # Configless: slurmd fetches the configuration from slurmctld and caches it in /run/slurm/conf, where
    # commands run inside a job find it (the executor plugin's job step drops SLURM_CONF before its srun).
    if ! running slurmd; then
        : >"$DIR/slurmd.log"
        slurmd --conf-server 127.0.0.1:6817 >&2 || fail "slurmd did not start" "$DIR/slurmd.log"
    fi
    local state=""
    for _ in $(seq 60); do
        state=$(node_state)
        if [[ $state == idle ]]; then
            echo "SLURM_CONF=$CONF"
            return 0
        fi
        running slurmctld || fail "slurmctld exited" "$DIR/slurmctld.log"
        running slurmd || fail "slurmd exited" "$DIR/slurmd.log"
        sleep 0.5
    done
    fail "the node is not idle after 30 s (state '${state:-none}')" "$DIR/slurmd.log"
}

stop_one() {
    local pidfile=$DIR/$1.pid pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

stop() {
    # Jobs first, so that no job step outlives its slurmd.
    if [[ -s $CONF ]] && running slurmctld; then
        scancel --quiet --user="$(id -un)" 2>/dev/null || true
    fi
    stop_one slurmd
    stop_one slurmctld
    stop_one munged
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) usable ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
