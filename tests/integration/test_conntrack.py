# SPDX-License-Identifier: MIT
"""Nothing inherited (docs/DESIGN.md, "Nothing inherited"): when a slot
ends, by Release, by its VMM closing the fds, or while the daemon was
down (kill -9, restart), every conntrack entry that carries one of its
guest addresses is gone, in all four places (original and reply, source
and destination) and both families; other slots' entries and unrelated
ones stay.

Entries come from real traffic where the kernel makes them here: frames
written into the slot's fd as its guest, forwarded and masqueraded out of
a veth "world" device (original source = the guest, reply destination =
the host), and datagrams the host sends to the guest's two addresses
(original destination = the guest). The other places (a reply source or
destination that is the guest, as DNAT makes, and IPv6 from the guest)
are made with `conntrack -I`. The table is read with `conntrack -L`; the
daemon itself never runs the tool."""

import ipaddress
import os
import socket
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DaemonTestCase, link, run, wait_for  # noqa: E402
import packets  # noqa: E402

WORLD4 = "192.0.2.1"  # the world device's address
FAR4 = "192.0.2.2"    # a host "out there", behind the world device
FAR6 = "2001:db8::2"


def entries():
    """Every conntrack entry of this namespace, both families, as
    (proto, orig src, orig dst, reply src, reply dst, orig sport, orig dport)."""
    out = []
    for family in ("ipv4", "ipv6"):
        r = run("conntrack", "-L", "-f", family, "-o", "xml", check=False)
        if r.returncode != 0:
            raise AssertionError("conntrack -L failed: %s" % r.stderr)
        if not r.stdout.strip():
            continue  # no entry of this family: the tool prints nothing
        for flow in ET.fromstring(r.stdout).iter("flow"):
            metas = {m.get("direction"): m for m in flow.iter("meta")}
            o, p = metas["original"], metas["reply"]
            l4 = o.find("layer4")
            out.append((l4.get("protoname"),
                        str(ipaddress.ip_address(o.findtext("layer3/src"))),
                        str(ipaddress.ip_address(o.findtext("layer3/dst"))),
                        str(ipaddress.ip_address(p.findtext("layer3/src"))),
                        str(ipaddress.ip_address(p.findtext("layer3/dst"))),
                        l4.findtext("sport"), l4.findtext("dport")))
    return out


def about(table, slot):
    """The entries that carry one of the slot's guest addresses."""
    guests = {slot["ipv4"]["guest"], str(ipaddress.ip_address(slot["ipv6"]["guest"]))}
    return [e for e in table if guests & set(e[1:5])]


def insert(src, dst, sport, dport, reply_src, reply_dst):
    """An entry made by hand: UDP src:sport -> dst:dport, its reply
    reply_src:dport -> reply_dst:sport."""
    run("conntrack", "-I", "-p", "udp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport),
        "--reply-src", reply_src, "--reply-dst", reply_dst, "--reply-port-src", str(dport),
        "--reply-port-dst", str(sport), "-t", "600")


