#!/bin/bash
# End-to-end test of taplinkd with a real VMM: QEMU guests (tests/e2e/
# build-guest.sh) networked through TAP fds that `taplinkctl run` obtains from
# a taplinkd running in a throwaway network namespace.
#
#   make e2e                          (= BUILD=build tests/e2e/run.sh, as root)
#   E2E_QUICK=1 tests/e2e/run.sh      checks 1, 2 and 5 only (one guest)
#
# Environment:
#   BUILD=build        where build/taplinkd, build/taplinkctl are; guest in $BUILD/e2e
#   E2E_QUICK=1        one guest: ping, TCP both ways, cleanup
#   E2E_ACCEL=kvm|tcg  skip the KVM probe (default: try kvm for real, else tcg)
#   E2E_MANUAL=1       no daemon: the runner opens the TAP itself (helper.py tap)
#                      and loads the daemon's table itself (docs/DESIGN.md,
#                      "The nftables layout"); for working on the test
#                      without the daemon (no taplinkctl list, no IPv6)
#   E2E_ONLY="..."     a subset of the scenarios vnet novnet mq pair dhcp clone
#   E2E_CTL=py         use helper.py's stand-in for taplinkctl (same Varlink
#                      calls and TAPLINK_* environment)
#   E2E_KEEP=1         keep the temporary directory
#   E2E_VERBOSE=1      print every guest console line as it comes
#
# Layout (all inside namespaces made here and deleted on every exit path):
#   netns $NS   taplinkd (config: unique nft_table, allow_groups = taplink),
#               the TAPs, the host-side peers (helper.py), WAN 198.51.100.1/24
#   netns $INET "the internet": 198.51.100.2 on the veth, 203.0.113.7 on lo;
#               no route back to the guests' pool, so only masqueraded
#               traffic gets answers
#   netns tlN   a clone slot's (check 9), bind-mounted at /run/netns/tlN in
#               the daemon's own mount namespace only
# QEMU runs as the unprivileged user taplink-e2e (group taplink), created here
# when missing (useradd --system).
#
# Checks (each "E2E check <name> PASS|FAIL <detail>", then a summary; exit 1
# if any failed):
#   1 ping: the guest pings its gateway, the host pings the guest
#   2 TCP both ways, 1 MiB random payloads compared by md5
#   3 two guests: each reaches its gateway, neither the other; a guest that
#     takes the other's address is dropped (input and forward)
#   4 egress through the masquerade to "the internet", which sees the WAN address
#     (and IPv6: the guest pings its gateway's IPv6 address, the host the guest's)
#   5 after QEMU exits: no slot (taplinkctl list), no device (ip link), no set
#     element (nft list set) left
#   6 vnet header on and off (--no-vnet-hdr), and --queues 2 (fds=3:4, mq=on)
#   8 a guest with egress public (scenario novnet) reaches "the internet" but
#     not a private address there (which the host reaches), and its busybox
#     httpd, published on a host port, serves "the internet"
#   7 a guest booted without ip= (scenario dhcp, --mtu 1400): busybox udhcpc
#     gets the slot's guest address and prefix, the default route via the
#     gateway, the slot's MTU, the configured nameserver and search domain
#     from the daemon (SPEC section 9), and the guest's kernel takes the
#     daemon's RA: default route via the TAP's link-local address, no SLAAC
#     address; then checks 1, 2 and 5 as for any guest. The other
#     scenarios keep booting with ip=.
#   9 two guests restored "from one snapshot" (scenario clone): each on a
#     clone slot of its own (taplinkctl run --clone), both booted with the
#     same ip=169.254.0.21::169.254.0.22:255.255.255.252::eth0:off (the
#     slot's TAPLINK_KERNEL_IP_ARG) and the same MAC; both fetch a file of
#     their own from "the internet" at the same time (its server answers
#     only once both asked) and each gets its own (md5); the host's
#     conntrack shows the two flows from the two slots' guest addresses
#     (B4+2), "the internet" two source ports of the WAN address
#     (masquerade); after QEMU exits no slot, device, element, namespace,
#     bind mount or namespace id is left. The daemon runs with [clone]
#     enabled in a mount namespace of its own with a tmpfs on /run/netns:
#     its bind mounts never reach the host's /run/netns.
# Figures: boot-to-network (QEMU exec -> the guest has configured eth0 and its
# gateway answered), throughput of 64 MiB HTTP transfers both ways, with and
# without the vnet header, in MB/s (10^6 bytes per second); and the novnet
# guest's 64 MiB fetched from "the internet" routed (no NAT) and through its
# published port (DNAT), one after the other.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
QUICK=${E2E_QUICK:-0}
MANUAL=${E2E_MANUAL:-0}
VERBOSE=${E2E_VERBOSE:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
HELPER="$HERE/helper.py"
E2E_USER=taplink-e2e
E2E_GROUP=taplink
WAN_ADDR=198.51.100.1
WAN_PEER=198.51.100.2
INET_ADDR=203.0.113.7
PRIVATE_ADDR=10.99.0.7 # in "the internet" too, but private: egress public never reaches it
PUBLISHED_PORT=20080   # the novnet guest's httpd, published (check 8)
CLONE_MIB=4            # what each clone fetches from "the internet" (check 9)
BIG_MIB=64
# What the daemon hands out to guests over DHCP and RAs ([guest]):
# documentation addresses, never used for traffic.
GUEST_DNS4=192.0.2.53
GUEST_DNS6=2001:db8::53
GUEST_DOMAIN=e2e.example
DHCP_MTU=1400

T0_MS=$(date +%s%3N)
now_ms() { date +%s%3N; }
say() { echo "e2e: $*"; }
die() { echo "e2e: FATAL: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root (it makes network namespaces, a user, and starts taplinkd)"

# --- dependencies, binaries, guest ------------------------------------------
"$HERE/deps.sh" || die "tests/e2e/deps.sh failed"
guest=$("$HERE/build-guest.sh" | tail -n 1) || die "build-guest.sh failed"
KERNEL=${guest% *}
INITRD=${guest#* }
CTL=$BUILD/taplinkctl
DAEMON=$BUILD/taplinkd
if [ "$MANUAL" != 1 ]; then
    [ -x "$DAEMON" ] || die "$DAEMON missing (make all)"
    [ -x "$CTL" ] || [ "${E2E_CTL:-}" = py ] || die "$CTL missing (make all; or E2E_CTL=py)"
fi

# --- the unprivileged user ------------------------------------------------------
getent group "$E2E_GROUP" >/dev/null || groupadd --system "$E2E_GROUP" || die "groupadd $E2E_GROUP"
if ! id "$E2E_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        -G "$E2E_GROUP" "$E2E_USER" || die "useradd $E2E_USER"
fi
id -nG "$E2E_USER" | tr ' ' '\n' | grep -qx "$E2E_GROUP" ||
    usermod -a -G "$E2E_GROUP" "$E2E_USER" || die "usermod $E2E_USER"
# Where /dev/kvm belongs to a group (Debian: kvm, mode 0660), QEMU's user may
# use it; a root-only /dev/kvm stays so, and the run falls back to TCG.
kvm_group=$(stat -c %G /dev/kvm 2>/dev/null || true)
if [ -n "$kvm_group" ] && [ "$kvm_group" != root ] && [ "$kvm_group" != UNKNOWN ] &&
    ! id -nG "$E2E_USER" | tr ' ' '\n' | grep -qx "$kvm_group"; then
    usermod -a -G "$kvm_group" "$E2E_USER" || say "could not add $E2E_USER to $kvm_group"
fi
E2E_UID=$(id -u "$E2E_USER")
E2E_GID=$(id -g "$E2E_USER")
as_user() { setpriv --reuid="$E2E_UID" --regid="$E2E_GID" --init-groups "$@"; }

# --- scratch space, namespaces, cleanup ------------------------------------------
T=""
NS=tle2e-$$
INET=tle2e-inet-$$
TABLE=taplinkd_e2e_$$
LOGDIR=$BUILD/e2e/logs
PIDS=""
DAEMON_PID=""

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    if [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$DAEMON_PID" 2>/dev/null && echo "e2e: taplinkd still running 5 s after SIGTERM" >&2
    fi
    sleep 0.3
    # Whatever is still inside our own namespaces was started by this run.
    for p in $PIDS $DAEMON_PID $(ip netns pids "$NS" 2>/dev/null) \
             $(ip netns pids "$INET" 2>/dev/null); do
        kill -9 "$p" 2>/dev/null
    done
    # A process stuck in the kernel (D state) dies only when it leaves it.
    for _ in $(seq 100); do
        [ -z "$(ip netns pids "$NS" 2>/dev/null)$(ip netns pids "$INET" 2>/dev/null)" ] && break
        sleep 0.1
    done
    for p in $PIDS $DAEMON_PID; do wait "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    ip netns del "$INET" 2>/dev/null
    if [ -n "$T" ]; then
        rm -rf "$LOGDIR"
        mkdir -p "$LOGDIR"
        cp "$T"/*.log "$T"/*.conf "$LOGDIR"/ 2>/dev/null
        if [ "${E2E_KEEP:-0}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T=$(mktemp -d /tmp/taplink-e2e.XXXXXX) || die mktemp
chmod 0755 "$T"
SOCK=$T/io.taplinkd
# What runs as $E2E_USER is copied here: the work tree may sit where that user
# cannot reach it (under /root, say).
mkdir -p "$T/bin"
cp "$HERE/qemu-wrap.sh" "$KERNEL" "$INITRD" "$T/bin/" || die "cannot copy the guest to $T"
KERNEL=$T/bin/${KERNEL##*/}
INITRD=$T/bin/${INITRD##*/}
WRAP=$T/bin/qemu-wrap.sh
if [ -x "$CTL" ]; then
    cp "$CTL" "$T/bin/taplinkctl" || die "cannot copy $CTL"
    CTL=$T/bin/taplinkctl
fi
chmod -R a+rX "$T/bin"

nsx() { ip netns exec "$NS" "$@"; }
inx() { ip netns exec "$INET" "$@"; }
bg_ns() { # netns cmd... -> starts it in the background, remembers its pid
    local ns=$1
    shift
    ip netns exec "$ns" "$@" &
    LAST_PID=$!
    PIDS="$PIDS $LAST_PID"
}

ip netns add "$NS" || die "ip netns add $NS"
ip netns add "$INET" || die "ip netns add $INET"
nsx ip link set lo up
inx ip link set lo up
# rp_filter off: anti-spoofing must be the daemon's nft rules, not the routing
# code's reverse-path check (which would drop the spoofed packets first).
for k in all default; do
    nsx sysctl -qw "net.ipv4.conf.$k.rp_filter=0"
done
nsx ip link add e2e-up type veth peer name e2e-wan netns "$INET" || die "veth"
nsx ip addr add "$WAN_ADDR/24" dev e2e-up
nsx ip link set e2e-up up
nsx ip route add default via "$WAN_PEER"
inx ip addr add "$WAN_PEER/24" dev e2e-wan
inx ip link set e2e-wan up
inx ip addr add "$INET_ADDR/32" dev lo
inx ip addr add "$PRIVATE_ADDR/32" dev lo

# --- results ---------------------------------------------------------------------
RESULTS=$T/results
: > "$RESULTS"
record() { # name PASS|FAIL|SKIP detail...
    local n=$1 r=$2
    shift 2
    echo "E2E check $n $r $*" | tee -a "$RESULTS"
}
declare -A FIG

# --- accelerator ---------------------------------------------------------------
ACCEL_NOTE=""
probe_accel() {
    if [ -n "${E2E_ACCEL:-}" ]; then
        ACCEL=$E2E_ACCEL
        ACCEL_NOTE="from E2E_ACCEL"
        return
    fi
    ACCEL=tcg
    if [ ! -e /dev/kvm ]; then
        ACCEL_NOTE="no /dev/kvm"
        return
    fi
    # A real boot, as the user that runs QEMU: /dev/kvm may open and still not
    # run a guest (nested virtualisation without vmx/svm hangs in the BIOS).
    local log=$T/kvm-probe.log pid end
    as_user qemu-system-x86_64 -accel kvm -cpu host -m 128 -nographic -no-reboot -nodefaults \
        -serial stdio -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=ttyS0 quiet panic=-1 e2e.name=probe e2e.timeout=5" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    end=$(($(now_ms) + 15000))
    while [ "$(now_ms)" -lt "$end" ] && kill -0 $pid 2>/dev/null; do
        grep -aq 'E2E-BOOT probe' "$log" && break
        sleep 0.1
    done
    if grep -aq 'E2E-BOOT probe' "$log"; then
        ACCEL=kvm
        ACCEL_NOTE="kvm boots a guest"
    elif grep -aqi 'permission denied' "$log"; then
        ACCEL_NOTE="kvm: /dev/kvm not usable by $E2E_USER ($(grep -ai -m1 'kvm' "$log" | tr -d '\r'))"
    elif kill -0 $pid 2>/dev/null; then
        ACCEL_NOTE="kvm: the probe guest did not boot in 15 s"
    else
        ACCEL_NOTE="kvm: $(grep -a -m1 -i 'kvm\|error' "$log" | tr -d '\r')"
    fi
    kill $pid 2>/dev/null
    wait $pid 2>/dev/null
}
probe_accel
say "accel=$ACCEL ($ACCEL_NOTE)"
if [ "$ACCEL" = kvm ]; then SLOW=1; else SLOW=4; fi

# --- the daemon ----------------------------------------------------------------------
cat > "$T/taplinkd.conf" <<EOF
[daemon]
ifname_prefix = tl
nft_table = $TABLE
forward_ipv4 = yes
[network]
ipv4_pool = 10.213.0.0/16
ipv4_prefix = 30
ipv6 = yes
ipv6_pool = fd74:6c00::/48
ipv6_prefix = 64
masquerade = yes
[access]
allow_groups = $E2E_GROUP
[guest]
dns_servers = $GUEST_DNS4, $GUEST_DNS6
dns_search = $GUEST_DOMAIN
[clone]
enabled = yes
EOF
CTLCMD=("$CTL" --socket "$SOCK")
# E2E_CTL=py: helper.py's stand-in for taplinkctl (same calls, same environment).
[ "${E2E_CTL:-}" = py ] && CTLCMD=("$PY" "$HELPER" ctl --socket "$SOCK")
if [ "$MANUAL" = 1 ]; then
    # Stand-in for the daemon's firewall: its table (docs/DESIGN.md, "The
    # nftables layout"), IPv4 only, elements added by
    # launch(). Lets the isolation/spoofing/egress checks be tried without it.
    nsx sysctl -qw net.ipv4.ip_forward=1
    nsx nft -f - <<EOF || die "nft: cannot load the stand-in table"
table inet $TABLE {
  set slots_v4  { type ipv4_addr; }
  set guests_v4 { type ifname . ipv4_addr; }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "tl*" iifname . ip saddr != @guests_v4 drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tl*" iifname . ip saddr != @guests_v4 drop
    ip saddr & 255.255.255.252 @slots_v4 ip daddr & 255.255.255.252 @slots_v4 drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr & 255.255.255.252 @slots_v4 ip daddr & 255.255.255.252 != @slots_v4 masquerade
  }
}
EOF
else
    # Its clone slots' bind mounts go to a /run/netns of its own (a tmpfs
    # in a private mount namespace), never to the host's. The pid stays
    # the daemon's through the execs.
    ip netns exec "$NS" unshare -m --propagation private sh -c \
        'mount -t tmpfs -o mode=0755,size=1m tle2e-netns /run/netns && exec "$@"' sh \
        "$DAEMON" --config "$T/taplinkd.conf" --socket "$SOCK" >"$T/taplinkd.log" 2>&1 &
    DAEMON_PID=$!
    # Generous: rtnl_lock can be held for seconds while the kernel tears down
    # other network namespaces (seen on a busy 2-core machine).
    end=$(($(now_ms) + 30000))
    until nsx "${CTLCMD[@]}" status >/dev/null 2>&1; do
        kill -0 $DAEMON_PID 2>/dev/null || { cat "$T/taplinkd.log"; die "taplinkd exited"; }
        [ "$(now_ms)" -lt "$end" ] || { cat "$T/taplinkd.log"; die "taplinkd not answering in 30 s"; }
        sleep 0.1
    done
    say "taplinkd up: $(nsx "${CTLCMD[@]}" status 2>&1 | tr '\n' ' ')"
fi

# --- host-side peers ---------------------------------------------------------------------
# E2E_ONLY="vnet novnet mq pair dhcp clone": a subset, for working on one of them.
ONLY=${E2E_ONLY:-vnet novnet mq pair dhcp clone}
[ "$QUICK" = 1 ] && ONLY=vnet
wanted() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
mkdir -p "$T/www"
"$PY" "$HELPER" mkfile "$T/www/big" "$BIG_MIB"
"$PY" "$HELPER" mkfile "$T/payload.host" 1
HOST_MD5=$(md5sum < "$T/payload.host" | cut -d' ' -f1)
bg_ns "$NS" "$PY" "$HELPER" http "$T/www" 8000
bg_ns "$NS" "$PY" "$HELPER" udplog 6969 "$T/udp-host.log"
bg_ns "$INET" "$PY" "$HELPER" peer 7000 "$T/inet-peer.log"
bg_ns "$INET" "$PY" "$HELPER" udplog 6969 "$T/udp-inet.log"
touch "$T/udp-host.log" "$T/udp-inet.log" "$T/inet-peer.log"
if wanted clone; then
    # Check 9: a file of each clone's own, answered once both asked.
    mkdir -p "$T/inet-www"
    for n in ca cb; do "$PY" "$HELPER" mkfile "$T/inet-www/clone-$n" "$CLONE_MIB"; done
    : > "$T/inet-together.log"
    bg_ns "$INET" "$PY" "$HELPER" together "$T/inet-www" 8080 2 "$T/inet-together.log"
fi

# --- guests --------------------------------------------------------------------------------
MANUAL_SLOT=0
declare -A QPID GLOG
# launch NAME STEPS MEM SMP [taplinkctl run options...]
launch() {
    local name=$1 steps=$2 mem=$3 smp=$4
    shift 4
    local log=$T/guest-$name.log
    GLOG[$name]=$log
    : > "$log"
    local envs=(E2E_ACCEL="$ACCEL" E2E_KERNEL="$KERNEL" E2E_INITRD="$INITRD"
        E2E_MEM="$mem" E2E_SMP="$smp" E2E_DHCP="${DHCP:-0}"
        E2E_APPEND="e2e.name=$name e2e.steps=$steps e2e.inet=$INET_ADDR e2e.private=$PRIVATE_ADDR e2e.timeout=$((150 * SLOW))")
    [ -n "${GUEST_MAC:-}" ] && envs+=(E2E_MAC="$GUEST_MAC")
    if [ "$MANUAL" = 1 ]; then
        # Stand-in for taplinkctl run: slot numbers and addresses as the
        # daemon derives them (docs/DESIGN.md, "Slots and addresses").
        local s=$MANUAL_SLOT q=1 vnet=1 a
        MANUAL_SLOT=$((s + 1))
        for a in "$@"; do
            case $a in --no-vnet-hdr) vnet=0 ;; --queues=*) q=${a#*=} ;; esac
        done
        [ "${1:-}" = --queues ] && q=$2
        local mac
        mac=$(printf '02:74:6c:%02x:%02x:%02x' $((s >> 16 & 255)) $((s >> 8 & 255)) $((s & 255)))
        local b=$((s * 4))
        local g4=10.213.$((b >> 8)).$(((b & 255) + 2)) gw4=10.213.$((b >> 8)).$(((b & 255) + 1))
        envs+=(TAPLINK_SLOT=$s TAPLINK_IFNAME=tl$s TAPLINK_MAC=$mac
            TAPLINK_IPV4_GUEST=$g4 TAPLINK_IPV4_GATEWAY=$gw4 TAPLINK_IPV4_PREFIX=30
            TAPLINK_KERNEL_IP_ARG="ip=$g4::$gw4:255.255.255.252::eth0:off"
            E2E_TAP_HOSTMAC="06${mac#02}" E2E_TAP_GW="$gw4/30")
        nsx nft add element inet "$TABLE" slots_v4 "{ 10.213.$((b >> 8)).$((b & 255)) }"
        nsx nft add element inet "$TABLE" guests_v4 "{ tl$s . $g4 }"
        bg_ns "$NS" env "${envs[@]}" "$PY" "$HELPER" tap "tl$s" "$q" "$vnet" -- \
            setpriv --reuid="$E2E_UID" --regid="$E2E_GID" --init-groups "$WRAP" \
            </dev/null >"$log" 2>&1
    else
        bg_ns "$NS" setpriv --reuid="$E2E_UID" --regid="$E2E_GID" --init-groups \
            env "${envs[@]}" "${CTLCMD[@]}" run "$@" -- "$WRAP" \
            </dev/null >"$log" 2>&1
    fi
    QPID[$name]=$LAST_PID
    if [ "$VERBOSE" = 1 ]; then
        tail -n +1 -F --pid="$LAST_PID" "$log" 2>/dev/null | sed -u "s/^/[$name] /" &
        PIDS="$PIDS $!"
    fi
}

# wait_for NAME REGEX SECONDS -> the first matching console line (CR stripped);
# fails at the timeout, or as soon as the guest's QEMU is gone without it.
wait_for() {
    local name=$1 re=$2 secs=$3 log=${GLOG[$1]} pid=${QPID[$1]} line end alive=1
    end=$(($(now_ms) + secs * 1000))
    while :; do
        line=$(tr -d '\r' < "$log" | grep -a -m1 -E -- "$re") && { echo "$line"; return 0; }
        [ $alive = 0 ] && return 1
        kill -0 "$pid" 2>/dev/null || alive=0 # one more look after it exits
        [ "$(now_ms)" -lt "$end" ] || return 1
        [ $alive = 1 ] && sleep 0.05
    done
}
# genv NAME VAR -> the TAPLINK_* value the wrapper echoed
genv() { tr -d '\r' < "${GLOG[$1]}" | sed -n "s/^E2E-HOST $2=//p" | head -n 1; }
# ginfo NAME KEY -> the value of "E2E-INFO NAME KEY value"
ginfo() { tr -d '\r' < "${GLOG[$1]}" | sed -n "s/^E2E-INFO $1 $2 //p" | head -n 1; }
# guest_checks NAME: the guest's own E2E-CHECK lines so far, recorded once
guest_checks() {
    local n r d
    tr -d '\r' < "${GLOG[$1]}" | grep -a '^E2E-CHECK ' | while read -r _ n r d; do
        grep -q "^E2E check $1.$n " "$RESULTS" || record "$1.$n" "$r" "$d"
    done
}
tail_log() { tr -d '\r' < "${GLOG[$1]}" | grep -av '^$' | tail -n "${2:-15}" | sed "s/^/    [$1] /"; }

# state NAME -> helper.py state for the guest's slot
state() {
    local g6=- ctl=()
    [ -n "${G_V6[$1]:-}" ] && g6=${G_V6[$1]}/64
    [ "$MANUAL" = 1 ] || ctl=("${CTLCMD[@]}" --json)
    nsx "$PY" "$HELPER" state "$TABLE" "${G_IF[$1]}" "${G_SLOT[$1]}" "${G_V4[$1]}/${G_PFX[$1]}" \
        "$g6" -- "${ctl[@]}"
}
declare -A G_SLOT G_IF G_V4 G_GW G_PFX G_V6 G_MAC G_T0

# started NAME: wait for the slot to be handed over, then READY; record the
# boot figures. Returns 1 when the guest never got its network.
started() {
    local name=$1 line t_ready
    if ! wait_for "$name" '^E2E-HOST qemu-exec ' $((10 * SLOW)) >/dev/null; then
        record "$name.launch" FAIL "no QEMU started: $(tail_log "$name" 5 | tr '\n' ' ')"
        return 1
    fi
    G_SLOT[$name]=$(genv "$name" TAPLINK_SLOT)
    G_IF[$name]=$(genv "$name" TAPLINK_IFNAME)
    G_V4[$name]=$(genv "$name" TAPLINK_IPV4_GUEST)
    G_GW[$name]=$(genv "$name" TAPLINK_IPV4_GATEWAY)
    G_PFX[$name]=$(genv "$name" TAPLINK_IPV4_PREFIX)
    G_V6[$name]=$(genv "$name" TAPLINK_IPV6_GUEST)
    G_MAC[$name]=$(genv "$name" TAPLINK_MAC)
    G_T0[$name]=$(tr -d '\r' < "${GLOG[$name]}" | sed -n 's/^E2E-HOST qemu-exec ms=\([0-9]*\).*/\1/p')
    record "$name.launch" PASS "slot=${G_SLOT[$name]} ifname=${G_IF[$name]} guest=${G_V4[$name]} gw=${G_GW[$name]} $(genv "$name" TAPLINK_KERNEL_IP_ARG)"
    if ! line=$(wait_for "$name" '^TAPLINK-E2E-READY ' $((60 * SLOW))); then
        record "$name.ready" FAIL "no READY marker"
        tail_log "$name"
        return 1
    fi
    t_ready=$(now_ms)
    FIG[boot_$name]=$((t_ready - G_T0[$name]))
    say "$name: network up ${FIG[boot_$name]} ms after QEMU exec ($line)"
    return 0
}

host_ping() { # name
    local out
    if out=$(nsx ping -c 3 -i 0.2 -W 10 "${G_V4[$1]}" 2>&1); then
        record "$1.host_ping_guest" PASS "$(echo "$out" | grep -a 'packets transmitted')"
    else
        record "$1.host_ping_guest" FAIL "$(echo "$out" | tail -n 2 | tr '\n' ' ')"
    fi
}

live_state() { # name expect-vnet expect-queues
    local st
    st=$(state "$1")
    local want="link=1 slots_v4=1 guests_v4=1"
    [ "$MANUAL" = 1 ] || want="list=1 $want"
    local ok=1 w
    for w in $want vnet_hdr=$2 numqueues=$3; do
        case " $st " in *" $w "*) ;; *) ok=0 ;; esac
    done
    if [ $ok = 1 ]; then record "$1.slot_live" PASS "$st"; else record "$1.slot_live" FAIL "want $want vnet_hdr=$2 numqueues=$3, got $st"; fi
}

