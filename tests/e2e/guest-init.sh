#!/bin/sh
# /init of the taplinkd end-to-end test guest (busybox sh; tests/e2e/run.sh
# drives it, tests/e2e/build-guest.sh packs it).
#
# Kernel command line:
#   ip=<guest4>::<gateway4>:<netmask4>::eth0:off   taplinkctl's TAPLINK_KERNEL_IP_ARG
#                       (Debian's kernel has no CONFIG_IP_PNP: parsed here)
#   e2e.dhcp=1          no ip=: busybox udhcpc asks the daemon's DHCP server
#                       (address, route, MTU, DNS into /etc/resolv.conf:
#                       /bin/e2e-udhcpc), and the kernel takes the daemon's
#                       Router Advertisement (reported: E2E-INFO NAME dhcp_*,
#                       ra_*)
#   e2e.name=NAME       tag for this guest's messages to the host
#   e2e.steps=a,b,...   what to do once eth0 is up, in order (see below)
#   e2e.inet=IP         the "internet" address, for the egress and spoof steps
#   e2e.private=IP      a private address in "the internet", for the policy step
#   e2e.timeout=SEC     power off after this long, whatever happens (300)
#   e2e.ip6=ADDR/LEN e2e.gw6=ADDR   IPv6 address and gateway (step ping6)
#
# Everything it reports is one line on the console:
#   TAPLINK-E2E-READY ...       eth0 is configured and the gateway answered
#   E2E-CHECK <name> PASS|FAIL <detail>
#   E2E-INFO <key> <value...>
#   E2E-<MARKER>                a point the host waits for
# The host talks back over TCP: it sends one line to port 5020 when a step
# waits for it. Ports on the gateway (the host): 5002 TCP sink, 8000 HTTP,
# 6969/udp datagram log. On the "internet" address: 7000 (answers
# "peer=<source address>"), 6969/udp, 8080 HTTP (step clone). In the guest: 5001 TCP sink, 80 HTTP.
# The guest powers off when done (poweroff -f), whatever happened.

export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
exec 0</dev/null 1>/dev/console 2>&1

say() { echo "$*"; }
info() { echo "E2E-INFO $*"; }
check() { # name PASS|FAIL detail...
    n=$1 r=$2
    shift 2
    echo "E2E-CHECK $n $r $*"
}
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
bye() {
    echo "E2E-POWEROFF $*"
    sync
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
}

NAME=guest STEPS="" INET="" PRIVATE="" TIMEOUT=300 IPARG="" IP6="" GW6="" DHCP=0
for arg in $(cat /proc/cmdline); do
    case $arg in
        ip=*) IPARG=${arg#ip=} ;;
        e2e.dhcp=1) DHCP=1 ;;
        e2e.name=*) NAME=${arg#*=} ;;
        e2e.steps=*) STEPS=$(echo "${arg#*=}" | tr , ' ') ;;
        e2e.inet=*) INET=${arg#*=} ;;
        e2e.private=*) PRIVATE=${arg#*=} ;;
        e2e.timeout=*) TIMEOUT=${arg#*=} ;;
        e2e.ip6=*) IP6=${arg#*=} ;;
        e2e.gw6=*) GW6=${arg#*=} ;;
    esac
done

# Whatever happens below, the guest goes away in the end.
(sleep "$TIMEOUT"; echo "E2E-FATAL $NAME: guest timeout after ${TIMEOUT}s"; bye timeout) &

say "E2E-BOOT $NAME kernel=$(uname -r) uptime_ms=$(now_ms)"

# --- network ------------------------------------------------------------------
for m in $(cat /lib/modules/order 2>/dev/null); do
    insmod "/lib/modules/$m.ko" || say "E2E-LOG insmod $m failed"
done

if [ "$DHCP" = 1 ]; then
    [ -z "$IPARG" ] || { echo "E2E-FATAL e2e.dhcp=1 and an ip= argument"; bye; }
    DEV=eth0
else
    [ -n "$IPARG" ] || { echo "E2E-FATAL no ip= on the kernel command line"; bye; }
    OLDIFS=$IFS
    IFS=:
    set -- $IPARG
    IFS=$OLDIFS
    ADDR=$1 GW=$3 MASK=$4 DEV=${6:-eth0}
fi
prefix_of() { # dotted netmask -> prefix length
    p=0
    for o in $(echo "$1" | tr . ' '); do
        case $o in
            255) p=$((p + 8)) ;; 254) p=$((p + 7)) ;; 252) p=$((p + 6)) ;;
            248) p=$((p + 5)) ;; 240) p=$((p + 4)) ;; 224) p=$((p + 3)) ;;
            192) p=$((p + 2)) ;; 128) p=$((p + 1)) ;;
        esac
    done
    echo $p
}

