#!/bin/sh
# `make bench`: taplinkd under load (bench/load.c), its guest services
# (bench/guest.c) and under abuse (tests/integration/test_hostile.py), each
# run in a throwaway network namespace of its own (unshare -n): the host's
# interfaces and firewall are never touched.
#
#   BENCH_QUICK=1   levels 0 and 1,000 only, fewer samples, IPv6 on (~4 min)
#   BENCH_LEVELS    override the levels (comma-separated, starting at 0)
#   BENCH_ONLY=guest  only the guest-services part (bench/guest.c)
#   BENCH_ONLY=conntrack  only the deletion of a slot's conntrack entries
#                     (bench/conntrack.c, ~5 s)
#   BENCH_ONLY=clone  only clone slots (bench/clone.c): Acquire with pool = 0
#                     and with a warm pool of BENCH_CLONE_POOL (default 32),
#                     next to plain Acquires; bursts of 32; Release and VMM
#                     exit; at 0 and 1,000 live clone slots (~5 min)
#   BENCH_ONLY=policy  only the egress policy and published ports: their
#                     nftables commits at 0, 1,000 and 10,000 slots
#                     (bench/nft-batch.c, ~25 s), and a QEMU guest's
#                     throughput routed and through a published port
#                     (tests/e2e/run.sh's novnet scenario, ~40 s)
#
# First, in every mode, the hostile-client figures (~1 min): a well-behaved
# client's round trip under each abuse of tests/integration/test_hostile.py.
#
# The full run (~16 min) measures 0, 1,000 and 10,000 live slots twice:
# with ipv6 = no first (~5 min), then with IPv6 on (~11 min). The kernel's
# own cost per slot grows with the number of devices (IPv6 route walks at
# link up and address add; with ipv6 = no too, for the link-local address):
# filling 10,000 IPv6 slots takes ~4 min and releasing them again ~4 min,
# which is what makes the second run the long one. Both are reported,
# labelled ipv6=yes/no. Then the guest services (~3 min) at the same
# levels, with ipv6 = no (DHCPv4 is what is measured; the fill is faster).
# See bench/README.md.
set -eu
: "${BUILD:=build}"
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: needs root (network namespaces, TAP devices, nftables)" >&2
    exit 1
fi
for b in "$BUILD/taplinkd" "$BUILD/bench/load" "$BUILD/bench/guest" "$BUILD/bench/conntrack" "$BUILD/bench/nft-batch" \
    "$BUILD/bench/kernel-seq" "$BUILD/bench/clone"; do
    [ -x "$b" ] || { echo "bench: $b is missing (make bench builds them)" >&2; exit 1; }
done

run() {
    unshare -n -- "$BUILD/bench/load" --taplinkd "$BUILD/taplinkd" "$@"
}

# DISCOVER -> OFFER next to the kernel's ARP reply, and Acquire while 100
# slots flood DHCP: a namespace and a daemon of its own.
guest() {
    unshare -n -- "$BUILD/bench/guest" --taplinkd "$BUILD/taplinkd" "$@"
}

# Clone slots next to plain ones, pool = 0 and warm: a network namespace
# (and a mount namespace with /run of its own) and a daemon of its own.
# Levels of live clone slots: those of BENCH_LEVELS up to 1,000 (a
# namespace each; the levels above are left to the other parts).
clone() {
    local l levels=
    for l in $(echo "$1" | tr , " "); do
        if [ "$l" -le 1000 ]; then
            levels=${levels:+$levels,}$l
        fi
    done
    unshare -n -- "$BUILD/bench/clone" --taplinkd "$BUILD/taplinkd" --levels "$levels" \
        --pool "${BENCH_CLONE_POOL:-32}" $2
}

# Deleting one slot's conntrack entries among 0, 100 and 10,000 others.
conntrack() {
    unshare -n -- "$BUILD/bench/conntrack" "$@"
}

# The kernel call sequences for a slot's link side by side (naive, the
# daemon's, and the others tried), IPv6 on, at each level: a namespace each.
kernelseq() {
    local l
    for l in $(echo "$1" | tr , " "); do
        unshare -n -- "$BUILD/bench/kernel-seq" --live "$l" --rounds 4
    done
}

# A well-behaved client's round trips while each hostile client of
# tests/integration/test_hostile.py does its worst (there, in make check,
# the bound is 1 s): reported, never judged. A failing test is reported and
# the bench goes on.
hostile() {
    out=$(mktemp /tmp/taplinkd-bench-hostile.XXXXXX)
    log=$out.log
    if ! TAPLINK_HOST_NETNS=$(readlink /proc/self/ns/net) TAPLINK_BENCH_OUT=$out BUILD=$BUILD \
        unshare -n -- python3 -m unittest tests/integration/test_hostile.py >"$log" 2>&1; then
        echo "hostile: some tests failed, their figures may be missing (log: $log)"
    else
        rm -f "$log"
    fi
    echo "hostile: a well-behaved client's round trip under each abuse, ms"
    printf "  %-42s %7s %8s %8s\n" abuse samples p50 worst
    awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
           if (f["name"] == "hostile_rtt_p50_ms") p50[f["load"]] = f["value"]
           else { worst[f["load"]] = f["value"]; n[f["load"]] = f["samples"] } }
         END { for (l in worst) printf "  %-42s %7d %8.2f %8.2f\n", l, n[l], p50[l], worst[l] }' "$out" |
        sort
    cat "$out"
    rm -f "$out"
}

# The egress policy's and published ports' commits (bench/nft-batch.c,
# which also prints the plain element batches first), and published-port
# throughput next to routed, both through a QEMU guest in the same run.
policy() {
    echo "policy: nftables commits (bench/nft-batch.c)"
    unshare -n -- "$BUILD/bench/nft-batch" | sed 's/^/  /'
    echo "policy: a QEMU guest's 64 MiB from another host, routed and through a published port"
    local log
    log=$(mktemp)
    if E2E_ONLY=novnet BUILD=$BUILD tests/e2e/run.sh >"$log" 2>&1; then
        awk '/^E2E accel/ { p = 1 } p && /from_internet_big|^E2E accel/' "$log" | sed 's/^/  /'
    else
        echo "  the e2e run failed (log: $log)"
        return
    fi
    rm -f "$log"
}

echo "taplinkd bench: $(nproc) CPUs, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    levels=${BENCH_LEVELS:-0,1000}
    quick=--quick
else
    levels=${BENCH_LEVELS:-0,1000,10000}
    quick=
fi
if [ "${BENCH_ONLY:-}" = guest ]; then
    guest $quick --levels "$levels"
    exit 0
fi
if [ "${BENCH_ONLY:-}" = conntrack ]; then
    conntrack
    exit 0
fi
if [ "${BENCH_ONLY:-}" = policy ]; then
    policy
    exit 0
fi
if [ "${BENCH_ONLY:-}" = clone ]; then
    clone "$levels" "$quick"
    exit 0
fi
if [ "${BENCH_ONLY:-}" = kernel-seq ]; then
    kernelseq "$levels"
    exit 0
fi
hostile
if [ -n "$quick" ]; then
    run --quick --ipv6 yes --levels "$levels"
else
    run --ipv6 no --levels "$levels"
    run --ipv6 yes --levels "$levels"
fi
kernelseq "$levels"
guest $quick --levels "$levels"
clone "$levels" "$quick"
conntrack
policy
