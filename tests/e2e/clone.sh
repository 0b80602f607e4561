# shellcheck shell=bash
# The e2e scenario "clone" (check 9 of tests/e2e/run.sh, which sources this
# file and owns every helper used here): two guests restored "from one
# snapshot", each on a clone slot of its own (docs/DESIGN.md, "Clone slots").

CLONE_IP_ARG=ip=169.254.0.21::169.254.0.22:255.255.255.252::eth0:off
CLONE_GUEST_MAC=02:00:00:00:00:21

# clone_b42 SLOT -> the slot's guest address seen from the host (B4+2)
clone_b42() {
    local b=$(($1 * 4))
    echo "10.213.$((b >> 8)).$(((b & 255) + 2))"
}
# dmx CMD...: in the daemon's mount and network namespaces, where its clone
# namespaces are bind-mounted
dmx() { nsenter -t "$DAEMON_PID" -m -n "$@"; }
clone_nsids() { nsx ip netns list-id | awk '$1 == "nsid" { print $2 }' | sort -n | tr '\n' ' '; }
# (the daemon's mount namespace began as a copy of ours: the host's own
# /run/netns mounts are listed there too, under its tmpfs)
clone_mounts() { dmx awk '$5 ~ "^/run/netns/tl[0-9]+$" { print $5 }' /proc/self/mountinfo | tr '\n' ' '; }

# clone_live NAME: the slot as the host and the daemon see it
clone_live() {
    local n=$1 st want="list=1 link=1 slots_v4=1 guests_v4=1" w ok=1 ns
    st=$(state "$n")
    for w in $want; do
        case " $st " in *" $w "*) ;; *) ok=0 ;; esac
    done
    ns=$(genv "$n" TAPLINK_NETNS)
    if [ "$ns" != "/run/netns/${G_IF[$n]}" ]; then
        ok=0
    elif ! dmx ip netns exec "${ns##*/}" ip -br link show tap0 | grep -q '^tap0 .*UP'; then
        ok=0
        st="$st, no tap0 up in $ns"
    fi
    if [ $ok = 1 ]; then
        record "$n.slot_live" PASS "$st; tap0 up in $ns; host end ${G_IF[$n]}, guest ${G_V4[$n]}"
    else
        record "$n.slot_live" FAIL "want $want and tap0 in /run/netns/${G_IF[$n]}, got $st (TAPLINK_NETNS=$ns)"
    fi
}

# clone_fetch: both guests fetch a file of their own from "the internet"
# at once; each must get its own.
clone_fetch() {
    local n line sum want
    for n in ca cb; do
        # To the guest's 169.254.0.21 through its slot's B4+2 (the NAT).
        echo "get=clone-$n" | nsx "$PY" "$HELPER" send "${G_V4[$n]}" 5020 - 20 ||
            record "$n.clone_fetch" FAIL "cannot reach ${G_V4[$n]}:5020"
    done
    for n in ca cb; do
        want=$(md5sum < "$T/inet-www/clone-$n" | cut -d' ' -f1)
        if line=$(wait_for "$n" "^E2E-INFO $n clone_md5 " $((120 * SLOW))); then
            set -- $line
            if [ "${4:-}" = "$want" ]; then
                record "$n.clone_fetch" PASS "its own $CLONE_MIB MiB (md5 $want) from $INET_ADDR:8080 in ${6:-?} ms"
            else
                record "$n.clone_fetch" FAIL "got ${4:-nothing} ${5:-} bytes, its file's md5 is $want"
            fi
        else
            record "$n.clone_fetch" FAIL "no result from the guest"
        fi
    done
}