# finished NAME: QEMU exits by itself; then check 5 (nothing left behind)
finished() {
    local name=$1 pid=${QPID[$1]} end st rc
    end=$(($(now_ms) + 30000 * SLOW))
    while kill -0 "$pid" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        record "$name.qemu_exit" FAIL "still running after $((30 * SLOW)) s; killed"
        kill "$pid" 2>/dev/null
        sleep 1
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    if wait_for "$name" '^E2E-POWEROFF done' 1 >/dev/null; then
        record "$name.qemu_exit" PASS "guest powered off, exit status $rc"
    else
        record "$name.qemu_exit" FAIL "exit status $rc without the guest's E2E-POWEROFF done"
        tail_log "$name"
    fi
    [ -n "${G_IF[$name]:-}" ] || return
    # The daemon cleans up on RTM_DELLINK: wait for it (a ceiling; it takes
    # well under a second even on a loaded machine).
    end=$(($(now_ms) + 30000))
    while :; do
        st=$(state "$name")
        case " $st " in *=1*) ;; *) break ;; esac
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.1
    done
    if [ "$MANUAL" = 1 ]; then
        # No daemon to remove the elements: only the device is checked, and
        # the elements are removed here for the next guests.
        st=$(echo "$st" | sed 's/ *\(slots\|guests\)_v[46]=[^ ]*//g')
        local b=$((G_SLOT[$name] * 4))
        nsx nft delete element inet "$TABLE" slots_v4 "{ 10.213.$((b >> 8)).$((b & 255)) }"
        nsx nft delete element inet "$TABLE" guests_v4 "{ ${G_IF[$name]} . ${G_V4[$name]} }"
    fi
    case " $st " in
        *=1*) record "$name.cleanup" FAIL "left behind: $st" ;;
        *"=?"*) record "$name.cleanup" FAIL "could not look: $st" ;;
        *) record "$name.cleanup" PASS "$st" ;;
    esac
}

