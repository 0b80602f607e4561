#!/bin/sh
# Installs, on Debian/Ubuntu, what the end-to-end test (tests/e2e/) needs that
# this machine lacks: QEMU, the host-side tools, and what build-guest.sh uses
# to unpack Debian packages. Does nothing (and needs no network) when all is
# there. The guest's kernel and busybox are NOT installed system-wide:
# build-guest.sh fetches them with `apt-get download` into build/e2e/.
set -eu

# package            what needs it
PACKAGES="
qemu-system-x86      the VMM
cpio                 build-guest.sh: the initramfs
gzip                 build-guest.sh: the initramfs
xz-utils             build-guest.sh: .ko.xz modules
zstd                 build-guest.sh: .ko.zst modules (newer kernels)
dpkg                 build-guest.sh: dpkg-deb -x
apt                  build-guest.sh: apt-get download
busybox-static       host side: nc
iputils-ping         host side: ping
iproute2             host side: ip netns, veth
nftables             host side: nft -j list set
util-linux           host side: setpriv, unshare
passwd               host side: groupadd, useradd
python3              host side: fd passer, HTTP server, TCP peers
procps               host side: pkill -P, ps
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
    echo "e2e deps: missing packages:$missing (no apt-get here: install them by hand)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "e2e deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
