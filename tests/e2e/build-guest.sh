#!/bin/sh
# Builds the end-to-end test's guest from Debian packages, into $BUILD/e2e/:
#   vmlinuz                 the kernel of linux-image-amd64
#   initramfs.cpio.gz       busybox-static + the virtio-net modules of that
#                           kernel + tests/e2e/guest-init.sh as /init +
#                           tests/e2e/udhcpc-script.sh as /bin/e2e-udhcpc
# The packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x`/tar into $BUILD/e2e/pkgs/: nothing is installed system-wide.
# Nothing is rebuilt while the initramfs is newer than all of its inputs (this
# script, guest-init.sh, udhcpc-script.sh and the downloaded .deb files); E2E_REBUILD=1 forces a
# rebuild, E2E_REFETCH=1 fetches the packages again (a newer kernel, say).
# Prints the paths of the kernel and the initramfs on its last line.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=$BUILD/e2e
PKGS=$OUT/pkgs
INITRD=$OUT/initramfs.cpio.gz
# The kernel QEMU boots: vmlinux, the ELF inside the package's bzImage, when
# the kernel has CONFIG_PVH (QEMU then enters it directly, which under TCG
# saves the ~5 s the bzImage spends decompressing itself); else vmlinuz.
KERNEL_FILE=$OUT/kernel
# What the guest needs that the kernel may build as modules; their
# dependencies are found from each module's own `depends=` (.modinfo), which
# is what depmod writes to modules.dep (the package ships no modules.dep:
# depmod makes it at install time).
WANT_MODULES="virtio_pci virtio_net"

say() { echo "build-guest: $*" >&2; }
die() { say "$*"; exit 1; }

mkdir -p "$PKGS"

# --- fetch -----------------------------------------------------------------
if [ "${E2E_REFETCH:-0}" = 1 ]; then
    rm -f "$PKGS"/*.deb
fi
kdeb=$(ls "$PKGS"/linux-image-*.deb 2>/dev/null | tail -n 1 || true)
bdeb=$(ls "$PKGS"/busybox-static_*.deb 2>/dev/null | tail -n 1 || true)
if [ -z "$kdeb" ] || [ -z "$bdeb" ]; then
    command -v apt-get >/dev/null || die "apt-get is needed to fetch the guest's packages"
    kpkg=""
    for attempt in 1 2; do
        kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
        [ -n "$kpkg" ] && break
        [ "$attempt" = 1 ] && { say "apt-get update"; apt-get update -qq; }
    done
    [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
    say "fetching $kpkg busybox-static"
    rm -f "$PKGS"/*.deb
    # apt-get download writes into the current directory; as root it warns that
    # the _apt user cannot write there, which is harmless.
    (cd "$PKGS" && apt-get download -q "$kpkg" busybox-static 2>&1 |
        grep -v -e '^W: Download is performed unsandboxed' >&2 || true)
    kdeb=$(ls "$PKGS"/linux-image-*.deb 2>/dev/null | tail -n 1 || true)
    bdeb=$(ls "$PKGS"/busybox-static_*.deb 2>/dev/null | tail -n 1 || true)
    [ -n "$kdeb" ] && [ -n "$bdeb" ] || die "apt-get download failed"
fi

# --- up to date? -------------------------------------------------------------
fresh=1
if [ "${E2E_REBUILD:-0}" = 1 ] || [ ! -s "$INITRD" ]; then
    fresh=0
else
    KERNEL=$(cat "$KERNEL_FILE" 2>/dev/null || true)
    [ -n "$KERNEL" ] && [ -s "$KERNEL" ] || fresh=0
    for f in "$0" "$HERE/guest-init.sh" "$HERE/udhcpc-script.sh" "$kdeb" "$bdeb"; do
        [ "$fresh" = 1 ] && [ "$INITRD" -nt "$f" ] && [ "$KERNEL" -nt "$f" ] || fresh=0
    done
fi
if [ "$fresh" = 1 ]; then
    say "up to date: $INITRD"
    echo "$KERNEL $INITRD"
    exit 0
fi

# --- unpack ------------------------------------------------------------------
for tool in dpkg-deb tar cpio gzip; do
    command -v $tool >/dev/null || die "$tool is missing (tests/e2e/deps.sh installs it)"
done
say "unpacking $(basename "$kdeb")"
KX=$PKGS/kernel
rm -rf "$KX" "$PKGS/busybox" "$OUT/initramfs.d"
mkdir -p "$KX" "$PKGS/busybox"
# The whole package (~400 MB unpacked, a few seconds): simpler and faster than
# pulling single files out of it one by one. Removed once the initramfs is made.
dpkg-deb -x "$kdeb" "$KX"
listing=$PKGS/kernel.list
(cd "$KX" && find . -type f) > "$listing"
vmlinuz=$(grep -E '^\./boot/vmlinuz-' "$listing" | head -n 1)
config=$(grep -E '^\./boot/config-' "$listing" | head -n 1)
[ -n "$vmlinuz" ] || die "no vmlinuz in $kdeb"
kver=${vmlinuz#./boot/vmlinuz-}

# Which of the wanted drivers are modules (=m), built in (=y), or missing.
cfg_of() { # module name -> its CONFIG_ symbol's value, if we know it
    case $1 in
        virtio_pci) sym=CONFIG_VIRTIO_PCI ;;
        virtio_net) sym=CONFIG_VIRTIO_NET ;;
        *) return 0 ;;
    esac
    [ -n "$config" ] && sed -n "s/^$sym=//p" "$KX/$config"
}

# modname -> path inside the package (names may use - or _ interchangeably)
mod_path() {
    n=$(echo "$1" | sed 's/[-_]/[-_]/g')
    grep -E "/lib/modules/$kver/.*/$n\.ko(\.xz|\.zst|\.gz)?$" "$listing" | head -n 1
}