# dhcp_checks NAME MTU: check 7, what the guest's udhcpc and kernel took
# from the daemon (its E2E-INFO NAME dhcp_* and ra_* lines) against the
# slot taplinkctl reported.
dhcp_checks() {
    local name=$1 mtu=$2 got ll
    trimmed() { ginfo "$1" "$2" | sed 's/ *$//'; }
    got=$(trimmed "$name" dhcp_addr)
    if [ "$got" = "${G_V4[$name]}/${G_PFX[$name]}" ]; then
        record "$name.dhcp_address" PASS "eth0 $got after $(ginfo "$name" dhcp_ms) ms"
    else
        record "$name.dhcp_address" FAIL "eth0 has '$got', the slot's guest is ${G_V4[$name]}/${G_PFX[$name]}"
    fi
    got=$(trimmed "$name" dhcp_route)
    case "$got" in
        "default via ${G_GW[$name]} dev eth0"*) record "$name.dhcp_route" PASS "$got" ;;
        *) record "$name.dhcp_route" FAIL "'$got', want default via ${G_GW[$name]} dev eth0" ;;
    esac
    got=$(trimmed "$name" dhcp_mtu)
    if [ "$got" = "$mtu" ]; then
        record "$name.dhcp_mtu" PASS "eth0 mtu $got (option 26)"
    else
        record "$name.dhcp_mtu" FAIL "eth0 mtu '$got', the slot's is $mtu"
    fi
    got=$(trimmed "$name" dhcp_resolv)
    if [ "$got" = "search $GUEST_DOMAIN;nameserver $GUEST_DNS4;" ]; then
        record "$name.dhcp_dns" PASS "resolv.conf: $got"
    else
        record "$name.dhcp_dns" FAIL "resolv.conf: '$got', want search $GUEST_DOMAIN, nameserver $GUEST_DNS4"
    fi
    got=$(trimmed "$name" dhcp_lease)
    case "$got" in
        *"serverid='${G_GW[$name]}'"*"lease='86400'"*) record "$name.dhcp_lease" PASS "$got" ;;
        *) record "$name.dhcp_lease" FAIL "'$got', want serverid ${G_GW[$name]}, lease 86400" ;;
    esac
    if [ -n "${G_V6[$name]}" ]; then
        ll=$("$PY" "$HELPER" linklocal "06${G_MAC[$name]#02}")
        got=$(trimmed "$name" ra_route6)
        case "$got" in
            "default via $ll dev eth0"*) record "$name.ra_route6" PASS "$got" ;;
            *) record "$name.ra_route6" FAIL "'$got', want default via $ll dev eth0 (the TAP's link-local)" ;;
        esac
        got=$(trimmed "$name" ra_addr6)
        if [ -z "$got" ]; then
            record "$name.ra_no_slaac" PASS "no global IPv6 address made up (autonomous flag off)"
        else
            record "$name.ra_no_slaac" FAIL "global IPv6 addresses: $got"
        fi
    fi
}

