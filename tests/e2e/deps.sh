#!/bin/sh
# Installs what the end-to-end test needs that this machine lacks
# (tests/e2e/deps.txt): QEMU, the host-side tools, and what build-guest.sh
# uses to unpack Debian packages.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../scripts/install-deps.sh" "$here/deps.txt"