class ConntrackTest(DaemonTestCase):

    config = {"daemon.forward_ipv6": "yes"}

    def setUp(self):
        super().setUp()
        # The world: a veth whose far side drops what it gets (the frames
        # are for another MAC), with the far hosts' neighbours fixed.
        run("ip", "link", "add", "world0", "type", "veth", "peer", "name", "world1")
        run("ip", "addr", "add", WORLD4 + "/24", "dev", "world0")
        run("ip", "addr", "add", "2001:db8::1/64", "dev", "world0", "nodad")
        run("ip", "link", "set", "world0", "up")
        run("ip", "link", "set", "world1", "up")
        run("ip", "neigh", "add", FAR4, "lladdr", "02:00:00:00:00:02", "dev", "world0")
        run("ip", "neigh", "add", FAR6, "lladdr", "02:00:00:00:00:02", "dev", "world0")
        self.addCleanup(run, "ip", "link", "del", "world0", check=False)
        self.c = self.client()
        self.port = 20000
        # The suite's namespace keeps its table from test to test.
        run("conntrack", "-F", "-f", "ipv4", check=False)
        run("conntrack", "-F", "-f", "ipv6", check=False)
        # Unrelated to any slot: must survive everything.
        insert("192.0.2.50", "192.0.2.51", 7, 7, "192.0.2.51", "192.0.2.50")
        insert("2001:db8::50", "2001:db8::51", 7, 7, "2001:db8::51", "2001:db8::50")

    def acquire(self, **params):
        slot, fds = self.c.acquire(vnetHeader=False, **params)
        self.addCleanup(close_all, fds)
        return slot, fds

    def next_port(self):
        self.port += 1
        return self.port

    def make_entries(self, slot, fd):
        """Entries with the slot's guest address in each of the four
        places, in both families; returns how many."""
        guest4, gw4 = slot["ipv4"]["guest"], slot["ipv4"]["gateway"]
        guest6 = str(ipaddress.ip_address(slot["ipv6"]["guest"]))
        host_mac = "06" + slot["mac"][2:]
        # The guest sends out: forwarded and masqueraded by the kernel.
        sport = self.next_port()
        os.write(fd, packets.eth(host_mac, slot["mac"], packets.ETH_P_IP,
                                 packets.ipv4_udp(guest4, FAR4, sport, 53, b"out")))
        os.write(fd, packets.eth(host_mac, slot["mac"], packets.ETH_P_IPV6,
                                 packets.udp6(guest6, FAR6, sport, 53, b"out", hop_limit=64)))
        # The host sends to the guest, in both families.
        for family, addr in ((socket.AF_INET, guest4), (socket.AF_INET6, guest6)):
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.sendto(b"in", (addr, self.next_port()))
        # A reply from the guest (DNAT to it) and a reply to it.
        insert("192.0.2.9", WORLD4, self.next_port(), 80, guest4, "192.0.2.9")
        insert("192.0.2.9", "192.0.2.10", self.next_port(), 80, "192.0.2.10", guest4)
        insert("2001:db8::9", "2001:db8::1", self.next_port(), 80, guest6, "2001:db8::9")
        # Next to it but not it: the slot's gateway address stays.
        insert("192.0.2.9", gw4, self.next_port(), 22, gw4, "192.0.2.9")
        expected = 7
        wait_for(lambda: len(about(entries(), slot)) >= expected, what="%d entries of slot %d" % (expected, slot["slot"]))
        mine = about(entries(), slot)
        places = {i for e in mine for i in range(1, 5)
                  if e[i] in (guest4, guest6)}
        self.assertEqual(places, {1, 2, 3, 4}, mine)
        self.assertTrue(any(e[1] == guest4 and e[4] == WORLD4 for e in mine), "no masqueraded flow: %s" % mine)
        self.assertTrue(any(e[1] == guest6 for e in mine), mine)
        self.assertTrue(any(e[2] == guest6 for e in mine), mine)
        return len(mine)

    def others(self, gone):
        """Every entry but those of the slots in gone."""
        table = entries()
        theirs = {e for s in gone for e in about(table, s)}
        return sorted(set(table) - theirs)

    def test_release(self):
        a, fa = self.acquire(label="a")
        b, fb = self.acquire(label="b")
        self.make_entries(a, fa[0])
        self.make_entries(b, fb[0])
        kept = self.others([a])
        self.c.call("io.taplinkd.Release", {"slot": a["slot"]})
        # The reply means the slot is free again: its entries are gone by now.
        self.assertEqual(about(entries(), a), [])
        self.assertEqual(self.others([a]), kept)
        self.assertGreaterEqual(len(about(entries(), b)), 7)
        self.assertIn("192.0.2.50", {e[1] for e in entries()})

    def test_vmm_exit(self):
        a, fa = self.acquire(label="a")
        b, fb = self.acquire(label="b")
        self.make_entries(a, fa[0])
        self.make_entries(b, fb[0])
        kept = self.others([a])
        close_all(fa)
        wait_for(lambda: link(a["ifname"]) is None, what="%s gone" % a["ifname"])
        wait_for(lambda: about(entries(), a) == [], what="the entries of %s gone" % a["ifname"])
        self.assertEqual(self.others([a]), kept)

    def test_many_released_together(self):
        slots = [self.acquire(label="s%d" % i) for i in range(5)]
        for s, fds in slots:
            self.make_entries(s, fds[0])
        gone = [s for s, _ in slots[:4]]
        kept = self.others(gone)
        for s in gone:
            self.c.send({"method": "io.taplinkd.Release", "parameters": {"slot": s["slot"]}})
        for s in gone:
            reply, _ = self.c.recv()
            self.assertNotIn("error", reply, reply)
        for s in gone:
            self.assertEqual(about(entries(), s), [], s["ifname"])
        self.assertEqual(self.others(gone), kept)
        self.assertGreaterEqual(len(about(entries(), slots[4][0])), 7)
        # How the deletions went together (one pass for a burst, or not,
        # as the reaper's timing has it).
        for line in self.d.log_text().splitlines():
            if "conntrack entries deleted in" in line:
                sys.stderr.write("\n    " + line.strip())

    def test_slot_gone_while_daemon_down(self):
        a, fa = self.acquire(label="a")
        b, fb = self.acquire(label="b")
        self.make_entries(a, fa[0])
        self.make_entries(b, fb[0])
        kept = self.others([a])
        self.d.kill9()
        close_all(fa)
        wait_for(lambda: link(a["ifname"]) is None, what="%s gone" % a["ifname"])
        self.assertGreaterEqual(len(about(entries(), a)), 7)
        self.d.start()
        # READY=1 comes after the reconcile: nothing of a is left, b was
        # adopted and keeps its entries.
        self.assertEqual(about(entries(), a), [])
        self.assertEqual(self.others([a]), kept)
        self.assertIn("conntrack entries of slots not live deleted", self.d.log_text())


def close_all(fds):
    """Closes a slot's fds (its VMM exits); the list is left empty."""
    while fds:
        os.close(fds.pop())


if __name__ == "__main__":
    unittest.main()