mbps() { # bytes milliseconds -> MB/s
    awk -v b="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.1f", b / 1e6 / (ms / 1000); else print "?" }'
}

# --- scenario: one guest, traffic both ways ------------------------------------------
# basic NAME LABEL STEPS VNET QUEUES MEM SMP [taplinkctl run options...]
basic() {
    local name=$1 label=$2 steps=$3 vnet=$4 queues=$5 mem=$6 smp=$7
    shift 7
    local run_opts="$*"
    say "--- $name: steps=$steps $*"
    local t_sc=$(now_ms)
    rm -f "$T/sink-$name" "$T/sink-$name.done"
    bg_ns "$NS" "$PY" "$HELPER" sink 5002 "$T/sink-$name"
    local sinkpid=$LAST_PID
    launch "$name" "$steps" "$mem" "$smp" "$@"
    if started "$name"; then
        guest_checks "$name"
        [ "${DHCP:-0}" = 1 ] && dhcp_checks "$name" "$DHCP_MTU"
        live_state "$name" "$vnet" "$queues"
        host_ping "$name"
        local g=${G_V4[$name]} line sum got
        if [ "$queues" -gt 1 ]; then
            line=$(tr -d '\r' < "${GLOG[$name]}" | sed -n "s/^E2E-INFO $name queues //p" | head -n 1)
            case $line in
                "rx=$queues tx=$queues"*) record "$name.guest_queues" PASS "guest eth0: $line" ;;
                *) record "$name.guest_queues" FAIL "guest eth0: ${line:-unknown}" ;;
            esac
        fi
        case ",$steps," in *,ping6,*)
            if [ -n "${G_V6[$name]}" ]; then
                if wait_for "$name" "^E2E-CHECK ping6_gateway " $((30 * SLOW)) >/dev/null; then
                    guest_checks "$name"
                else
                    record "$name.ping6_gateway" FAIL "no result from the guest"
                fi
                local out6
                if out6=$(nsx ping -6 -c 3 -i 0.2 -W 10 "${G_V6[$name]}" 2>&1); then
                    record "$name.host_ping6_guest" PASS "$(echo "$out6" | grep -a 'packets transmitted')"
                else
                    record "$name.host_ping6_guest" FAIL "$(echo "$out6" | tail -n 2 | tr '\n' ' ')"
                fi
            fi
            ;;
        esac
        case ",$steps," in *,tcp,*)
            if line=$(wait_for "$name" "^E2E-INFO $name sent_md5 " $((60 * SLOW))); then
                sum=$(echo "$line" | awk '{ print $4 }')
                # A ceiling: the sink is done within a second of the send.
                end=$(($(now_ms) + 60000))
                while [ ! -e "$T/sink-$name.done" ] && [ "$(now_ms)" -lt "$end" ]; do sleep 0.1; done
                got=$(cat "$T/sink-$name.done" 2>/dev/null)
                if [ -n "$sum" ] && [ "${got%% *}" = "$sum" ]; then
                    record "$name.tcp_guest_to_host" PASS "1 MiB, md5 $sum"
                else
                    record "$name.tcp_guest_to_host" FAIL "guest sent ${sum:-?}, host got ${got:-nothing}"
                fi
            else
                record "$name.tcp_guest_to_host" FAIL "the guest did not report sending"
            fi
            ;;
        esac
        case ",$steps," in *,fetch,*)
            if line=$(wait_for "$name" "^E2E-INFO $name fetch_ms " $((120 * SLOW))); then
                local ms=${line##* }
                if [ "$ms" != failed ]; then
                    FIG[h2g_$label]=$(mbps $((BIG_MIB * 1048576)) "$ms")
                    record "$name.http_host_to_guest" PASS "$BIG_MIB MiB in $ms ms = ${FIG[h2g_$label]} MB/s"
                else
                    record "$name.http_host_to_guest" FAIL "the guest's wget failed"
                fi
            else
                record "$name.http_host_to_guest" FAIL "no result from the guest"
            fi
            ;;
        esac
        case ",$steps," in *,policy,*)
            # check 8: egress public. The control: the private address
            # answers the host itself.
            if nsx "$PY" -c 'import socket, sys; print(socket.create_connection((sys.argv[1], 7000), 10).recv(64).decode())' \
                "$PRIVATE_ADDR" 2>&1 | grep -q '^peer='; then
                record "$name.policy_control" PASS "the host reaches $PRIVATE_ADDR:7000"
            else
                record "$name.policy_control" FAIL "the host does not reach $PRIVATE_ADDR:7000"
            fi
            if wait_for "$name" "^E2E-CHECK policy_private " $((60 * SLOW)) >/dev/null; then
                guest_checks "$name"
            else
                record "$name.policy_private" FAIL "no result from the guest"
            fi
            ;;
        esac
        case ",$steps," in *,egress,*)
            if wait_for "$name" "^E2E-INFO $name egress_reply " $((60 * SLOW)) >/dev/null; then
                guest_checks "$name"
                local reply
                reply=$(ginfo "$name" egress_reply)
                if [ "$reply" = "peer=$WAN_ADDR" ] && grep -qx "$WAN_ADDR" "$T/inet-peer.log" &&
                    ! grep -q "^${G_V4[$name]}\$" "$T/inet-peer.log"; then
                    record "$name.egress_masquerade" PASS "the far side saw $WAN_ADDR, not ${G_V4[$name]}"
                else
                    record "$name.egress_masquerade" FAIL "guest got '${reply}', far side log: $(tr '\n' ' ' < "$T/inet-peer.log")"
                fi
            else
                record "$name.egress_masquerade" FAIL "no egress result from the guest"
            fi
            ;;
        esac
        case ",$steps," in *,serve,*)
            if wait_for "$name" "^E2E-SERVING $name" $((60 * SLOW)) >/dev/null; then
                # host -> guest: our payload to the guest's sink
                if nsx "$PY" "$HELPER" send "$g" 5001 "$T/payload.host" 30; then
                    line=$(wait_for "$name" "^E2E-INFO $name recv_md5 " $((30 * SLOW)))
                    sum=$(echo "$line" | awk '{ print $4 }')
                    if [ "$sum" = "$HOST_MD5" ]; then
                        record "$name.tcp_host_to_guest" PASS "1 MiB, md5 $sum"
                    else
                        record "$name.tcp_host_to_guest" FAIL "host sent $HOST_MD5, guest got ${sum:-nothing}"
                    fi
                else
                    record "$name.tcp_host_to_guest" FAIL "cannot send to $g:5001"
                fi
                # guest -> host: the guest's payload over HTTP
                sum=$(ginfo "$name" payload_md5)
                got=$(nsx "$PY" "$HELPER" fetch "http://$g/payload" 30 2>&1)
                if [ -n "$sum" ] && [ "${got##* }" = "$sum" ]; then
                    record "$name.http_guest_to_host" PASS "1 MiB, md5 $sum"
                else
                    record "$name.http_guest_to_host" FAIL "guest has ${sum:-?}, host got: $got"
                fi
                if [ "$QUICK" != 1 ]; then
                    got=$(nsx "$PY" "$HELPER" fetch "http://$g/big" $((60 * SLOW)) 2>&1)
                    set -- $got
                    if [ "${1:-0}" = $((BIG_MIB * 1048576)) ]; then
                        FIG[g2h_$label]=$(awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }')
                        record "$name.http_guest_to_host_big" PASS "$BIG_MIB MiB in ${2}s = ${FIG[g2h_$label]} MB/s"
                    else
                        record "$name.http_guest_to_host_big" FAIL "got: $got"
                    fi
                fi
                case " $run_opts " in *" --publish $PUBLISHED_PORT:80 "*)
                    # check 8: the published port, from another host ("the internet")
                    got=$(inx "$PY" "$HELPER" fetch "http://$WAN_ADDR:$PUBLISHED_PORT/payload" 30 2>&1)
                    if [ -n "$sum" ] && [ "${got##* }" = "$sum" ]; then
                        record "$name.published_port" PASS "http://$WAN_ADDR:$PUBLISHED_PORT/payload from $INET: 1 MiB, md5 $sum"
                    else
                        record "$name.published_port" FAIL "guest has ${sum:-?}, $INET got: $got"
                    fi
                    if [ "$QUICK" != 1 ]; then
                        # The same 64 MiB from "the internet", routed to the
                        # guest (a route there for this once) and through
                        # the published port: the two figures side by side.
                        local how url
                        for how in routed published; do
                            url=http://$WAN_ADDR:$PUBLISHED_PORT/big
                            if [ $how = routed ]; then
                                url=http://$g/big
                                inx ip route add "$g/32" via "$WAN_ADDR"
                            fi
                            got=$(inx "$PY" "$HELPER" fetch "$url" $((60 * SLOW)) 2>&1)
                            [ $how = routed ] && inx ip route del "$g/32" via "$WAN_ADDR"
                            set -- $got
                            if [ "${1:-0}" = $((BIG_MIB * 1048576)) ]; then
                                FIG[${how}_$label]=$(awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }')
                                record "$name.${how}_from_internet_big" PASS "$url: $BIG_MIB MiB in ${2}s = ${FIG[${how}_$label]} MB/s"
                            else
                                record "$name.${how}_from_internet_big" FAIL "$url: got: $got"
                            fi
                        done
                    fi
                    ;;
                esac
                echo done | nsx "$PY" "$HELPER" send "$g" 5020 - 10 ||
                    say "$name: could not tell the guest we are done"
            else
                record "$name.serve" FAIL "the guest never served"
                tail_log "$name"
            fi
            ;;
        esac
    fi
    finished "$name"
    kill "$sinkpid" 2>/dev/null
    say "--- $name: $(( ($(now_ms) - t_sc) / 1000 )) s"
}