# clone_sources: "the internet" answered both requests together, from two
# ports of the WAN address; the host's conntrack has the two flows from
# the two slots' B4+2.
clone_sources() {
    local end got want srcs
    end=$(($(now_ms) + 30000))
    while [ "$(wc -l < "$T/inet-together.log")" -lt 2 ] && [ "$(now_ms)" -lt "$end" ]; do sleep 0.1; done
    got=$(awk -v wan="$WAN_ADDR" '$1 == wan && $4 == "together" { print $3 }' "$T/inet-together.log" | sort | tr '\n' ' ')
    if [ "$got" = "/clone-ca /clone-cb " ] &&
        [ "$(awk '{ print $2 }' "$T/inet-together.log" | sort -u | wc -l)" = 2 ]; then
        record clone.internet_together PASS "both requests open at once, from two ports of $WAN_ADDR: $(tr '\n' ';' < "$T/inet-together.log")"
    else
        record clone.internet_together FAIL "$INET saw: $(tr '\n' ';' < "$T/inet-together.log")"
    fi
    srcs=$(nsx cat /proc/net/nf_conntrack | awk -v inet="$INET_ADDR" '{
        s = d = p = ""
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^src=/ && s == "") s = substr($i, 5)
            else if ($i ~ /^dst=/ && d == "") d = substr($i, 5)
            else if ($i ~ /^dport=/ && p == "") p = substr($i, 7)
        }
        if (d == inet && p == "8080") print s
    }' | sort -u | tr '\n' ' ')
    want=$(printf '%s\n' "${G_V4[ca]}" "${G_V4[cb]}" | sort -u | tr '\n' ' ')
    if [ "$srcs" = "$want" ] && [ "${G_V4[ca]}" != "${G_V4[cb]}" ]; then
        record clone.host_sources PASS "the host forwarded the flows to $INET_ADDR:8080 from $srcs(each slot's B4+2)"
    else
        record clone.host_sources FAIL "flows to $INET_ADDR:8080 from '$srcs', want '$want'"
    fi
}

clone() {
    say "--- clone: two guests with one address and one MAC, a clone slot each"
    local t_sc=$(now_ms) ok=1 n arg nsids0 end
    nsids0=$(clone_nsids)
    GUEST_MAC=$CLONE_GUEST_MAC launch ca clone 128 1 --clone
    GUEST_MAC=$CLONE_GUEST_MAC launch cb clone 128 1 --clone
    started ca || ok=0
    started cb || ok=0
    if [ $ok = 1 ]; then
        for n in ca cb; do
            guest_checks "$n"
            arg=$(genv "$n" TAPLINK_KERNEL_IP_ARG)
            if [ "$arg" = "$CLONE_IP_ARG" ] && [ "${G_V4[$n]}/${G_PFX[$n]}" = 169.254.0.21/30 ]; then
                record "$n.clone_address" PASS "slot ${G_SLOT[$n]}: $arg"
            else
                record "$n.clone_address" FAIL "slot ${G_SLOT[$n]}: '$arg', guest ${G_V4[$n]}/${G_PFX[$n]}"
            fi
            # From here on the host's view: the slot's guest is B4+2.
            G_V4[$n]=$(clone_b42 "${G_SLOT[$n]}")
            clone_live "$n"
        done
        clone_fetch
        clone_sources
        # The guests stay until here: a slot's end deletes its conntrack
        # entries (docs/DESIGN.md, "Nothing inherited").
        for n in ca cb; do
            echo done | nsx "$PY" "$HELPER" send "${G_V4[$n]}" 5020 - 10 || say "$n: could not tell the guest we are done"
        done
    fi
    finished ca
    finished cb
    # The namespaces go too: their bind mounts at once, the namespaces (and
    # their ids here) once the kernel has torn them down.
    end=$(($(now_ms) + 30000))
    while [ "$(clone_nsids)" != "$nsids0" ] || [ -n "$(clone_mounts)$(dmx ls -A /run/netns)" ]; do
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.1
    done
    if [ "$(clone_nsids)" = "$nsids0" ] && [ -z "$(clone_mounts)$(dmx ls -A /run/netns)" ]; then
        record clone.namespaces_gone PASS "no /run/netns entry, bind mount or namespace id left"
    else
        record clone.namespaces_gone FAIL "ids '$(clone_nsids)' (before: '$nsids0'), mounts '$(clone_mounts)', /run/netns: $(dmx ls -A /run/netns | tr '\n' ' ')"
    fi
    say "--- clone: $(( ($(now_ms) - t_sc) / 1000 )) s"
}
