#!/bin/sh
# Runs every unit test binary given; prints each one's cmocka summary and a
# total. Fails when any test fails.
set -u
failed=""
for t in "$@"; do
    echo "=== $(basename "$t")"
    if ! "$t"; then
        failed="$failed $(basename "$t")"
    fi
done
if [ -n "$failed" ]; then
    echo "unit tests FAILED:$failed" >&2
    exit 1
fi
echo "unit tests: all $# binaries passed"
