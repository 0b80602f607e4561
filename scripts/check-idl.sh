#!/bin/sh
# Checks docs/io.taplinkd.varlink with an official Varlink parser (the Go
# implementation's interface generator, Debian package varlink-go), in a
# temporary directory: the description the daemon serves must parse.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v varlink-go-interface-generator >/dev/null; then
    echo "check-idl: varlink-go-interface-generator is missing (apt-get install varlink-go)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$root/docs/io.taplinkd.varlink" "$tmp/"
head -n1 "$tmp/io.taplinkd.varlink" | grep -qx 'interface io.taplinkd' || {
    echo "check-idl: docs/io.taplinkd.varlink must start with 'interface io.taplinkd'" >&2
    exit 1
}
(cd "$tmp" && varlink-go-interface-generator io.taplinkd.varlink)
echo "check-idl: docs/io.taplinkd.varlink parses (varlink-go)"
