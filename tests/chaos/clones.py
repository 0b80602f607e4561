# SPDX-License-Identifier: MIT
"""Clone slots in the chaos test (docs/DESIGN.md, "Clone slots"): what
the kernel must show for a listed clone slot, what no clone slot may leave
behind, the traffic probe through a clone's NAT, and where a SIGSTOP froze
a clone under construction.

chaos.py runs in a mount namespace of its own with a tmpfs on /run
(harness.private_run()), so everything under /run/netns is this test's
daemon's: nothing on the host is looked at or removed."""

import json
import os
import struct
import time
from collections import Counter

import harness
from harness import VNET_HDR_LEN, arp_probe, mac_bytes, netns_ids, netns_mounts, run
from packets import ETH_P_IP, checksum, eth, ip4

NETNS_DIR = "/run/netns"
TAP, UPLINK = "tap0", "veth0"
TAP_MAC = "06:74:6c:ff:ff:fe"
GUEST, GATEWAY, PREFIX_LEN = "169.254.0.21", "169.254.0.22", 30
GUEST_MAC = "02:00:00:00:00:21"  # every restored guest has the same


def netns_name(s):
    return os.path.basename(s["clone"]["netns"])


def inside(name):
    """`ip -j -d addr show` in the slot's namespace: {ifname: link}, or None
    when the namespace cannot be entered."""
    r = run("ip", "-n", name, "-j", "-d", "addr", "show", check=False)
    if r.returncode != 0:
        return None
    return {l["ifname"]: l for l in json.loads(r.stdout or "[]")}


def _v4(link):
    return sorted((a["local"], a["prefixlen"]) for a in link.get("addr_info", []) if a["family"] == "inet")


def device_mismatch(s, l, addr_info, user_name):
    """A listed clone slot: the host end of its veth (l) as the slot says,
    then its namespace's devices."""
    out = []
    n = s["ifname"]
    want = {"kind": "veth", "address": "06" + s["mac"][2:], "mtu": s["mtu"], "ifalias": s["label"] or None}
    got = {"kind": l.get("linkinfo", {}).get("info_kind"), "address": l["address"], "mtu": l["mtu"],
           "ifalias": l.get("ifalias") or None}
    out += [("attr", "%s: kernel %s=%r, List says %r" % (n, k, got[k], want[k])) for k in want if want[k] != got[k]]
    v4 = sorted((a["local"], a["prefixlen"]) for a in addr_info if a["family"] == "inet")
    v6 = [a["local"] for a in addr_info if a["family"] == "inet6" and a.get("scope") != "link"]
    if v4 != [(s["ipv4"]["gateway"], s["ipv4"]["prefixLength"])] or v6:
        out.append(("addr", "%s has %s %s, want only %s/%d" % (n, v4, v6, s["ipv4"]["gateway"],
                                                                s["ipv4"]["prefixLength"])))
    if s["clone"] != {"netns": "%s/%s" % (NETNS_DIR, n), "tapName": TAP, "guest": GUEST, "gateway": GATEWAY,
                      "prefixLength": PREFIX_LEN}:
        out.append(("attr", "%s: clone is %s" % (n, s["clone"])))
    links = inside(netns_name(s))
    if links is None:
        return out + [("lost", "%s: namespace %s cannot be entered" % (n, s["clone"]["netns"]))]
    if sorted(links) != sorted(["lo", TAP, UPLINK]):
        out.append(("attr", "%s: namespace holds %s" % (n, sorted(links))))
    tap, up = links.get(TAP), links.get(UPLINK)
    if tap:
        data = tap.get("linkinfo", {}).get("info_data", {})
        want = {"kind": "tun", "type": "tap", "address": TAP_MAC, "mtu": s["mtu"], "vnet_hdr": s["vnetHeader"],
                "persist": s["persistent"], "user": user_name(s["ownerUid"]), "addrs": [(GATEWAY, PREFIX_LEN)]}
        got = {"kind": tap.get("linkinfo", {}).get("info_kind"), "type": data.get("type"),
               "address": tap["address"], "mtu": tap["mtu"], "vnet_hdr": data.get("vnet_hdr"),
               "persist": data.get("persist"), "user": str(data.get("user")), "addrs": _v4(tap)}
        # An adopted persistent TAP lists the queues attached, which may be
        # fewer than it was made with (as chaos.py's TAP check).
        if s["queues"] > 1:
            want["multi_queue"] = True
            got["multi_queue"] = data.get("multi_queue")
        out += [("attr", "%s: %s %s=%r, List says %r" % (n, TAP, k, got[k], want[k]))
                for k in want if want[k] != got[k]]
    if up:
        want = {"address": s["mac"], "mtu": s["mtu"], "addrs": [(s["ipv4"]["guest"], s["ipv4"]["prefixLength"])]}
        got = {"address": up["address"], "mtu": up["mtu"], "addrs": _v4(up)}
        out += [("attr", "%s: %s %s=%r, want %r" % (n, UPLINK, k, got[k], want[k]))
                for k in want if want[k] != got[k]]
    return out