i=0
while [ ! -e "/sys/class/net/$DEV" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ -e "/sys/class/net/$DEV" ] || { echo "E2E-FATAL no $DEV: $(ls /sys/class/net)"; bye; }

ip link set lo up
if [ "$DHCP" = 1 ]; then
    # udhcpc's script configures eth0 and writes /etc/resolv.conf; it
    # records the lease in /tmp/udhcpc.lease. -n: give up after -t tries
    # (3 s apart) rather than retry forever.
    t0=$(now_ms)
    if udhcpc -i "$DEV" -f -q -n -t 10 -T 3 -s /bin/e2e-udhcpc -O mtu -O dns -O domain -O router -O subnet \
        > /tmp/udhcpc.log 2>&1; then
        info "$NAME dhcp_ms $(($(now_ms) - t0))"
    else
        info "$NAME dhcp_ms failed"
        sed "s/^/E2E-LOG udhcpc: /" /tmp/udhcpc.log
        echo "E2E-FATAL $NAME: no DHCP lease"
        bye
    fi
    . /tmp/udhcpc.lease
    ADDR=$ip GW=${router%% *} PREFIX=$mask
    info "$NAME dhcp_lease $(cat /tmp/udhcpc.lease | tr '\n' ' ')"
    info "$NAME dhcp_addr $(ip -4 -o addr show dev "$DEV" | awk '{ print $4 }' | tr '\n' ' ')"
    info "$NAME dhcp_route $(ip -4 route show default | tr '\n' ';')"
    info "$NAME dhcp_mtu $(cat "/sys/class/net/$DEV/mtu")"
    info "$NAME dhcp_resolv $(tr '\n' ';' < /etc/resolv.conf)"
    # The kernel asked for a router with its own RS once eth0 came up
    # (accept_ra is on: no forwarding): the daemon's RA gives it a default
    # route via the TAP's link-local address. (Its MTU option is not
    # reported: udhcpc has set the link's MTU to the same value already.)
    i=0
    while [ -z "$(ip -6 route show default)" ] && [ $i -lt 100 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    info "$NAME ra_route6 $(ip -6 route show default | sed 's/ proto [a-z]*//; s/ metric.*//' | tr '\n' ';')"
    info "$NAME ra_addr6 $(ip -6 -o addr show dev "$DEV" scope global | awk '{ print $4 }' | tr '\n' ' ')"
else
    PREFIX=$(prefix_of "$MASK")
    ip link set "$DEV" up
    ip addr add "$ADDR/$PREFIX" dev "$DEV"
    ip route add default via "$GW" dev "$DEV"
fi
if [ -n "$IP6" ]; then
    # busybox ip has no "nodad": turn DAD off so the address works at once.
    echo 0 > "/proc/sys/net/ipv6/conf/$DEV/accept_dad"
    ip -6 addr add "$IP6" dev "$DEV"
    [ -n "$GW6" ] && ip -6 route add default via "$GW6" dev "$DEV"
fi

ok=0
i=0
while [ $i -lt 30 ]; do
    if ping -c 1 -W 1 "$GW" >/dev/null 2>&1; then
        ok=1
        break
    fi
    i=$((i + 1))
done
if [ $ok = 1 ]; then
    check ping_gateway PASS "$NAME $ADDR -> $GW after $((i + 1)) tries"
else
    check ping_gateway FAIL "$NAME $ADDR -> $GW: no answer in 30 tries"
fi
MAC=$(cat "/sys/class/net/$DEV/address")
RXQ=$(ls -d /sys/class/net/$DEV/queues/rx-* | wc -l)
TXQ=$(ls -d /sys/class/net/$DEV/queues/tx-* | wc -l)
info "$NAME mac $MAC"
info "$NAME queues rx=$RXQ tx=$TXQ cpus=$(nproc)"
say "TAPLINK-E2E-READY $NAME addr=$ADDR/$PREFIX gw=$GW mac=$MAC uptime_ms=$(now_ms)"
[ $ok = 1 ] || bye

# --- steps --------------------------------------------------------------------
ctl_wait() { # timeout -> the next line the host sends to port 5020
    timeout "$1" nc -l -p 5020 </dev/null | head -n 1
}

step_ping6() { # the gateway's IPv6 address (added NODAD by the daemon)
    [ -n "$GW6" ] || { check ping6_gateway SKIP "no IPv6 (e2e.gw6) given"; return; }
    i=0
    while [ $i -lt 10 ]; do
        if ping6 -c 1 -W 1 "$GW6" >/dev/null 2>&1; then
            check ping6_gateway PASS "$NAME ${IP6%/*} -> $GW6 after $((i + 1)) tries"
            return
        fi
        i=$((i + 1))
    done
    check ping6_gateway FAIL "$NAME ${IP6%/*} -> $GW6: no answer in 10 tries"
}

step_tcp() { # send a fresh random payload to the host's TCP sink
    dd if=/dev/urandom of=/tmp/payload bs=1024 count=1024 2>/dev/null
    sum=$(md5sum < /tmp/payload | cut -d' ' -f1)
    if timeout 60 nc "$GW" 5002 < /tmp/payload >/dev/null; then
        info "$NAME sent_md5 $sum $(wc -c < /tmp/payload)"
    else
        info "$NAME sent_md5 send-failed"
    fi
}

step_fetch() { # HTTP GET of the host's 64 MiB file: host -> guest throughput
    t0=$(now_ms)
    if timeout 120 wget -q -O /dev/null "http://$GW:8000/big"; then
        t1=$(now_ms)
        info "$NAME fetch_ms $((t1 - t0))"
    else
        info "$NAME fetch_ms failed"
    fi
}

step_egress() { # the "internet" behind the host, through its masquerade
    [ -n "$INET" ] || { check egress_ping FAIL "no e2e.inet given"; return; }
    if ping -c 2 -W 10 "$INET" >/dev/null 2>&1; then
        check egress_ping PASS "$NAME -> $INET"
    else
        check egress_ping FAIL "$NAME -> $INET: no answer"
    fi
    reply=$(echo "hello from $NAME" | timeout 20 nc -w 5 "$INET" 7000 | head -n 1)
    info "$NAME egress_reply ${reply:-none}"
}

step_policy() { # egress public: the public "internet" answers, a private address there does not
    [ -n "$INET" ] && [ -n "$PRIVATE" ] || { check policy_public FAIL "no e2e.inet or e2e.private given"; return; }
    reply=$(echo "hello from $NAME" | timeout 20 nc -w 5 "$INET" 7000 | head -n 1)
    case $reply in
        peer=*) check policy_public PASS "$NAME -> $INET (public): $reply" ;;
        *) check policy_public FAIL "$NAME -> $INET (public): ${reply:-no answer}" ;;
    esac
    reply=$(echo "hello from $NAME" | timeout 20 nc -w 5 "$PRIVATE" 7000 | head -n 1)
    if [ -z "$reply" ]; then
        check policy_private PASS "$NAME -> $PRIVATE (private): no answer, dropped"
    else
        check policy_private FAIL "$NAME -> $PRIVATE (private): $reply"
    fi
}

