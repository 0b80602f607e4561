# SPDX-License-Identifier: MIT
"""A guest's end of a slot, for the guest services suites (test_guest*.py):
GuestLink (the slot's fd, carrying plain Ethernet frames: Acquire with
vnetHeader false), matchers for the daemon's replies, and StandInGuest
(frame_pump.py: a network stack of its own where real DHCP clients run).
Frames are built and parsed by packets.py."""

import json
import re
import os
import select
import shutil
import signal
import struct
import subprocess
import time

from harness import PYTHON, TIMEOUT_SCALE, run
from packets import (
    BROADCAST_MAC, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMPV6, IPPROTO_UDP, ALL_DHCP, ALL_ROUTERS, ND_RA, OPT_MSG_TYPE,
    eth, ipv4_udp, link_local, mac_str, multicast_mac, parse_dhcp4, parse_dhcp6, parse_eth, parse_ipv4_udp,
    parse_ipv6, parse_ra, parse_udp6, router_solicitation, udp6)

FRAME_PUMP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frame_pump.py")

# Seconds a reply may take. The daemon answers from its event loop within a
# millisecond or so; 5 s is a ceiling for a loaded CI machine under ASan
# or valgrind (TAPLINK_TIMEOUT_SCALE), never a figure a passing test waits
# for.
REPLY_WITHIN = 5.0 * TIMEOUT_SCALE

DHCP_CLIENT_PORT, DHCP_SERVER_PORT = 68, 67
DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT = 546, 547


def describe(raw):
    """One line about a frame, for failure messages."""
    try:
        f = parse_eth(raw)
    except ValueError as e:
        return "<%s>" % e
    head = "%s > %s %04x" % (mac_str(f.src), mac_str(f.dst), f.ethertype)
    try:
        if f.ethertype == ETH_P_IP and len(f.payload) >= 20 and f.payload[9] == IPPROTO_UDP:
            u = parse_ipv4_udp(f.payload)
            extra = ""
            if u.sport in (67, 68):
                m = parse_dhcp4(u.payload)
                extra = " DHCP xid=%08x type=%s" % (m.xid, dict(m.options).get(OPT_MSG_TYPE, b"?").hex())
            return "%s %s:%d > %s:%d%s" % (head, u.src, u.sport, u.dst, u.dport, extra)
        if f.ethertype == ETH_P_IPV6:
            p = parse_ipv6(f.payload)
            if p.next_header == IPPROTO_ICMPV6 and p.payload:
                return "%s %s > %s ICMPv6 type %d" % (head, p.src, p.dst, p.payload[0])
            if p.next_header == IPPROTO_UDP and len(p.payload) > 12:
                sport, dport = struct.unpack("!HH", p.payload[:4])
                return "%s [%s]:%d > [%s]:%d DHCPv6 type %d txid %s" % (
                    head, p.src, sport, p.dst, dport, p.payload[8], p.payload[9:12].hex())
            return "%s %s > %s next header %d" % (head, p.src, p.dst, p.next_header)
    except ValueError as e:
        return "%s MALFORMED (%s): %s" % (head, e, raw[:80].hex())
    return "%s %d bytes" % (head, len(raw))


class Reply:
    """A reply frame, parsed: frame (Ethernet), ip (IPv4UDP / UDP6 /
    IPv6Packet) and msg (DHCP4 / DHCP6 / RA)."""

    def __init__(self, frame, ip, msg):
        self.frame, self.ip, self.msg = frame, ip, msg


def _malformed(what, raw, e):
    raise AssertionError("the daemon sent a malformed %s (%s): %s" % (what, e, raw.hex()))


def dhcp4_reply(want_xid=None):
    """Matches any frame from UDP port 67 (and fails on a malformed one);
    with want_xid, only that transaction's."""
    def match(raw):
        f = parse_eth(raw)
        p = f.payload
        if f.ethertype != ETH_P_IP or len(p) < 24 or p[9] != IPPROTO_UDP:
            return None
        ihl = (p[0] & 15) * 4
        if len(p) < ihl + 4 or struct.unpack("!H", p[ihl:ihl + 2])[0] != DHCP_SERVER_PORT:
            return None
        try:
            u = parse_ipv4_udp(p)
            m = parse_dhcp4(u.payload)
        except ValueError as e:
            _malformed("DHCPv4 reply", raw, e)
        if want_xid is not None and m.xid != want_xid:
            return None
        return Reply(f, u, m)
    return match


