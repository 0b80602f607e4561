#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/chaos/run.sh [ROUNDS [chaos.py options]]: the chaos test
# (tests/chaos/chaos.py) against build/taplinkd, in a throwaway network
# namespace of its own. ROUNDS defaults to $CHAOS_ROUNDS, else 120.
# CHAOS_SEED=N replays a run; CHAOS_CLONE_POOL=N (or --clone-pool N) sets
# the daemon's [clone] pool (default 0).
set -eu
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
    echo "chaos: needs root (network namespaces, TAP devices, nftables)" >&2
    exit 1
fi
: "${BUILD:=build}"
export BUILD
ROUNDS=${1:-${CHAOS_ROUNDS:-120}}
[ $# -gt 0 ] && shift
# harness.require_sandbox() checks it runs outside this namespace.
TAPLINK_HOST_NETNS=$(readlink /proc/self/ns/net)
export TAPLINK_HOST_NETNS
exec unshare -n -- python3 tests/chaos/chaos.py --rounds "$ROUNDS" "$@"