MODDIR=$PKGS/modules
rm -rf "$MODDIR"
mkdir -p "$MODDIR"
ORDER=$MODDIR/order
: > "$ORDER"
# Depth-first: a module's dependencies go into the load order before it.
resolve() { # modname
    m=$(echo "$1" | tr - _)
    grep -qx "$m" "$ORDER" && return 0
    case " $VISITING " in *" $m "*) return 0 ;; esac
    VISITING="$VISITING $m"
    p=$(mod_path "$m")
    if [ -z "$p" ]; then
        v=$(cfg_of "$m")
        if [ "$v" = y ]; then
            say "$m is built into the kernel"
            return 0
        fi
        die "module $m not found in $(basename "$kdeb")"
    fi
    case $p in
        *.ko.xz) xz -dc "$KX/$p" > "$MODDIR/$m.ko" ;;
        *.ko.zst) zstd -qdc "$KX/$p" > "$MODDIR/$m.ko" ;;
        *.ko.gz) gzip -dc "$KX/$p" > "$MODDIR/$m.ko" ;;
        *) cp "$KX/$p" "$MODDIR/$m.ko" ;;
    esac
    deps=$(tr '\0' '\n' < "$MODDIR/$m.ko" | sed -n 's/^depends=//p' | head -n 1 | tr , ' ')
    for d in $deps; do
        resolve "$d"
    done
    # $1, not $m: the recursive calls above reuse the shell's global variables.
    echo "$1" | tr - _ >> "$ORDER"
}
VISITING=""
for m in $WANT_MODULES; do
    if [ "$(cfg_of "$m")" = y ]; then
        say "$m is built into the kernel"
        continue
    fi
    resolve "$m"
done
say "modules, in load order: $(tr '\n' ' ' < "$ORDER")"

dpkg-deb -x "$bdeb" "$PKGS/busybox"
BUSYBOX=$PKGS/busybox/bin/busybox
[ -x "$BUSYBOX" ] || die "no bin/busybox in $(basename "$bdeb")"

# --- the initramfs -------------------------------------------------------------
STAGE=$OUT/initramfs.d
mkdir -p "$STAGE/bin" "$STAGE/dev" "$STAGE/proc" "$STAGE/sys" "$STAGE/tmp" \
         "$STAGE/etc" "$STAGE/lib/modules" "$STAGE/root"
cp "$BUSYBOX" "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"
cp "$HERE/guest-init.sh" "$STAGE/init"
cp "$HERE/udhcpc-script.sh" "$STAGE/bin/e2e-udhcpc"
chmod 0755 "$STAGE/init" "$STAGE/bin/busybox" "$STAGE/bin/e2e-udhcpc"
cp "$MODDIR"/*.ko "$ORDER" "$STAGE/lib/modules/"
echo "root:x:0:0:root:/root:/bin/sh" > "$STAGE/etc/passwd"
echo "root:x:0:" > "$STAGE/etc/group"
echo "$kver" > "$STAGE/etc/e2e-kernel"
# The kernel opens /dev/console before it runs /init: give it one (init mounts
# devtmpfs over /dev right after).
if [ "$(id -u)" = 0 ]; then
    mknod -m 0600 "$STAGE/dev/console" c 5 1
    mknod -m 0666 "$STAGE/dev/null" c 1 3
fi
(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet) |
    gzip -6 > "$INITRD.tmp"
KERNEL=$OUT/vmlinuz
rm -f "$OUT/vmlinux"
cp "$KX/$vmlinuz" "$OUT/vmlinuz.tmp"
if [ -n "$config" ] && grep -qx 'CONFIG_PVH=y' "$KX/$config" && command -v python3 >/dev/null; then
    # The bzImage's payload is one compressed stream (xz for Debian's kernels;
    # gzip handled too): find it, unpack it, keep it if it is an ELF.
    python3 - "$OUT/vmlinuz.tmp" "$OUT/vmlinux.tmp" <<'PY' && KERNEL=$OUT/vmlinux
import lzma, sys, zlib
d = open(sys.argv[1], "rb").read()
out = b""
for magic, unpack in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(b)),
                      (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(31).decompress(b))):
    i = d.find(magic)
    while i >= 0 and not out.startswith(b"\x7fELF"):
        try:
            out = unpack(d[i:])
        except Exception:
            out = b""
        i = d.find(magic, i + 1)
if not out.startswith(b"\x7fELF"):
    sys.exit(1)
open(sys.argv[2], "wb").write(out)
PY
    if [ "$KERNEL" = "$OUT/vmlinux" ]; then
        chmod 0644 "$OUT/vmlinux.tmp"
        mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
    else
        rm -f "$OUT/vmlinux.tmp"
        say "no ELF in the bzImage: booting vmlinuz"
    fi
fi
# QEMU runs as an unprivileged user: all must be readable by it.
chmod 0644 "$INITRD.tmp" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$INITRD.tmp" "$INITRD"
echo "$KERNEL" > "$KERNEL_FILE"
rm -rf "$KX"
say "built $INITRD ($(wc -c < "$INITRD") bytes) for kernel $kver"
echo "$KERNEL $INITRD"