def router_advertisement():
    def match(raw):
        f = parse_eth(raw)
        p = f.payload
        if f.ethertype != ETH_P_IPV6 or len(p) < 41 or p[6] != IPPROTO_ICMPV6 or p[40] != ND_RA:
            return None
        try:
            ip = parse_ipv6(p)
            return Reply(f, ip, parse_ra(ip.payload))
        except ValueError as e:
            _malformed("Router Advertisement", raw, e)
    return match


def dhcp6_reply(want_txid=None):
    def match(raw):
        f = parse_eth(raw)
        p = f.payload
        if f.ethertype != ETH_P_IPV6 or len(p) < 48 or p[6] != IPPROTO_UDP:
            return None
        if struct.unpack("!H", p[40:42])[0] != DHCP6_SERVER_PORT:
            return None
        try:
            u = parse_udp6(p)
            m = parse_dhcp6(u.payload)
        except ValueError as e:
            _malformed("DHCPv6 reply", raw, e)
        if want_txid is not None and m.txid != want_txid:
            return None
        return Reply(f, u, m)
    return match


def any_service_reply(raw):
    for m in (dhcp4_reply(), router_advertisement(), dhcp6_reply()):
        r = m(raw)
        if r is not None:
            return r
    return None


class GuestLink:
    """The guest's end of a TAP: its fd carries plain Ethernet frames."""

    def __init__(self, fd, mac, tap_mac):
        self.fd = fd
        os.set_blocking(fd, False)
        self.backlog = []  # read from fd, not yet consumed
        self.mac = mac
        self.tap_mac = tap_mac
        self.ll = link_local(mac)
        self.router_ll = link_local(tap_mac)

    @classmethod
    def for_slot(cls, slot, fd):
        # The TAP's own MAC is 06:74:6c:SS:SS:SS (SPEC section 2).
        return cls(fd, slot["mac"], "06" + slot["mac"][2:])

    def send(self, frame):
        os.write(self.fd, frame)

    def _read_queued(self):
        while True:
            try:
                self.backlog.append(os.read(self.fd, 65536))
            except BlockingIOError:
                return

    def pending(self):
        """Every frame queued now (and not yet consumed), without waiting."""
        self._read_queued()
        out, self.backlog = self.backlog, []
        return out

    def frames(self, timeout):
        """Frames one by one as they come, until timeout seconds passed;
        a frame not taken stays for the next reader."""
        deadline = time.monotonic() + timeout
        while True:
            if self.backlog:
                yield self.backlog.pop(0)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                self._read_queued()

    def expect(self, match, what, timeout=None):
        """(the first frame match() says something about, [frames before it])."""
        timeout = REPLY_WITHIN if timeout is None else timeout
        before = []
        for raw in self.frames(timeout):
            v = match(raw)
            if v is not None:
                return v, before
            before.append(raw)
        raise AssertionError("no %s within %.0f s; frames seen meanwhile:\n  %s" % (
            what, timeout, "\n  ".join(describe(b) for b in before) or "none"))

    # ---- what a guest sends

    def dhcp4(self, msg, src_ip="0.0.0.0", dst_ip="255.255.255.255", dst_mac=BROADCAST_MAC, src_mac=None,
              sport=DHCP_CLIENT_PORT, **ipkw):
        self.send(eth(dst_mac, src_mac or self.mac, ETH_P_IP,
                      ipv4_udp(src_ip, dst_ip, sport, DHCP_SERVER_PORT, msg, **ipkw)))

    def rs(self, src=None, with_slla=True, **kw):
        src = self.ll if src is None else src
        self.send(eth(multicast_mac(ALL_ROUTERS), self.mac, ETH_P_IPV6,
                      router_solicitation(src, self.mac if with_slla else None, **kw)))

    def dhcp6(self, msg, src=None, **kw):
        src = self.ll if src is None else src
        self.send(eth(multicast_mac(ALL_DHCP), self.mac, ETH_P_IPV6,
                      udp6(src, ALL_DHCP, DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT, msg, **kw)))


IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
TUNSETIFF = 0x400454CA


def open_tap(name, mac):
    """A TAP device of the test's own (not the daemon's), up, with mac;
    returns its fd (plain frames)."""
    import fcntl
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    run("ip", "link", "set", "dev", name, "address", mac)
    run("ip", "link", "set", "dev", name, "up")
    return fd


def require_tool(name, package):
    for d in ("", "/usr/sbin/", "/sbin/"):
        path = shutil.which(name) if not d else (d + name if os.access(d + name, os.X_OK) else None)
        if path:
            return path
    raise RuntimeError("%s is missing: install %s (scripts/install-deps.sh installs everything in "
                       "scripts/deps.txt)" % (name, package))


class StandInGuest:
    """A guest's network stack without a VM: frame_pump.py in a network,
    mount and UTS namespace of its own, pumping the NIC eth0 (the slot's
    guest MAC) to and from the slot's fd."""

    def __init__(self, slot, fd, scratch):
        self.scratch = scratch
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--uts", "--propagation", "private",
             PYTHON, FRAME_PUMP, str(fd), "eth0", slot["mac"], scratch],
            pass_fds=[fd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise AssertionError("frame_pump.py did not start: %s %s" % (line, self.proc.stderr.read()))

    def cmd(self, *argv):
        return ["nsenter", "-t", str(self.proc.pid), "-n", "-m", "-u", "--"] + list(argv)

    def run(self, *argv, check=False):
        return run(*self.cmd(*argv), check=check)

    def ip_json(self, *args):
        out = self.run("ip", "-j", *args).stdout
        return json.loads(out) if out.strip() else []

    def state(self):
        """What the guest has configured, to compare with what it must have."""
        link = self.ip_json("link", "show", "dev", "eth0")
        addrs = self.ip_json("addr", "show", "dev", "eth0")
        info = addrs[0].get("addr_info", []) if addrs else []
        v4 = sorted("%s/%d" % (a["local"], a["prefixlen"]) for a in info
                    if a["family"] == "inet" and a.get("scope") == "global")
        v6 = sorted(a["local"] for a in info if a["family"] == "inet6" and a.get("scope") == "global"
                    and not a.get("tentative"))
        def default(fam):
            routes = self.ip_json(fam, "route", "show", "default")
            gws = sorted("%s dev %s" % (r.get("gateway"), r.get("dev")) for r in routes)
            mtus = sorted({m["mtu"] for r in routes for m in r.get("metrics", []) if "mtu" in m})
            return gws, mtus
        resolv = self.run("cat", "/etc/resolv.conf").stdout
        default4, route_mtu4 = default("-4")
        default6, route_mtu6 = default("-6")
        ipv6_mtu = self.run("cat", "/proc/sys/net/ipv6/conf/eth0/mtu").stdout.strip()
        return {
            "mtu": link[0]["mtu"] if link else None,
            "ipv4": v4, "ipv6": v6,
            "default4": default4, "default6": default6,
            # a route's own MTU (dhcpcd puts option 26 and the RA's MTU there)
            "route_mtu4": route_mtu4, "route_mtu6": route_mtu6,
            # the IPv6 MTU a kernel takes from an RA's MTU option
            "ipv6_mtu": int(ipv6_mtu) if ipv6_mtu.isdigit() else None,
            "nameservers": sorted(re.findall(r"^nameserver\s+(\S+)", resolv, re.M)),
            # dhclient writes a DHCPv6 domain list as FQDNs ("guests.example.")
            "search": sorted({d.rstrip(".") for d in
                              " ".join(re.findall(r"^(?:search|domain)\s+(.*)$", resolv, re.M)).split()}),
        }

    def log_tail(self, name, lines=40):
        try:
            with open(os.path.join(self.scratch, name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no %s)" % name

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def stop_process(p):
    """SIGTERM to a process this test started (its own session), then
    SIGKILL to that session if it lingers."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10 * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
