#!/bin/sh
# Runs the integration tests, each in a throwaway network namespace of its
# own (unshare -n): never the host's interfaces or firewall.
#   - every C test binary given as an argument (build/itests/test-*)
#   - every tests/integration/test_*.py (stdlib unittest)
# BUILD names the build directory the Python tests use (default build).
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

failed=""
count=0
for t in "$@"; do
    count=$((count + 1))
    echo "=== $(basename "$t") (netns)"
    if ! unshare -n -- "$t"; then
        failed="$failed $(basename "$t")"
    fi
done
for py in tests/integration/test_*.py; do
    [ -e "$py" ] || continue
    count=$((count + 1))
    echo "=== $(basename "$py") (netns)"
    if ! unshare -n -- python3 -m unittest -v "$py" 2>&1; then
        failed="$failed $(basename "$py")"
    fi
done
if [ -n "$failed" ]; then
    echo "integration tests FAILED:$failed" >&2
    exit 1
fi
echo "integration tests: all $count suites passed"