step_serve() { # the host fetches from us and sends to us, then says "done"
    mkdir -p /tmp/www
    dd if=/dev/zero of=/tmp/www/big bs=1048576 count=64 2>/dev/null
    [ -f /tmp/payload ] || dd if=/dev/urandom of=/tmp/payload bs=1024 count=1024 2>/dev/null
    cp /tmp/payload /tmp/www/payload
    info "$NAME payload_md5 $(md5sum < /tmp/payload | cut -d' ' -f1)"
    httpd -p 80 -h /tmp/www
    (
        if timeout 200 nc -l -p 5001 </dev/null > /tmp/in; then
            info "$NAME recv_md5 $(md5sum < /tmp/in | cut -d' ' -f1) $(wc -c < /tmp/in)"
        else
            info "$NAME recv_md5 failed"
        fi
    ) &
    recv=$!
    sleep 0.2
    say "E2E-SERVING $NAME"
    msg=$(ctl_wait 240)
    say "E2E-LOG $NAME host says: ${msg:-nothing}"
    wait $recv 2>/dev/null
}

step_clone() { # a restored clone: on the host's word "get=PATH", fetch
    # PATH from "the internet" (port 8080 there answers once every clone
    # asked); then wait for the host's "done"
    msg=$(ctl_wait 240)
    case $msg in get=*) ;; *) info "$NAME clone_md5 no-word-from-host:${msg:-nothing}"; return ;; esac
    t0=$(now_ms)
    if timeout 180 wget -q -O /tmp/clone.got "http://$INET:8080/${msg#get=}"; then
        info "$NAME clone_md5 $(md5sum < /tmp/clone.got | cut -d' ' -f1) $(wc -c < /tmp/clone.got) $(($(now_ms) - t0))"
    else
        info "$NAME clone_md5 failed"
    fi
    msg=$(ctl_wait 120)
    say "E2E-LOG $NAME host says: ${msg:-nothing}"
}

