#!/bin/sh
# Checks the systemd units as they would be installed:
#   - `systemd-analyze verify` on taplinkd.socket and taplinkd.service, with
#     @SBINDIR@ set to the built daemon (ExecStart= must name an existing
#     executable) and the shipped man pages (docs/) on MANPATH, so that every
#     Documentation=man:... reference is checked as well;
#   - `systemd-sysusers --dry-run` on taplinkd.sysusers.conf, against an
#     empty root (nothing on this system is touched);
#   - `systemd-analyze security --offline=yes` on the service: fails when
#     the overall exposure is above MAX_EXPOSURE (default 1.5); and on the
#     service with the clone-slot drop-in (systemd/taplinkd.service.d/
#     clone.conf), which fails above CLONE_MAX_EXPOSURE (default 3.8, the
#     figure taplinkd(8) states).
# Needs no root and changes nothing outside a temporary directory.
# BUILD names the build directory (default build).
set -eu

: "${BUILD:=build}"
: "${MAX_EXPOSURE:=1.5}"
: "${CLONE_MAX_EXPOSURE:=3.8}"
root=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in
/*) build=$BUILD ;;
*) build=$root/$BUILD ;;
esac
daemon=$build/taplinkd
if [ ! -x "$daemon" ]; then
    echo "check-systemd: $daemon is missing (run make)" >&2
    exit 1
fi
if ! command -v systemd-analyze >/dev/null; then
    echo "check-systemd: systemd-analyze is not installed" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/units" "$tmp/man" "$tmp/sysroot"

for unit in taplinkd.service taplinkd.socket; do
    sed "s|@SBINDIR@|$build|g" "$root/systemd/$unit" >"$tmp/units/$unit"
    if grep -n '@[A-Z_]*@' "$tmp/units/$unit" >&2; then
        echo "check-systemd: $unit: unsubstituted placeholder (above)" >&2
        exit 1
    fi
done

# man pages where man(1) finds them: man<section>/<page>.<section>
for page in "$root"/docs/*.[1-9]; do
    section=${page##*.}
    mkdir -p "$tmp/man/man$section"
    cp "$page" "$tmp/man/man$section/"
done

failed=0

echo "=== systemd-analyze verify"
if command -v man >/dev/null; then
    man_opt=--man=yes
else
    # Without man(1) nothing can be looked up; say so rather than pass
    # silently.
    echo "check-systemd: man(1) is not installed: Documentation= is not checked" >&2
    man_opt=--man=no
fi
if MANPATH=$tmp/man systemd-analyze verify "$man_opt" "$tmp/units/taplinkd.socket" \
    "$tmp/units/taplinkd.service"; then
    echo "verify: ok"
else
    echo "verify: FAILED" >&2
    failed=1
fi

echo "=== systemd-sysusers --dry-run"
if command -v systemd-sysusers >/dev/null; then
    if systemd-sysusers --root="$tmp/sysroot" --dry-run "$root/systemd/taplinkd.sysusers.conf"; then
        echo "sysusers: ok"
    else
        echo "sysusers: FAILED" >&2
        failed=1
    fi
else
    echo "check-systemd: systemd-sysusers is not installed: skipped" >&2
fi

# exposure UNIT_FILE LIMIT WHAT: checks the overall exposure of a unit
# file (with a drop-in directory next to it, if any).
exposure() {
    out=$(systemd-analyze security --offline=yes --no-pager "$1") || {
        printf '%s\n' "$out"
        echo "security: systemd-analyze failed" >&2
        exit 1
    }
    printf '%s\n' "$out" | grep '✗' || true
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for taplinkd\.service: \([0-9.]*\).*/\1/p')
    if [ -z "$score" ]; then
        printf '%s\n' "$out"
        echo "security: no overall exposure level in the output" >&2
        exit 1
    fi
    if awk -v s="$score" -v m="$2" 'BEGIN { exit !(s <= m) }'; then
        echo "security ($3): exposure $score (limit $2): ok"
    else
        echo "security ($3): exposure $score is above $2: FAILED" >&2
        failed=1
    fi
}

echo "=== systemd-analyze security --offline=yes"
exposure "$tmp/units/taplinkd.service" "$MAX_EXPOSURE" "taplinkd.service"

echo "=== systemd-analyze security --offline=yes, with the clone drop-in"
mkdir -p "$tmp/clone/taplinkd.service.d"
cp "$tmp/units/taplinkd.service" "$tmp/clone/"
sed 's|@DATADIR@|/usr/share|g' "$root/systemd/taplinkd.service.d/clone.conf" \
    >"$tmp/clone/taplinkd.service.d/clone.conf"
if systemd-analyze verify --man=no "$tmp/clone/taplinkd.service" 2>&1 | grep -v 'taplinkd.socket' | grep .; then
    echo "verify (clone drop-in): FAILED" >&2
    failed=1
fi
exposure "$tmp/clone/taplinkd.service" "$CLONE_MAX_EXPOSURE" "with clone.conf"

exit $failed
