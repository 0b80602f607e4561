# SPDX-License-Identifier: MIT
"""Guest services (SPEC section 9; docs/DESIGN.md, "Guest services"), the
daemon's side: nothing bound on UDP 67/547, no UDP or raw socket, packet
sockets not growing with the slots; the nft sets and rules unchanged; a
flood of DISCOVERs dropped and counted in Status.guestServicesDropped,
answered at most at the rate limit, beside another client's Acquires;
TAPs the daemon did not make and a veth of the host unanswered. The
frames themselves: test_guest.py; what the suites share: guest_case.py.
"""

import os
import re
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TIMEOUT_SCALE, current_elements, expected_elements, run, wait_for  # noqa: E402
from packets import (  # noqa: E402
    ALL_ROUTERS, BROADCAST_MAC, DISCOVER, ETH_P_IP, ETH_P_IPV6, dhcp4, eth, ipv4_udp, link_local, mac_str,
    multicast_mac, router_solicitation)
from guest_link import (  # noqa: E402
    GuestLink, any_service_reply, describe, dhcp4_reply, dhcp6_reply, open_tap, router_advertisement)
from guest_case import EXPLICIT_DNS, NO_REPLY_WINDOW, xid, SlotTestCase  # noqa: E402

# An Acquire by another client while one slot's guest floods DHCP (as
# fast as a Python thread writes: some 150,000 DISCOVERs a second).
# Measured on the 2-vCPU development VM: 1-26 ms, the worst of it the
# test's own GIL shared with the flooding thread; undisturbed about 1 ms.
# A daemon that served the flood first would take seconds.
ACQUIRE_BESIDE_FLOOD = 1.0 * TIMEOUT_SCALE
# The flood lasts at least this long and this many DISCOVERs, and covers
# at least FLOOD_ACQUIRES Acquires.
FLOOD_SECONDS = 1.0
FLOOD_DISCOVERS = 2000
FLOOD_ACQUIRES = 20


# ==================================================================== the daemon's side

def _socket_inodes(pid):
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]$", target)
        if m:
            out.add(int(m.group(1)))
    return out


def _proc_net(name):
    """[(local port or None, inode)] of /proc/net/NAME (this namespace)."""
    with open("/proc/net/" + name) as f:
        lines = f.read().splitlines()
    header = lines[0].split()
    out = []
    for line in lines[1:]:
        cols = line.split()
        if name == "packet":
            out.append((None, int(cols[header.index("Inode")])))
        else:
            port = int(cols[1].rsplit(":", 1)[1], 16)
            out.append((port, int(cols[9])))
    return out


def _chain_rules(table):
    """Every rule of the table as nft -j prints it, without handles."""
    import json
    rules = []
    for obj in json.loads(run("nft", "-j", "list", "table", "inet", table).stdout)["nftables"]:
        if "rule" in obj:
            rule = dict(obj["rule"])
            rule.pop("handle", None)
            rules.append(json.dumps(rule, sort_keys=True))
    return rules


class DaemonSideTest(SlotTestCase):

    def test_nothing_bound_on_udp_and_no_socket_per_slot(self):
        pid = self.d.proc.pid
        # Guest services are live (this answer proves it) ...
        self.offer()
        for table in ("udp", "udp6"):
            bound = [port for port, _ in _proc_net(table) if port in (67, 547)]
            self.assertEqual(bound, [], "a socket bound on UDP %s in the daemon's namespace" % bound)
        mine = _socket_inodes(pid)
        for table in ("udp", "udp6", "raw", "raw6"):
            held = mine & {inode for _, inode in _proc_net(table)}
            self.assertEqual(held, set(), "the daemon holds %s sockets" % table)
        def packet_sockets():
            return _socket_inodes(pid) & {inode for _, inode in _proc_net("packet")}
        before = len(packet_sockets())
        # ... and stay on the same sockets however many slots there are.
        for _ in range(6):
            self.acquire_link(self.c)
        self.assertEqual(len(packet_sockets()), before, "packet sockets grow with the slots")

    def test_anti_spoofing_sets_and_rules_unchanged(self):
        rules = _chain_rules(self.d.table)
        other, other_link = self.acquire_link(self.c)
        for slot, link in ((self.slot, self.link), (other, other_link)):
            self.offer(link)
            link.rs()
            t, _, _ = self.solicit(link)
            link.expect(dhcp6_reply(t), "ADVERTISE")
        # exactly the slots' four elements each, and the same fixed rules
        self.assertEqual(current_elements(self.d.table), expected_elements([self.slot, other]))
        self.assertEqual(_chain_rules(self.d.table), rules)


