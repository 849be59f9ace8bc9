#!/usr/bin/env bash
# Two "hosts" over TCP on one machine: two network namespaces joined by a veth pair, mpirun started in
# the first and reaching the second through an rsh agent that runs `ip netns exec`. Trains a short job
# across them and checks that the ranks really ran in different namespaces. The link is shaped like a
# wire: each end sends at most 1 Gb/s (tc netem with 50 µs one-way delay; a kernel without sch_netem gets a
# token bucket, rate only), and the script checks that both shapers carried the traffic. With LINK_PROFILE
# it also writes `bench --link-profile` over that link there. Needs root and iproute2 (ip, tc).
# Usage: Tests/scripts/two-hosts.sh BAYESPRUNE_BINARY DATA_DIR OUT_DIR [LINK_PROFILE]
set -euo pipefail
bin="$1"; data="$2"; out="$3"; profile="${4:-}"
tag="bp$$"
nsA="${tag}a"; nsB="${tag}b"
work=$(mktemp -d)
cleanup() { ip netns del "$nsA" 2>/dev/null || true; ip netns del "$nsB" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

ip netns add "$nsA"
ip netns add "$nsB"
ip link add "${tag}va" type veth peer name "${tag}vb"
ip link set "${tag}va" netns "$nsA"
ip link set "${tag}vb" netns "$nsB"
ip -n "$nsA" addr add 10.77.0.1/24 dev "${tag}va"
ip -n "$nsB" addr add 10.77.0.2/24 dev "${tag}vb"
for ns in "$nsA" "$nsB"; do ip -n "$ns" link set lo up; done
ip -n "$nsA" link set "${tag}va" up
ip -n "$nsB" link set "${tag}vb" up
shaping="netem rate 1gbit, 50us delay"
for end in "$nsA ${tag}va" "$nsB ${tag}vb"; do
    set -- $end
    if ! ip netns exec "$1" tc qdisc add dev "$2" root netem rate 1gbit delay 50us limit 100000 2>/dev/null; then
        ip netns exec "$1" tc qdisc add dev "$2" root tbf rate 1gbit burst 64kb latency 50ms
        shaping="tbf rate 1gbit (no netem in this kernel)"
    fi
done
echo "two-hosts: link shaped: $shaping" >&2

cat > "$work/rsh" <<AGENT
#!/bin/sh
host="\$1"; shift
case "\$host" in
  10.77.0.1) ns=$nsA ;;
  10.77.0.2) ns=$nsB ;;
  *) echo "rsh agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
AGENT
chmod +x "$work/rsh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$work/hosts"

# rtc_hwloc_vmhole none: Open MPI 4.1's daemons otherwise map the hardware topology into a "hole" of their
# address space, and now and then that write crashes the remote daemon (seen here: a segfault in
# hwloc_shmem_topology_write, "ORTE was unable to reliably start one or more daemons").
mpi=(mpirun -np 2 --hostfile "$work/hosts" --bind-to none --mca plm_rsh_agent "$work/rsh"
     --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24
     --mca rtc_hwloc_vmhole none
     -x OPENBLAS_NUM_THREADS=1)
[[ "$(id -u)" -eq 0 ]] && mpi+=(--allow-run-as-root)

placement=$(timeout 60 ip netns exec "$nsA" "${mpi[@]}" sh -c 'echo "$OMPI_COMM_WORLD_RANK $(ip -o -4 addr show | awk "/10\.77\./ {print \$4}")"' | sort)
expected=$'0 10.77.0.1/24\n1 10.77.0.2/24'
if [[ "$placement" != "$expected" ]]; then
    echo "two-hosts: ranks were not placed one per namespace: $placement" >&2
    exit 1
fi
timeout 300 ip netns exec "$nsA" "${mpi[@]}" "$bin" train --data mnist --data-dir "$data" --model mlp --hidden 16 \
    --epochs 2 --batch-size 32 --threads 1 --sync-check-every 1 --out "$out"
if [[ -n "$profile" ]]; then
    timeout 300 ip netns exec "$nsA" "${mpi[@]}" "$bin" bench --link-profile "tcp 1gbit" --nominal-gbps 1 \
        --models mlp --batch-size 16 --threads 1 --steps 2 --warmup 1 --repeats 1 --out "$profile" > /dev/null
fi
# Both ends' shapers carried the traffic (bytes counted by the qdisc).
for end in "$nsA ${tag}va" "$nsB ${tag}vb"; do
    set -- $end
    sent=$(ip netns exec "$1" tc -s qdisc show dev "$2" | awk '/Sent/ && !seen {print $2; seen = 1}')
    if [[ -z "$sent" || "$sent" -lt 100000 ]]; then
        echo "two-hosts: the shaper on $2 carried ${sent:-no} bytes" >&2
        exit 1
    fi
done
echo "two-hosts: ok"
