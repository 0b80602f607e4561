#!/bin/sh
# Installs, on Debian/Ubuntu, whatever the build and the test suite need that
# this machine lacks. Does nothing (and needs no network) when all is there.
set -eu

# package            what needs it
PACKAGES="
build-essential      build
pkg-config           build
libmnl-dev           rtnetlink
libnftnl-dev         nftables
libsystemd-dev       sd-event, sd_notify, socket activation
libjson-c-dev        Varlink JSON
libinih-dev          configuration file
libcmocka-dev        unit tests
clang                fuzzers (libFuzzer)
nftables             tests: nft -j list ruleset
iproute2             tests: ip -j link/addr
util-linux           tests: unshare, setpriv
python3              integration tests
procps               tests: ps, sysctl
systemd              tests: systemd-analyze, systemd-socket-activate
valgrind             tests: memcheck run
"

missing=""
for pkg in $(printf '%s\n' "$PACKAGES" | awk 'NF { print $1 }'); do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing packages:$missing (no apt-get here: install them by hand)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