# logs_caught_up TAG: sends "mark-TAG" to both UDP loggers, each from its own
# namespace, and waits until both logged it. A logger reads one datagram
# queue in order: whatever reached it before the marker is in its log then.
logs_caught_up() {
    local end
    nsx "$PY" "$HELPER" udpsend 127.0.0.1 6969 "mark-$1"
    inx "$PY" "$HELPER" udpsend 127.0.0.1 6969 "mark-$1"
    end=$(($(now_ms) + 30000))
    until grep -q "mark-$1" "$T/udp-host.log" && grep -q "mark-$1" "$T/udp-inet.log"; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.05
    done
}

# --- scenario: two guests, isolation and anti-spoofing ---------------------------------------
pair() {
    say "--- pair: two guests at once"
    local t_sc=$(now_ms)
    launch pa pair 128 1
    launch pb pair 128 1
    local ok=1 n peer
    started pa || ok=0
    started pb || ok=0
    if [ $ok = 1 ]; then
        for n in pa pb; do
            guest_checks "$n"
            live_state "$n" 1 1
            host_ping "$n"
        done
        echo "peer=${G_V4[pb]}" | nsx "$PY" "$HELPER" send "${G_V4[pa]}" 5020 - 20 || ok=0
        echo "peer=${G_V4[pa]}" | nsx "$PY" "$HELPER" send "${G_V4[pb]}" 5020 - 20 || ok=0
        for n in pa pb; do
            wait_for "$n" "^E2E-ISOLATED $n" $((60 * SLOW)) >/dev/null || ok=0
        done
        for n in pa pb; do
            guest_checks "$n"
        done
        # Controls: datagrams from the guests' own addresses arrive (at the
        # host, and masqueraded at the far side).
        for n in pa pb; do
            if grep -q "^${G_V4[$n]} .*legit-$n" "$T/udp-host.log"; then
                record "$n.datagram_control" PASS "host got legit-$n from ${G_V4[$n]}"
            else
                record "$n.datagram_control" FAIL "host log: $(tr '\n' ';' < "$T/udp-host.log")"
            fi
            if grep -q "^$WAN_ADDR .*legit-$n" "$T/udp-inet.log"; then
                record "$n.datagram_control_egress" PASS "far side got legit-$n from $WAN_ADDR"
            else
                record "$n.datagram_control_egress" FAIL "far side log: $(tr '\n' ';' < "$T/udp-inet.log")"
            fi
        done
        for n in pa pb; do
            echo spoof | nsx "$PY" "$HELPER" send "${G_V4[$n]}" 5020 - 20 || ok=0
        done
        for n in pa pb; do
            wait_for "$n" "^E2E-SPOOFED $n" $((60 * SLOW)) >/dev/null || ok=0
        done
        # Absence means something only once the loggers have caught up with
        # what the guests sent (2 s before E2E-SPOOFED: tftp_mark's run).
        logs_caught_up spoof || record pair.udp_loggers FAIL "a logger did not log its marker in 30 s"
        for n in pa pb; do
            peer=pb
            [ $n = pb ] && peer=pa
            if ! wait_for "$n" "^E2E-SPOOFED $n" 1 >/dev/null; then
                record "$n.antispoof" FAIL "the guest did not get to spoof"
                tail_log "$n"
            elif grep -q "spoof-$n" "$T/udp-host.log"; then
                record "$n.antispoof" FAIL "host got spoof-$n: $(grep "spoof-$n" "$T/udp-host.log" | head -n 1)"
            else
                record "$n.antispoof" PASS "as ${G_V4[$peer]} on ${G_IF[$n]}: dropped before the host"
            fi
            if grep -q "spoof-$n" "$T/udp-inet.log"; then
                record "$n.antispoof_forward" FAIL "far side got spoof-$n: $(grep "spoof-$n" "$T/udp-inet.log" | head -n 1)"
            elif wait_for "$n" "^E2E-SPOOFED $n" 1 >/dev/null; then
                record "$n.antispoof_forward" PASS "as ${G_V4[$peer]}: not forwarded"
            fi
        done
    fi
    finished pa
    finished pb
    say "--- pair: $(( ($(now_ms) - t_sc) / 1000 )) s"
}