class FloodTest(SlotTestCase):

    def test_flood_is_dropped_and_counted_and_others_are_served(self):
        c = self.c
        dropped_before = c.call("io.taplinkd.Status")[0]["guestServicesDropped"]
        frame = eth(BROADCAST_MAC, self.link.mac, ETH_P_IP, ipv4_udp(
            "0.0.0.0", "255.255.255.255", 68, 67, dhcp4(DISCOVER, 0x666C6F6F, self.link.mac)))
        stop = threading.Event()
        sent = [0]

        def flood():
            fd = self.link.fd
            while sent[0] < FLOOD_DISCOVERS or not stop.is_set():
                try:
                    os.write(fd, frame)
                    sent[0] += 1
                except BlockingIOError:
                    pass
        t0 = time.monotonic()
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        other = self.client()
        latencies = []
        try:
            while (sent[0] < FLOOD_DISCOVERS or len(latencies) < FLOOD_ACQUIRES or
                   time.monotonic() - t0 < FLOOD_SECONDS):
                a = time.monotonic()
                slot, fds = other.acquire()
                latencies.append(time.monotonic() - a)
                for fd in fds:
                    os.close(fd)
        finally:
            stop.set()
            th.join(30)
        elapsed = time.monotonic() - t0
        self.assertLess(max(latencies), ACQUIRE_BESIDE_FLOOD,
                        "Acquires beside a flood of %d DISCOVERs: %s" % (sent[0], ["%.3f" % x for x in latencies]))
        # The excess is dropped and counted ...
        dropped = wait_for(lambda: (c.call("io.taplinkd.Status")[0]["guestServicesDropped"] - dropped_before) or None,
                           what="Status.guestServicesDropped to grow")
        self.assertGreater(dropped, 0)
        self.assertLessEqual(dropped, sent[0])
        # ... and what is answered stays within 40 at once plus 20 a second
        # (a ceiling twice that, for scheduling).
        offers = [b for b in self.link.pending() if dhcp4_reply(0x666C6F6F)(b) is not None]
        ceiling = 2 * (40 + 20 * (elapsed + 1))
        self.assertLessEqual(len(offers), ceiling, "%d OFFERs for %d DISCOVERs in %.1f s" % (
            len(offers), sent[0], elapsed))
        # The flooding guest is answered again once it behaves.
        wait_for(lambda: self._offered_once(), interval=0.5, what="an OFFER after the flood")
        self.assertIsNone(self.d.proc.poll())

    def _offered_once(self):
        x, _ = self.discover()
        for raw in self.link.frames(0.4):
            if dhcp4_reply(x)(raw) is not None:
                return True
        return False


# ==================================================================== devices the daemon did not make
class ForeignDeviceTest(SlotTestCase):

    config = dict(EXPLICIT_DNS, **{"daemon.max_slots": "4"})

    def test_foreign_devices_get_no_answer(self):
        # Named like slots (out of range, in range but not acquired, not a
        # number), and not: each with the MAC its name would have.
        foreign = {}
        for name, s in (("tl99", 99), ("tl3", 3), ("tlx", 5), ("guestx0", 6)):
            fd = open_tap(name, "06:74:6c:00:00:%02x" % s)
            self.addCleanup(os.close, fd)
            foreign[name] = GuestLink(fd, "02:74:6c:00:00:%02x" % s, "06:74:6c:00:00:%02x" % s)
        # and a veth pair of the host's own
        run("ip", "link", "add", "gtv0", "type", "veth", "peer", "name", "gtv1")
        self.addCleanup(run, "ip", "link", "del", "gtv0", check=False)
        run("ip", "link", "set", "gtv0", "up")
        run("ip", "link", "set", "gtv1", "up")
        veth = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.addCleanup(veth.close)
        veth.bind(("gtv1", 0))
        veth_mac = mac_str(veth.getsockname()[4])
        self.link.expect(router_advertisement(), "the unsolicited RA of the real slot")
        for name, l in foreign.items():
            x, _ = self.discover(l)
            l.rs()
            self.solicit(l)
        veth.send(eth(BROADCAST_MAC, veth_mac, ETH_P_IP, ipv4_udp(
            "0.0.0.0", "255.255.255.255", 68, 67, dhcp4(DISCOVER, xid(), veth_mac))))
        veth.send(eth(multicast_mac(ALL_ROUTERS), veth_mac, ETH_P_IPV6,
                      router_solicitation(link_local(veth_mac), veth_mac)))
        # Sentinels on the real slot, behind them on both sockets
        sentinel4, _ = self.discover()
        self.link.expect(dhcp4_reply(sentinel4), "OFFER on the real slot")
        t, _, _ = self.solicit()
        self.link.expect(dhcp6_reply(t), "ADVERTISE on the real slot")
        for name, l in foreign.items():
            got = [b for b in l.pending() if any_service_reply(b) is not None]
            self.assertEqual(got, [], "%s was answered:\n  %s" % (name, "\n  ".join(describe(b) for b in got)))
        # a veth delivers through the backlog: give it a window as well
        deadline = time.monotonic() + NO_REPLY_WINDOW
        got = []
        veth.setblocking(False)
        while time.monotonic() < deadline:
            r, _, _ = select.select([veth], [], [], deadline - time.monotonic())
            if r:
                raw = veth.recv(65536)
                if any_service_reply(raw) is not None:
                    got.append(raw)
        self.assertEqual(got, [], "the host's own veth was answered:\n  %s" % "\n  ".join(describe(b) for b in got))
        for name in foreign:
            self.assertIsNotNone(run("ip", "link", "show", name, check=False).stdout or None,
                                 "%s was removed" % name)


if __name__ == "__main__":
    unittest.main()
