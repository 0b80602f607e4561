#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds every libFuzzer harness tests/fuzz/fuzz-<name>.c with clang
# (-fsanitize=fuzzer,address,undefined), replays each file in
# tests/fuzz/regressions/<name>/, then fuzzes each harness for FUZZ_SECONDS
# over a copy of its seed corpus tests/fuzz/corpus/<name>/. Prints per
# harness: runs, exec/s, final cov/ft, corpus size and crashes; exits
# non-zero when a build fails, a regression input fails, or fuzzing finds a
# crash.
#
# Environment:
#   BUILD          build tree (default build); everything goes to $BUILD/fuzz/
#   FUZZ_SECONDS   seconds of fuzzing per harness (default 60; 0: build and
#                  replay the regression inputs and the seeds only)
#   FUZZ_JOBS      harnesses built and run at once (default: nproc)
#   FUZZ_TARGETS   names to run, e.g. "varlink config" (default: all)
#   FUZZ_CC        the compiler (default clang)
#
# A harness names the src/ modules it links and its input size bound near
# its top, as the unit tests do:
#     // MODULES: nft slot          (src/nft.c, src/slot.c; lib/x: src/lib/x.c)
#     // MAX_LEN: 16384             (libFuzzer -max_len)
# An optional tests/fuzz/<name>.dict is passed as -dict.
#
# Outputs, none of them in git: $BUILD/fuzz/obj/ (instrumented objects),
# $BUILD/fuzz/fuzz-<name> (binaries), $BUILD/fuzz/corpus/<name>/ (the
# working corpus: the seeds plus what fuzzing found; it grows from run to
# run), $BUILD/fuzz/artifacts/<name>/ (crashing inputs), $BUILD/fuzz/logs/.
# A crash found here goes, minimized (-minimize_crash=1), into
# tests/fuzz/regressions/<name>/: it fails until its bug is fixed, and is a
# test from then on.

set -u

cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_CC=${FUZZ_CC:-clang}
OUT=$BUILD/fuzz
SRC=tests/fuzz

die() {
    echo "fuzz: $*" >&2
    exit 1
}

command -v "$FUZZ_CC" >/dev/null || die "$FUZZ_CC not found (libFuzzer needs clang)"
case $FUZZ_SECONDS in '' | *[!0-9]*) die "FUZZ_SECONDS must be a number of seconds" ;; esac

VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
PKGS="libmnl libnftnl libnetfilter_conntrack libsystemd json-c inih"
PKG_CFLAGS=$(pkg-config --cflags $PKGS) || die "pkg-config: $PKGS missing"
PKG_LIBS=$(pkg-config --libs $PKGS)
JSONC_CFLAGS=$(pkg-config --cflags json-c)

# The Makefile's warnings and defines; sanitizers that stop at the first
# finding, so that libFuzzer records the input.
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
BASE="-std=gnu11 $WARN -D_GNU_SOURCE -DTAPLINK_VERSION=\"$VERSION\" -Iinclude -Isrc -I$SRC -g -O1 $SAN"

if [ -n "${FUZZ_TARGETS:-}" ]; then
    names=$FUZZ_TARGETS