# --- scenario: two restored clones, one address, a clone slot each (check 9) ------------------
. "$HERE/clone.sh"

# --- run --------------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    basic vnet vnet tcp,serve 1 1 256 1
else
    if wanted vnet; then
        basic vnet vnet ping6,tcp,fetch,egress,serve 1 1 512 1
    fi
    # novnet also locks its guest down: egress public, port 80 published (check 8).
    wanted novnet && basic novnet novnet tcp,fetch,policy,serve 0 1 512 1 --no-vnet-hdr \
        --egress public --publish "$PUBLISHED_PORT:80"
    wanted mq && basic mq mq tcp,serve 1 2 256 2 --queues 2
    wanted pair && pair
    if wanted clone; then
        if [ "$MANUAL" = 1 ]; then
            say "--- clone: skipped (E2E_MANUAL=1: no daemon to make clone slots)"
        else
            clone
        fi
    fi
    # No ip=: the daemon's DHCP server and RA configure the guest (check 7).
    if wanted dhcp; then
        if [ "$MANUAL" = 1 ]; then
            say "--- dhcp: skipped (E2E_MANUAL=1: no daemon to answer DHCP)"
        else
            DHCP=1 basic dhcp dhcp tcp,serve 1 1 256 1 --mtu "$DHCP_MTU"
        fi
    fi
