#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Captures real netlink messages from this kernel as fuzz seeds.

    tests/fuzz/capture-seeds.py OUTDIR      (as root)

Runs itself in a throwaway network namespace (unshare -n): creates TAP
devices the way taplinkd does (single- and multi-queue, with owner, alias,
MTU, an fd attached), a TUN, a bridge and a veth pair, then writes

  OUTDIR/rtnl/  RTM_GETLINK dump replies (whole datagrams and single link
                messages; the TAP dump with and without statistics) and RTNLGRP_LINK monitor datagrams: RTM_NEWLINK
                changes, RTM_DELLINK of an unregistered TAP, the bridge's
                AF_BRIDGE RTM_DELLINK when a port leaves;
  OUTDIR/nft/   NFT_MSG_GETSETELEM dump replies of the five sets of
                docs/DESIGN.md, "The nftables layout" (empty, a few elements,
                counters in dropped_spoofed,
                a few hundred), of an interval set with our name, and the
                error for a missing set;
  OUTDIR/nft-events/  NFNLGRP_NFTABLES notification datagrams: the table
                made, elements added and deleted, a set flushed, a rule and
                a chain deleted, a chain flushed, a set deleted, a
                neighbour's table deleted, `nft flush ruleset`.

Nothing outside the namespace is touched; the namespace goes with the
process. The committed seeds in tests/fuzz/corpus/ came from this script.
"""

import fcntl
import os
import socket
import struct
import subprocess
import sys
import time

NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLA_F_NESTED = 0x8000
RTM_GETLINK = 18
IFLA_LINKINFO = 18
IFLA_EXT_MASK = 29
IFLA_INFO_KIND = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3
RTNLGRP_LINK = 1
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETSETELEM = 13
NFPROTO_INET = 1
NFTA_SET_ELEM_LIST_TABLE = 1
NFTA_SET_ELEM_LIST_SET = 2
NFNLGRP_NFTABLES = 7
TUNSETIFF = 0x400454CA
TUNSETOWNER = 0x400454CC
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100
IFF_VNET_HDR = 0x4000
MAX_SEED = 16384  # the rtnl and nft harnesses' -max_len


def align(n):
    return (n + 3) & ~3


def attr(kind, data):
    a = struct.pack("=HH", 4 + len(data), kind) + data
    return a + b"\0" * (align(len(a)) - len(a))


def message(kind, flags, seq, payload):
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload


def messages(datagram):
    off = 0
    while off + 16 <= len(datagram):
        length, kind = struct.unpack_from("=IH", datagram, off)
        if length < 16 or off + length > len(datagram):
            break
        yield kind, datagram[off:off + length]
        off += align(length)


def chunks(datagram):
    """The datagram cut at message boundaries into pieces of MAX_SEED at most."""
    piece = b""
    for _, msg in messages(datagram):
        msg = msg + b"\0" * (align(len(msg)) - len(msg))
        if piece and len(piece) + len(msg) > MAX_SEED:
            yield piece
            piece = b""
        piece += msg
    if piece:
        yield piece


def dump(proto, request):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    s.bind((0, 0))
    s.send(request)
    out = []
    while True:
        d = s.recv(1 << 20)
        out.append(d)
        if any(k in (NLMSG_DONE, NLMSG_ERROR) for k, _ in messages(d)):
            break
    s.close()
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def sh(*args):
    subprocess.run(args, check=True)


def link_name(msg):
    off = 16 + 16
    while off + 4 <= len(msg):
        length, kind = struct.unpack_from("=HH", msg, off)
        if length < 4:
            break
        if kind == 3:  # IFLA_IFNAME
            return msg[off + 4:off + length].split(b"\0")[0].decode()
        off += align(length)
    return "unknown"


def capture_dumps(out):
    ifi = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    plain = message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, ifi)
    # What rtnl_build_dump_taps() asks for.
    taps = message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 2,
                   ifi + attr(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_SKIP_STATS)) +
                   attr(IFLA_LINKINFO | NLA_F_NESTED, attr(IFLA_INFO_KIND, b"tun\0")))
    # What rtnl_build_dump_stats() asks for.
    stats = message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 3,
                    ifi + attr(IFLA_EXT_MASK, struct.pack("=I", 0)) +
                    attr(IFLA_LINKINFO | NLA_F_NESTED, attr(IFLA_INFO_KIND, b"tun\0")))
    for name, req in (("all", plain), ("taps", taps), ("stats", stats)):
        for i, d in enumerate(dump(NETLINK_ROUTE, req)):
            for j, piece in enumerate(chunks(d)):
                write(f"{out}/rtnl/dump-{name}-{i}-{j}.bin", piece)
            if name == "all":
                for kind, msg in messages(d):
                    if kind != NLMSG_DONE:
                        write(f"{out}/rtnl/link-{link_name(msg)}.bin", msg)


class Monitor:
    """A netlink socket subscribed to one multicast group; save() writes what
    it has received since, one seed a message, as OUTDIR/<prefix><name>-<n>.bin."""

    def __init__(self, proto, group, prefix):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        self.s.bind((0, 1 << (group - 1)))
        self.s.setblocking(False)
        self.prefix = prefix

    def save(self, out, name):
        time.sleep(0.05)
        n = 0
        while True:
            try:
                d = self.s.recv(1 << 20)
            except BlockingIOError:
                break
            for piece in chunks(d):
                write(f"{out}/{self.prefix}{name}-{n}.bin", piece)
                n += 1


def open_tap(name, flags, owner):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
    fcntl.ioctl(fd, TUNSETOWNER, owner)
    return fd


def capture_rtnl(out):
    sh("ip", "link", "set", "lo", "up")
    mon = Monitor(NETLINK_ROUTE, RTNLGRP_LINK, "rtnl/monitor-")
    sh("ip", "tuntap", "add", "dev", "tl0", "mode", "tap", "user", "1000", "vnet_hdr")
    sh("ip", "tuntap", "add", "dev", "tl1", "mode", "tap", "multi_queue", "vnet_hdr")
    mon.save(out, "newlink-persistent")
    sh("ip", "link", "set", "tl1", "alias", "sandbox-1:web@host", "mtu", "9000", "up")
    mon.save(out, "newlink-alias-mtu-up")
    tap = open_tap("tl2", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, 1000)
    sh("ip", "link", "set", "tl2", "address", "06:74:6c:00:00:02", "alias", "vm-2")
    sh("ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "link", "add", "vethA", "type", "veth", "peer", "name", "vethB")
    mon.save(out, "newlink-misc")
    capture_dumps(out)

    sh("ip", "link", "set", "tl0", "master", "br0")
    mon.save(out, "bridge-join")
    sh("ip", "link", "set", "tl0", "nomaster")
    mon.save(out, "bridge-leave")
    os.close(tap)  # not persistent: the kernel deletes tl2
    mon.save(out, "dellink-fd-closed")
    sh("ip", "link", "del", "tl1")
    mon.save(out, "dellink-released")
    sh("ip", "link", "del", "vethA")
    mon.save(out, "dellink-veth")


NFT_RULESET = """
table inet taplinkd {
  set slots_v4  { type ipv4_addr; }
  set slots_v6  { type ipv6_addr; }
  set guests_v4 { type ifname . ipv4_addr; }
  set guests_v6 { type ifname . ipv6_addr; }
  set dropped_spoofed { type ifname; size 2097152; flags dynamic; counter; }
}
table inet taplinkd_big {
  set slots_v4  { type ipv4_addr; }
}
table inet taplinkd_interval {
  set slots_v4  { type ipv4_addr; flags interval; }
}
add element inet taplinkd slots_v4 { 10.213.0.0, 10.213.0.4 }
add element inet taplinkd slots_v6 { fd74:6c00::, fd74:6c00:0:1:: }
add element inet taplinkd guests_v4 { "tl0" . 10.213.0.2, "tl1" . 10.213.0.6 }
add element inet taplinkd guests_v6 { "tl0" . fd74:6c00::2, "tl123456789012" . fd74:6c00:0:1::2 }
add element inet taplinkd_interval slots_v4 { 10.213.0.0/30, 10.213.1.0-10.213.1.9 }
add element inet taplinkd dropped_spoofed { "tl0" counter packets 3 bytes 180, "tl1", "tl123456789012" }
"""


def getsetelem(table, name, seq):
    payload = struct.pack("=BBH", NFPROTO_INET, 0, 0)
    payload += attr(NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0")
    payload += attr(NFTA_SET_ELEM_LIST_SET, name.encode() + b"\0")
    return message(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETSETELEM, NLM_F_REQUEST | NLM_F_DUMP, seq, payload)


def capture_nft(out):
    big = ", ".join(f"10.213.{i // 64}.{i % 64 * 4}" for i in range(400))
    subprocess.run(["nft", "-f", "-"], check=True, text=True,
                   input=NFT_RULESET + f"add element inet taplinkd_big slots_v4 {{ {big} }}\n")
    seq = 100
    for table, name, tag in (("taplinkd", "slots_v4", "slots_v4"), ("taplinkd", "slots_v6", "slots_v6"),
                             ("taplinkd", "guests_v4", "guests_v4"), ("taplinkd", "guests_v6", "guests_v6"),
                             ("taplinkd", "dropped_spoofed", "dropped_spoofed"),
                             ("taplinkd_big", "slots_v4", "big"),
                             ("taplinkd_interval", "slots_v4", "interval"),
                             ("taplinkd", "missing", "error-enoent")):
        seq += 1
        for i, d in enumerate(dump(NETLINK_NETFILTER, getsetelem(table, name, seq))):
            for j, piece in enumerate(chunks(d)):
                write(f"{out}/nft/{tag}-{i}-{j}.bin", piece)
    subprocess.run(["nft", "flush", "set", "inet", "taplinkd", "guests_v6"], check=True)
    for i, d in enumerate(dump(NETLINK_NETFILTER, getsetelem("taplinkd", "guests_v6", 200))):
        write(f"{out}/nft/empty-{i}.bin", d)


NFT_FULL_RULESET = """
table inet taplinkd {
  set slots_v4  { type ipv4_addr; }
  set slots_v6  { type ipv6_addr; }
  set guests_v4 { type ifname . ipv4_addr; }
  set guests_v6 { type ifname . ipv6_addr; }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "tl*" iifname . ip saddr != @guests_v4 drop
    iifname "tl*" ip6 saddr != { ::, fe80::/10 } iifname . ip6 saddr != @guests_v6 drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "tl*" iifname . ip saddr != @guests_v4 drop
    iifname "tl*" iifname . ip6 saddr != @guests_v6 drop
    ip saddr & 255.255.255.252 @slots_v4 ip daddr & 255.255.255.252 @slots_v4 drop
    ip6 saddr & ffff:ffff:ffff:ffff:: @slots_v6 ip6 daddr & ffff:ffff:ffff:ffff:: @slots_v6 drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr & 255.255.255.252 @slots_v4 ip daddr & 255.255.255.252 != @slots_v4 masquerade
  }
}
table ip neighbour {
  chain input { type filter hook input priority filter; policy accept; }
}
add element inet taplinkd slots_v4 { 10.213.0.0, 10.213.0.4 }
add element inet taplinkd slots_v6 { fd74:6c00::, fd74:6c00:0:1:: }
add element inet taplinkd guests_v4 { "tl0" . 10.213.0.2, "tl1" . 10.213.0.6 }
add element inet taplinkd guests_v6 { "tl0" . fd74:6c00::2, "tl1" . fd74:6c00:0:1::2 }
"""


def capture_nft_events(out):
    subprocess.run(["nft", "flush", "ruleset"], check=True)
    mon = Monitor(NETLINK_NETFILTER, NFNLGRP_NFTABLES, "nft-events/")
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=NFT_FULL_RULESET)
    mon.save(out, "create")
    t = "inet taplinkd".split()
    steps = (
        ("add-elements", ["add", "element", *t, "slots_v4", "{ 10.213.0.8 }"]),
        ("delete-element", ["delete", "element", *t, "guests_v4", '{ "tl0" . 10.213.0.2 }']),
        ("flush-set", ["flush", "set", *t, "slots_v6"]),
        ("delete-rule", ["delete", "rule", *t, "postrouting", "handle", "HANDLE"]),
        ("flush-chain", ["flush", "chain", *t, "forward"]),
        ("delete-chain", ["delete", "chain", *t, "postrouting"]),
        ("delete-set", ["delete", "set", *t, "slots_v4"]),
        ("delete-neighbour", ["delete", "table", "ip", "neighbour"]),
        ("flush-ruleset", ["flush", "ruleset"]),
    )
    for name, args in steps:
        if "HANDLE" in args:
            listing = subprocess.run(["nft", "-a", "list", "chain", *t, "postrouting"], check=True,
                                     capture_output=True, text=True).stdout
            rule = [l for l in listing.splitlines() if "masquerade" in l][0]
            handle = rule.split("# handle ")[1]
            args = [handle if a == "HANDLE" else a for a in args]
        subprocess.run(["nft", *args], check=True)
        mon.save(out, name)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: capture-seeds.py OUTDIR")
    out = os.path.abspath(sys.argv[1])
    if os.environ.get("TAPLINK_CAPTURE_NETNS") != "1":
        env = dict(os.environ, TAPLINK_CAPTURE_NETNS="1")
        os.execvpe("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__), out], env)
    capture_rtnl(out)
    capture_nft(out)
    capture_nft_events(out)


if __name__ == "__main__":
    main()
