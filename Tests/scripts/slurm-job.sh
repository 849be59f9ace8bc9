#!/usr/bin/env bash
# A real Slurm job on this machine: starts a one-node Slurm (Debian's slurm-wlm with munge; installed
# when missing, as root) with its own configuration in a scratch directory, submits the README's Slurm
# command (`sbatch -n 2 --wrap "launch/mpi ..."`) from REPO, waits for the job and checks the run
# directory: the job ran on 2 ranks and wrote its metrics and weights. Stops the daemons it started.
# Needs root. Usage: Tests/scripts/slurm-job.sh REPO DATA_DIR OUT_DIR
set -euo pipefail
repo="$1"; data="$2"; out="$3"
# The daemons started below outlive this script: they must not inherit a descriptor the caller watches for
# its child's exit (Foundation's Process does), so close every one above stderr first.
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null || true
done
[[ "$(id -u)" -eq 0 ]] || { echo "slurm-job: needs root (it starts slurmctld, slurmd and munged)" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

work=$(mktemp -d)
host=$(hostname -s)
conf="$work/slurm.conf"
started_munge=0
cleanup() {
    # Daemons started here, by their pid files; then anything still running with this configuration.
    for d in slurmd slurmctld; do
        [[ -f "$work/$d.pid" ]] && kill "$(cat "$work/$d.pid")" 2>/dev/null || true
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do pgrep -f "$conf" >/dev/null || break; sleep 0.3; done
    pkill -9 -f "$conf" 2>/dev/null || true
    if ((started_munge)); then
        pkill -u munge -x munged 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do pgrep -u munge -x munged >/dev/null || break; sleep 0.3; done
        pkill -9 -u munge -x munged 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/state" "$work/spool"
cat > "$conf" <<CONF
ClusterName=bayesprune-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldPort=6917
SlurmdPort=6918
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
export SLURM_CONF="$conf"

# A munged that answers (not merely a process of that name: a killed one may linger as a zombie).
if ! munge -n </dev/null >/dev/null 2>&1; then
    [[ -s /etc/munge/munge.key ]] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged --force </dev/null >/dev/null 2>&1
    started_munge=1
    for _ in $(seq 20); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.2; done
fi
# Detached from this script's output: a daemon holding the caller's pipe would keep it waiting.
slurmctld -f "$conf" </dev/null >>"$work/slurmctld.out" 2>&1
slurmd -f "$conf" </dev/null >>"$work/slurmd.out" 2>&1
for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
    [[ "$state" == "idle" ]] && break
    sleep 0.5
done
[[ "$state" == "idle" ]] || { echo "slurm-job: node not idle ($state)" >&2; cat "$work/slurmctld.log" "$work/slurmd.log" >&2; exit 1; }

# The README's command (section "Several processes and clusters"), with a tiny run.
cd "$repo"
job=$(sbatch --parsable -n 2 -o "$work/job.out" --wrap \
    "launch/mpi --data mnist --data-dir $data --model mlp --hidden 16 --epochs 1 --batch-size 32 --out $out")
for _ in $(seq 600); do
    squeue -h -j "$job" 2>/dev/null | grep -q . || break
    sleep 0.5
done
cat "$work/job.out"
if squeue -h -j "$job" 2>/dev/null | grep -q .; then echo "slurm-job: job $job still running after 300 s" >&2; exit 1; fi
grep -q "2 ranks" "$work/job.out" || { echo "slurm-job: the job did not run on 2 ranks" >&2; exit 1; }
[[ -s "$out/metrics.jsonl" && -s "$out/weights.safetensors" ]] || { echo "slurm-job: $out lacks metrics or weights" >&2; exit 1; }
echo "slurm-job: ok (job $job)"