def leaks(listed, lingering):
    """Namespaces, bind mounts and namespace ids no listed clone slot
    accounts for. lingering: how many namespaces may live on unnamed (a
    Release cut off by a kill, whose TAP fd this script still holds: the
    fd keeps the namespace, docs/DESIGN.md "Clone slots"; and the [clone]
    pool's ready ones, which have an id here but no bind mount)."""
    out = []
    want = sorted(netns_name(s) for s in listed if s.get("clone"))
    files = sorted(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else []
    mounts = netns_mounts()
    for f in sorted(set(files) - set(want)):
        out.append(("leak", "%s/%s belongs to no listed clone slot" % (NETNS_DIR, f)))
    for m in sorted(set(mounts) - {"%s/%s" % (NETNS_DIR, w) for w in want}):
        out.append(("leak", "mount %s belongs to no listed clone slot" % m))
    if len(mounts) != len(set(mounts)):
        out.append(("leak", "a namespace is mounted twice: %s" % mounts))
    for w in want:
        if w not in files or "%s/%s" % (NETNS_DIR, w) not in mounts:
            out.append(("lost", "clone slot %s has no bind mount at %s/%s" % (w, NETNS_DIR, w)))
    ids = netns_ids()
    named = Counter(v for v in ids.values() if v)
    unnamed = sorted(k for k, v in ids.items() if not v)
    for name in sorted(set(named) - set(want)):
        out.append(("leak", "namespace %s has an id here but belongs to no listed clone slot" % name))
    for name in want:
        if named[name] != 1:
            out.append(("nsid", "clone slot %s's namespace has %d ids here" % (name, named[name])))
    if len(unnamed) > lingering:
        out.append(("leak", "namespaces with ids %s live on with no bind mount (%d may: the pool, and cut-off Releases whose "
                            "fds are still held)" % (unnamed, lingering)))
    return out


def probe(fds, s):
    """The guest behind a clone slot's fds: ARP for its gateway (tap0), then
    an echo to the slot's host-side gateway, through the NAT and the veth.
    True, or what went wrong."""
    vnet = s["vnetHeader"]
    view = {"mac": GUEST_MAC, "ipv4": {"guest": GUEST, "gateway": GATEWAY}}
    if not arp_probe(fds[0], view, vnet_header=vnet, read_fds=fds):
        return "no ARP reply from %s" % GATEWAY
    ident = 0x7c00 | s["slot"]
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"chaos"
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), ident, 0x4000, 64, 1, 0, ip4(GUEST),
                      ip4(s["ipv4"]["gateway"]))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    prefix = b"\0" * VNET_HDR_LEN if vnet else b""
    os.write(fds[0], prefix + eth(mac_bytes(TAP_MAC), mac_bytes(GUEST_MAC), ETH_P_IP, hdr + icmp))
    for f in harness._read_frames(fds, len(prefix), time.monotonic() + harness.WAIT_TIMEOUT):
        if len(f) >= 42 and struct.unpack("!H", f[12:14])[0] == ETH_P_IP and f[23] == 1 and f[34] == 0 and \
                struct.unpack("!H", f[38:40])[0] == ident:
            return True if f[26:34] == ip4(s["ipv4"]["gateway"]) + ip4(GUEST) else "echo reply %r" % f[26:34]
    return "no echo reply from %s through the NAT" % s["ipv4"]["gateway"]


# The last step of clone_create() (then of the Acquire) done, in order. The
# namespace has its id here from the veth's creation on (the kernel gives
# the peer's namespace one), so the id is no step of its own.
STAGES = ("1 netns file", "2 bind mount", "3 tap0", "4 veth pair", "5 tap0 addressed", "6 uplink addressed",
          "7 route and NAT", "8 host end addressed", "9 elements committed")


def frozen_stage(name, host_v4, slot_subnets):
    """Where in clone_create() (then the Acquire) a frozen daemon is with
    the namespace `name`: one of STAGES. host_v4: {ifname: [(address,
    prefix)]} of this namespace's devices."""
    path = "%s/%s" % (NETNS_DIR, name)
    if path not in netns_mounts():
        return STAGES[0]
    r = run("nsenter", "--net=" + path, "sh", "-c",
            "ip -j -d addr show; echo '\f'; ip -j route show; echo '\f'; nft -j list tables", check=False)
    parts = (r.stdout.split("\f") + ["", "", ""])[:3]
    links = {l["ifname"]: l for l in json.loads(parts[0] or "[]")}
    if TAP not in links:
        return STAGES[1]
    if UPLINK not in links:
        return STAGES[2]
    if _v4(links[TAP]) != [(GATEWAY, PREFIX_LEN)]:
        return STAGES[3]
    if not _v4(links[UPLINK]):
        return STAGES[4]
    routes = json.loads(parts[1] or "[]")
    tables = [x for x in json.loads(parts[2] or "{}").get("nftables", []) if "table" in x]
    if not any(x.get("dst") == "default" for x in routes) or not tables:
        return STAGES[5]
    if not host_v4.get(name):
        return STAGES[6]
    a, p = host_v4[name][0]
    subnet = a.rsplit(".", 1)
    subnet = "%s.%d" % (subnet[0], int(subnet[1]) & ~((1 << (32 - p)) - 1) & 255)
    return STAGES[7] if subnet not in slot_subnets else STAGES[8]


def names():
    return set(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else set()


def wait_new_name(before, timeout):
    """Spins until a /run/netns entry not in `before` appears: a
    clone_create() has begun. False at the timeout."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if names() - before:
            return True
    return False


def frozen(known_names, slot_subnets):
    """With the daemon stopped: the stage of every namespace whose slot this
    script does not hold yet (an Acquire in flight)."""
    building = sorted(names() - set(known_names))
    if not building:
        return []
    host_v4 = {l["ifname"]: _v4(l) for l in harness.ip_json("addr", "show")}
    return [frozen_stage(n, host_v4, slot_subnets) for n in building]
