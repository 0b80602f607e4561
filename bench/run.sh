#!/bin/sh
# `make bench`: taplinkd under load (bench/load.c), each run in a throwaway
# network namespace of its own (unshare -n): the host's interfaces and
# firewall are never touched.
#
#   BENCH_QUICK=1   levels 0 and 1,000 only, fewer samples, IPv6 on (~1 min)
#   BENCH_LEVELS    override the levels (comma-separated, starting at 0)
#
# The full run (~16 min) measures 0, 1,000 and 10,000 live slots twice:
# with ipv6 = no first (~5 min), then with IPv6 on (~11 min). The kernel's
# own cost per slot grows with the number of devices (IPv6 route walks at
# link up and address add; with ipv6 = no too, for the link-local address):
# filling 10,000 IPv6 slots takes ~4 min and releasing them again ~4 min,
# which is what makes the second run the long one. Both are reported,
# labelled ipv6=yes/no. See bench/README.md.
set -eu
: "${BUILD:=build}"
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: needs root (network namespaces, TAP devices, nftables)" >&2
    exit 1
fi
for b in "$BUILD/taplinkd" "$BUILD/bench/load"; do
    [ -x "$b" ] || { echo "bench: $b is missing (make all $BUILD/bench/load)" >&2; exit 1; }
done

run() {
    unshare -n -- "$BUILD/bench/load" --taplinkd "$BUILD/taplinkd" "$@"
}

echo "taplinkd bench: $(nproc) CPUs, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    run --quick --ipv6 yes --levels "${BENCH_LEVELS:-0,1000}"
    exit 0
fi
run --ipv6 no --levels "${BENCH_LEVELS:-0,1000,10000}"
run --ipv6 yes --levels "${BENCH_LEVELS:-0,1000,10000}"
