#!/bin/sh
# Runs the integration tests, each suite in a throwaway network namespace of
# its own (unshare -n): never the host's interfaces or firewall.
#   - every C test binary given as an argument (build/itests/test-*)
#   - every tests/integration/test_*.py (stdlib unittest)
# JOBS suites at a time (default 4); each suite's output is printed whole
# when it ends (scripts/run-suites.py). BUILD names the build directory the
# Python tests use (default build).
set -u
: "${BUILD:=build}"
export BUILD
if [ "$(id -u)" -ne 0 ]; then
    echo "integration tests need root (network namespaces, TAP devices, nftables)" >&2
    exit 1
fi

# The tests check they run outside this namespace before touching anything.
TAPLINK_HOST_NETNS=$(readlink /proc/self/ns/net)
export TAPLINK_HOST_NETNS

exec python3 "$(dirname "$0")/run-suites.py" "$@"