tftp_mark() { # server tag: a UDP datagram (a TFTP read request) naming tag;
    # nobody answers it, so tftp is stopped once it has sent it (and a retry).
    timeout 2 tftp -g -r "$2" -l "/tmp/tftp.$2.$1" "$1" 6969 >/dev/null 2>&1
}

step_pair() { # isolation from the other guest, then anti-spoofing
    msg=$(ctl_wait 240)
    PEER=${msg#peer=}
    case $msg in peer=*) ;; *) check isolation FAIL "$NAME: no peer from the host (${msg:-nothing})"; return ;; esac
    if ping -c 3 -W 1 "$PEER" >/dev/null 2>&1; then
        check isolation FAIL "$NAME $ADDR reached the other guest $PEER"
    else
        check isolation PASS "$NAME $ADDR cannot reach the other guest $PEER"
    fi
    # A datagram from our own address: the host must see it (the control for
    # the spoofed one below).
    tftp_mark "$GW" "legit-$NAME" &
    t=$!
    [ -n "$INET" ] && tftp_mark "$INET" "legit-$NAME"
    wait $t # never a bare wait: the timeout guard is a background job too
    say "E2E-ISOLATED $NAME"
    msg=$(ctl_wait 240)
    [ "$msg" = spoof ] || { say "E2E-LOG $NAME: expected spoof, got ${msg:-nothing}"; return; }
    # Take the other guest's address instead of ours: everything we send now
    # must be dropped by the host (input and forward).
    gwmac=$(ip neigh show "$GW" dev "$DEV" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
    [ -n "$gwmac" ] || gwmac=$(echo "$MAC" | sed 's/^02:/06:/')
    ip addr flush dev "$DEV"
    ip addr add "$PEER/32" dev "$DEV"
    ip neigh replace "$GW" lladdr "$gwmac" dev "$DEV" nud permanent
    ip route add "$GW/32" dev "$DEV"
    ip route add default via "$GW" dev "$DEV"
    info "$NAME spoofing as $PEER: $(ip -4 addr show dev "$DEV" | sed -n 's/.*inet \([^ ]*\).*/\1/p')"
    tftp_mark "$GW" "spoof-$NAME" &
    t=$!
    [ -n "$INET" ] && tftp_mark "$INET" "spoof-$NAME"
    wait $t
    say "E2E-SPOOFED $NAME"
}

for s in $STEPS; do
    say "E2E-STEP $NAME $s"
    case $s in
        tcp) step_tcp ;;
        ping6) step_ping6 ;;
        fetch) step_fetch ;;
        egress) step_egress ;;
        policy) step_policy ;;
        serve) step_serve ;;
        pair) step_pair ;;
        clone) step_clone ;;
        *) say "E2E-LOG unknown step $s" ;;
    esac
done
say "E2E-DONE $NAME"
bye done