fi

# --- summary ------------------------------------------------------------------------------------
npass=$(awk '$4 == "PASS"' "$RESULTS" | wc -l)
nfail=$(awk '$4 == "FAIL"' "$RESULTS" | wc -l)
boots=""
for k in "${!FIG[@]}"; do
    case $k in boot_*) boots="$boots ${k#boot_}=${FIG[$k]}" ;; esac
done
echo
echo "E2E accel=$ACCEL ($ACCEL_NOTE) boot_to_network_ms=${FIG[boot_vnet]:-?} (each guest:$boots)"
cat "$RESULTS"
if [ "$QUICK" != 1 ]; then
    echo "E2E throughput host_to_guest_vnet=${FIG[h2g_vnet]:-?} MB/s guest_to_host_vnet=${FIG[g2h_vnet]:-?} MB/s host_to_guest_novnet=${FIG[h2g_novnet]:-?} MB/s guest_to_host_novnet=${FIG[g2h_novnet]:-?} MB/s internet_to_guest_routed_novnet=${FIG[routed_novnet]:-?} MB/s internet_to_guest_published_novnet=${FIG[published_novnet]:-?} MB/s"
fi
echo "E2E time $(( ($(now_ms) - T0_MS) / 1000 )) s, logs in $LOGDIR"
echo "e2e: $npass passed, $nfail failed"
[ "$nfail" = 0 ]