else
    names=$(for f in "$SRC"/fuzz-*.c; do n=${f##*/fuzz-}; echo "${n%.c}"; done)
fi
for n in $names; do
    [ -f "$SRC/fuzz-$n.c" ] || die "no harness $SRC/fuzz-$n.c"
done

modules_of() { sed -n 's|^// MODULES: *||p' "$SRC/fuzz-$1.c"; }
max_len_of() { sed -n 's|^// MAX_LEN: *||p' "$SRC/fuzz-$1.c"; }

mkdir -p "$OUT/obj/lib" "$OUT/logs" "$OUT/status"
rm -f "$OUT"/status/*

# Objects built with other flags (another compiler, another version) go.
flags="$FUZZ_CC $BASE $PKG_CFLAGS"
if [ "$(cat "$OUT/flags" 2>/dev/null)" != "$flags" ]; then
    rm -rf "$OUT/obj"
    mkdir -p "$OUT/obj/lib"
    printf '%s\n' "$flags" >"$OUT/flags"
fi

# Runs "$@" in the background once fewer than FUZZ_JOBS jobs run.
spawn() {
    while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do
        wait -n 2>/dev/null || true
    done
    "$@" &
}

# True when $1 is missing or older than a file its .d lists.
stale() {
    local obj=$1 dep
    [ -f "$obj" ] && [ -f "$obj.d" ] || return 0
    for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d"); do
        [ "$dep" -nt "$obj" ] && return 0
    done
    return 1
}

compile_module() {
    local mod=$1 obj="$OUT/obj/$1.o" extra
    stale "$obj" || return 0
    case $mod in
    lib/*) extra="$JSONC_CFLAGS -fPIC -fvisibility=hidden" ;;
    *) extra=$PKG_CFLAGS ;;
    esac
    # shellcheck disable=SC2086
    if ! $FUZZ_CC $BASE $extra -fsanitize=fuzzer-no-link -MMD -MF "$obj.d" \
        -c -o "$obj" "src/$mod.c" >"$OUT/logs/build-${mod//\//-}.log" 2>&1; then
        cat "$OUT/logs/build-${mod//\//-}.log" >&2
        touch "$OUT/status/build-failed"
        rm -f "$obj"
    fi
}

link_harness() {
    local n=$1 bin="$OUT/fuzz-$1" objs="" m
    for m in $(modules_of "$n"); do objs="$objs $OUT/obj/$m.o"; done
    # shellcheck disable=SC2086
    if ! $FUZZ_CC $BASE $PKG_CFLAGS -fsanitize=fuzzer -o "$bin" "$SRC/fuzz-$n.c" $objs \
        $PKG_LIBS >"$OUT/logs/build-fuzz-$n.log" 2>&1; then
        cat "$OUT/logs/build-fuzz-$n.log" >&2
        touch "$OUT/status/build-failed"
    fi
}

# ---- build -------------------------------------------------------------------
start=$(date +%s)
all_modules=$(for n in $names; do modules_of "$n"; done | tr ' ' '\n' | sort -u)
for m in $all_modules; do
    [ -f "src/$m.c" ] || die "fuzz-*.c names a module src/$m.c that does not exist"
    spawn compile_module "$m"
done
wait
[ -e "$OUT/status/build-failed" ] && die "building the modules failed"
for n in $names; do spawn link_harness "$n"; done
wait
[ -e "$OUT/status/build-failed" ] && die "building the harnesses failed"
echo "fuzz: built $(echo $names | wc -w) harnesses in $(($(date +%s) - start)) s (objects in $OUT/obj)"

# ---- run ---------------------------------------------------------------------
# Prints the lines that say what went wrong in a libFuzzer log.
excerpt() {
    grep -E 'check failed|ERROR: |SUMMARY: |runtime error|^    #[0-9]+ .* in [^ ]+ /' "$1" |
        grep -v -E 'in (fuzzer::|__sanitizer|__asan|__ubsan|main |__libc|_start)' | head -n 20 |
        sed 's/^/    /'
}

run_harness() {
    local n=$1 bin="$OUT/fuzz-$1" log="$OUT/logs/$1.log" st="$OUT/status/$1"
    local corpus="$OUT/corpus/$1" artifacts="$OUT/artifacts/$1/" f rc=0 failed=0
    local dict="" max_len
    max_len=$(max_len_of "$n")
    [ -f "$SRC/$n.dict" ] && dict="-dict=$SRC/$n.dict"
    mkdir -p "$corpus" "$artifacts"
    : >"$log"
    : >"$OUT/logs/$n-regressions.log"

    # Every crash ever found stays a test.
    for f in "$SRC/regressions/$n"/*; do
        [ -f "$f" ] || continue
        if ! "$bin" "$f" >"$log.one" 2>&1; then
            echo "fuzz-$n: regression input $f FAILS:" >&2
            excerpt "$log.one" >&2
            failed=$((failed + 1))
        fi
        cat "$log.one" >>"$OUT/logs/$n-regressions.log"
    done
    rm -f "$log.one"

    if [ -d "$SRC/corpus/$n" ]; then
        cp -n "$SRC/corpus/$n"/* "$corpus"/ 2>/dev/null
    fi
    touch "$OUT/status/$n.start"
    local opts=(-max_len="${max_len:-4096}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts")
    [ -n "$dict" ] && opts+=("$dict")
    if [ "$FUZZ_SECONDS" -gt 0 ]; then
        "$bin" "${opts[@]}" -max_total_time="$FUZZ_SECONDS" "$corpus" >>"$log" 2>&1 || rc=$?
    else
        # Every corpus input once: the seeds still parse as they should.
        "$bin" "${opts[@]}" -runs=0 "$corpus" >>"$log" 2>&1 || rc=$?
    fi

    local crashes
    crashes=$(find "$artifacts" -type f -newer "$OUT/status/$n.start" | wc -l)
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        echo "fuzz-$n: CRASH (exit $rc), input(s) in $artifacts, log $log:" >&2
        excerpt "$log" >&2
        [ "$crashes" -eq 0 ] && crashes=1
    fi
    echo "$failed $crashes" >"$st"
}

start=$(date +%s)
for n in $names; do spawn run_harness "$n"; done
wait

# ---- summary -----------------------------------------------------------------
status=0
echo
printf '%-12s %-8s %10s %8s %6s %7s %7s %8s %11s\n' harness result runs exec/s cov ft corpus crashes regressions
for n in $names; do
    log="$OUT/logs/$n.log"
    read -r failed crashes <"$OUT/status/$n" 2>/dev/null || { failed=1; crashes=1; }
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corpus=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    nreg=$(find "$SRC/regressions/$n" -type f 2>/dev/null | wc -l)
    result=ok
    if [ "$failed" -gt 0 ] || [ "$crashes" -gt 0 ]; then
        result=FAILED
        status=1
    fi
    printf '%-12s %-8s %10s %8s %6s %7s %7s %8s %11s\n' "$n" "$result" "${runs:--}" "${speed:--}" \
        "${cov:--}" "${ft:--}" "${corpus:--}" "$crashes" "$((nreg - failed))/$nreg"
done
echo "fuzz: ${FUZZ_SECONDS} s per harness, $FUZZ_JOBS at a time, $(($(date +%s) - start)) s in all; logs in $OUT/logs"
exit $status
