# SPDX-License-Identifier: MIT
"""Routed mode: a fleet of hosts, each with its own taplinkd and its own
pool, `masquerade = no`, and the hosts' routing carrying guest traffic
without NAT (docs/taplinkd.conf.5, "Many hosts"; README "Many hosts").

Four network namespaces, none of them the runner's:

    guest A --tl0-- host A --veth 192.0.2.0/30-- host B --veth 198.51.100.0/30-- world
                                                    |
                                         guest B --tm0

Host A is this test's own namespace (pool 10.213.0.0/24, interfaces tl*);
host B runs a second taplinkd (pool 10.214.0.0/24, interfaces tm*). Each
host has a static route to the other's pool, host A's default route goes
through host B, and the world routes both pools back to host B, as a BGP
speaker (FRR, BIRD) announcing each pool would arrange. The guests are
stand-in guests (frame_pump.py: a network stack of their own on the slot's
fd), configured with the addresses their slot hands out."""

import os
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Daemon, Namespace, PYTHON, TIMEOUT_SCALE, require_sandbox, run  # noqa: E402
from guest_link import StandInGuest  # noqa: E402

POOL_A, POOL_B = "10.213.0.0/24", "10.214.0.0/24"
WORLD = "198.51.100.2"
PORT = 7000

# Answers each UDP datagram with the address it came from: what the world
# (or another guest) sees as the sender.
ECHO_SOURCE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(512)
    s.sendto(peer[0].encode(), peer)
"""

# Sends one datagram, prints the answer (or "timeout").
ASK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[3]))
for _ in range(5):
    s.sendto(b"who am i", (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recv(512).decode())
        break
    except socket.timeout:
        pass
else:
    print("timeout")
"""


class RoutedTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        require_sandbox()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.procs = []
        try:
            cls._build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _build(cls):
        cls.host_b = Namespace()
        cls.world = Namespace()
        run("ip", "link", "set", "lo", "up")
        cls.host_b.run("ip", "link", "set", "lo", "up")
        cls.world.run("ip", "link", "set", "lo", "up")
        # host A <-> host B
        run("ip", "link", "add", "to-b", "type", "veth", "peer", "name", "to-a", "netns", cls.host_b.netns)
        run("ip", "addr", "add", "192.0.2.1/30", "dev", "to-b")
        run("ip", "link", "set", "to-b", "up")
        cls.host_b.run("ip", "addr", "add", "192.0.2.2/30", "dev", "to-a")
        cls.host_b.run("ip", "link", "set", "to-a", "up")
        # host B <-> the world
        cls.host_b.run("ip", "link", "add", "to-world", "type", "veth", "peer", "name", "to-b", "netns",
                       cls.world.netns)
        cls.host_b.run("ip", "addr", "add", "198.51.100.1/30", "dev", "to-world")
        cls.host_b.run("ip", "link", "set", "to-world", "up")
        cls.world.run("ip", "addr", "add", WORLD + "/30", "dev", "to-b")
        cls.world.run("ip", "link", "set", "to-b", "up")
        # Static routes where a fleet would run a routing daemon.
        run("ip", "route", "add", "default", "via", "192.0.2.2")
        cls.host_b.run("ip", "route", "add", POOL_A, "via", "192.0.2.1")
        for pool in (POOL_A, POOL_B):
            cls.world.run("ip", "route", "add", pool, "via", "198.51.100.1")

        a_dir = os.path.join(cls.tmp.name, "a")
        b_dir = os.path.join(cls.tmp.name, "b")
        os.makedirs(a_dir)
        os.makedirs(b_dir)
        routed = {"network.masquerade": "no", "network.ipv6": "no", "network.ipv4_prefix": "30"}
        cls.daemon_a = Daemon(a_dir, config=dict(routed, **{"network.ipv4_pool": POOL_A}))
        cls.daemon_b = Daemon(b_dir, config=dict(routed, **{"network.ipv4_pool": POOL_B,
                                                            "daemon.ifname_prefix": "tm"}),
                              wrapper=cls.host_b.cmd())
        cls.daemon_a.start()
        cls.daemon_b.start()
        cls.guest_a = cls._guest(cls.daemon_a, "ga")
        cls.guest_b = cls._guest(cls.daemon_b, "gb")

        cls.echo_world = cls._serve(cls.world)
        cls.echo_guest_b = cls._serve(cls.guest_b)

    @classmethod
    def _guest(cls, daemon, name):
        c = daemon.client()
        slot, fds = c.acquire(vnetHeader=False, label=name)
        c.close()
        scratch = os.path.join(cls.tmp.name, name)
        os.makedirs(scratch)
        g = StandInGuest(slot, fds[0], scratch)
        os.close(fds[0])
        g.slot = slot
        v4 = slot["ipv4"]
        g.run("ip", "addr", "add", "%s/%d" % (v4["guest"], v4["prefixLength"]), "dev", "eth0", check=True)
        g.run("ip", "route", "add", "default", "via", v4["gateway"], check=True)
        return g

    @classmethod
    def _serve(cls, ns):
        p = subprocess.Popen(ns.cmd(PYTHON, "-c", ECHO_SOURCE, str(PORT)), stdout=subprocess.PIPE, text=True)
        cls.procs.append(p)
        if p.stdout.readline().strip() != "ready":
            raise AssertionError("the UDP echo server did not start")
        return p

    @classmethod
    def tearDownClass(cls):
        for p in getattr(cls, "procs", []):
            p.kill()
            p.wait()
            p.stdout.close()
        for name in ("guest_a", "guest_b"):
            g = getattr(cls, name, None)
            if g:
                g.stop()
        for name in ("daemon_a", "daemon_b"):
            d = getattr(cls, name, None)
            if d:
                d.cleanup()
        for name in ("host_b", "world"):
            ns = getattr(cls, name, None)
            if ns:
                ns.stop()
        run("ip", "link", "del", "to-b", check=False)
        cls.tmp.cleanup()

    def ask(self, guest, address):
        return self.ask_at_once((guest, address))[0]

    def ask_at_once(self, *asks):
        """ASK for each (guest, address) at once, so that those that time
        out wait together: the answers, in order."""
        procs = [subprocess.Popen(guest.cmd(PYTHON, "-c", ASK, address, str(PORT), str(1.0 * TIMEOUT_SCALE)),
                                  stdout=subprocess.PIPE, text=True) for guest, address in asks]
        return [p.communicate()[0].strip() for p in procs]

    def test_guest_reaches_the_world_without_nat(self):
        # The world sees the guest's own address: nothing translated it.
        self.assertEqual(self.ask(self.guest_a, WORLD), self.guest_a.slot["ipv4"]["guest"])

    def test_guests_on_two_hosts_reach_each_other(self):
        # Each taplinkd isolates its own slots; across hosts, isolation is
        # the routing's (or a firewall's) business.
        self.assertEqual(self.ask(self.guest_a, self.guest_b.slot["ipv4"]["guest"]),
                         self.guest_a.slot["ipv4"]["guest"])

    def restart_a(self, isolate):
        d = self.daemon_a
        d.stop()
        with open(d.conf) as f:
            lines = [l for l in f if not l.startswith("isolate")]
        if isolate:
            lines.insert(lines.index("[network]\n") + 1, "isolate = %s\n" % isolate)
        with open(d.conf, "w") as f:
            f.writelines(lines)
        d.start()

    def test_isolate_names_the_fleet(self):
        # isolate = the fleet's prefix: guests on host A no longer reach
        # guests on host B (the replies of B's guests to them are dropped
        # too), and still reach the world.
        self.restart_a("10.212.0.0/14, 192.0.2.128/25, fd00::/8")
        try:
            self.assertEqual(self.ask_at_once((self.guest_a, self.guest_b.slot["ipv4"]["guest"]),
                                              (self.guest_b, self.guest_a.slot["ipv4"]["guest"]),
                                              (self.guest_a, WORLD)),
                             ["timeout", "timeout", self.guest_a.slot["ipv4"]["guest"]])
            ruleset = run("nft", "list", "table", "inet", self.daemon_a.table).stdout
            self.assertIn('iifname "tl*" ip daddr { 10.212.0.0/14, 192.0.2.128/25 } drop', ruleset)
            self.assertIn('iifname "tl*" ip6 daddr fd00::/8 drop', ruleset)
        finally:
            self.restart_a(None)
        # Back to the default (the pool itself): reachable again.
        self.assertEqual(self.ask(self.guest_a, self.guest_b.slot["ipv4"]["guest"]),
                         self.guest_a.slot["ipv4"]["guest"])

    def test_each_host_keeps_its_own_pool(self):
        self.assertTrue(self.guest_a.slot["ipv4"]["guest"].startswith("10.213.0."))
        self.assertTrue(self.guest_b.slot["ipv4"]["guest"].startswith("10.214.0."))
        self.assertEqual(self.guest_a.slot["ifname"], "tl0")
        self.assertEqual(self.guest_b.slot["ifname"], "tm0")
        tables = self.host_b.run("nft", "list", "tables").stdout
        self.assertIn(self.daemon_b.table, tables)
        # The table of routed mode has no masquerade rule; by default the
        # pools themselves are isolated.
        ruleset = run("nft", "list", "table", "inet", self.daemon_a.table).stdout
        self.assertNotIn("masquerade", ruleset)
        self.assertIn('iifname "tl*" ip daddr 10.213.0.0/24 drop', ruleset)
        self.assertIn('iifname "tl*" ip6 daddr fd74:6c00::/48 drop', ruleset)


if __name__ == "__main__":
    unittest.main()
