# SPDX-License-Identifier: MIT
"""Published ports against the real daemon and real packets (docs/DESIGN.md,
"Published ports"; io.taplinkd.varlink: Port, Acquire's publish, Publish,
Unpublish, PortInUse): a TCP and a UDP port reached from another host (the
world namespace) and from the host itself, over IPv4 and IPv6, with the
client's real address seen by the guest; a port on one host address; what
loopback does; PortInUse, the port range for non-root callers, the
per-slot limit, errors that change nothing; Unpublish; the maps emptied
when a slot ends; kill -9 and a restart. The network is egress_net.py's:
this namespace is the host, the world namespace another host."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import PYTHON, ClientProcess, VarlinkError, run, wait_for  # noqa: E402
from egress_net import HOST_V4, HOST_V6, WORLD_V4, WORLD_V6, probe  # noqa: E402
from test_egress import EgressNet  # noqa: E402

OTHER_UID = 1000  # in the daemon's allow_users (harness.Daemon)
HOST_V4_OTHER = "192.0.2.3"  # a second address of the host
MAPS = ("published_v4", "published_any_v4", "published_v6", "published_any_v6")

# In the guest: answers each TCP connection and each UDP datagram with the
# client's address as the guest sees it (egress_net.probe() reports it).
# argv[1]: [[proto, port]...].
PEER_SERVER = r"""
import json, socket, sys, threading
def serve_tcp(s):
    s.listen(16)
    while True:
        c, peer = s.accept()
        with c:
            c.sendall(peer[0].replace("::ffff:", "").encode())
def serve_udp(s):
    while True:
        _, peer = s.recvfrom(64)
        s.sendto(peer[0].replace("::ffff:", "").encode(), peer)
for proto, port in json.loads(sys.argv[1]):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    threading.Thread(target=serve_tcp if proto == "tcp" else serve_udp, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

def map_elements(table):
    """{map name: sorted elements as nft -j prints them} of the four maps."""
    out = {}
    for name in MAPS:
        r = run("nft", "-j", "list", "map", "inet", table, name, check=False)
        if r.returncode != 0:
            out[name] = None
            continue
        for obj in json.loads(r.stdout)["nftables"]:
            if "map" in obj:
                out[name] = sorted(json.dumps(e, sort_keys=True) for e in obj["map"].get("elem", []))
    return out


def port(proto, host, guest, address=None):
    p = {"protocol": proto, "hostPort": host, "guestPort": guest}
    if address:
        p["hostAddress"] = address
    return p


class PublishNet(EgressNet):
    """test_egress's daemon and world, with a second host address, and
    guests serving their peer's address."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            run("ip", "addr", "add", HOST_V4_OTHER + "/24", "dev", "to-world")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def new_guest(cls, name, serve=(("tcp", 8080), ("udp", 8081)), **params):
        """A slot with a stand-in guest on it serving PEER_SERVER; its fd
        stays open in the guest's frame pump only."""
        g = super().new_guest(name, **params)
        p = subprocess.Popen(g.cmd(PYTHON, "-c", PEER_SERVER, json.dumps([list(s) for s in serve])),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        cls.servers.append(p)
        if p.stdout.readline().strip() != "ready":
            raise AssertionError("the guest's server did not start")
        return g

    def call(self, method, **params):
        return self.client.call("io.taplinkd." + method, params)[0]

    def listed(self, slot):
        for s in self.call("List")["slots"]:
            if s["slot"] == slot["slot"]:
                return s
        return None

    def assertError(self, error, method, **params):
        with self.assertRaises(VarlinkError) as e:
            self.call(method, **params)
        self.assertEqual(e.exception.name, error)
        return e.exception.parameters


class PublishTest(PublishNet):

    def test_reached_from_another_host_and_from_the_host_itself(self):
        # Egress none: replies to connections made to the guest still pass.
        g = self.new_guest("web", egress="none",
                           publish=[port("tcp", 20080, 8080), port("udp", 20081, 8081)])
        self.assertEqual(g.slot["published"], [port("tcp", 20080, 8080), port("udp", 20081, 8081)])
        # From another host: the guest sees the client's real address.
        self.assertEqual(probe(self.world.cmd(), [("tcp", HOST_V4, 20080), ("udp", HOST_V4, 20081),
                                                  ("tcp", HOST_V6, 20080), ("udp", HOST_V6, 20081)]),
                         {("tcp", HOST_V4, 20080): WORLD_V4, ("udp", HOST_V4, 20081): WORLD_V4,
                          ("tcp", HOST_V6, 20080): WORLD_V6, ("udp", HOST_V6, 20081): WORLD_V6})
        # From the host itself, to any of its addresses but loopback
        # (nothing listens there: refused, as before).
        self.assertEqual(probe([], [("tcp", HOST_V4, 20080), ("tcp", HOST_V4_OTHER, 20080),
                                    ("tcp", g.slot["ipv4"]["gateway"], 20080), ("tcp", HOST_V6, 20080),
                                    ("tcp", "127.0.0.1", 20080), ("tcp", "::1", 20080)]),
                         # (a secondary address's local route has the primary as its source)
                         {("tcp", HOST_V4, 20080): HOST_V4, ("tcp", HOST_V4_OTHER, 20080): HOST_V4,
                          ("tcp", g.slot["ipv4"]["gateway"], 20080): g.slot["ipv4"]["gateway"],
                          ("tcp", HOST_V6, 20080): HOST_V6,
                          ("tcp", "127.0.0.1", 20080): "refused", ("tcp", "::1", 20080): "refused"})
        # Another port, and traffic the host forwards elsewhere, are left alone.
        self.assertEqual(probe(self.world.cmd(), [("tcp", HOST_V4, 20082)]), {("tcp", HOST_V4, 20082): "refused"})

    def test_one_host_address(self):
        g = self.new_guest("one", publish=[port("tcp", 20090, 8080, HOST_V4_OTHER)])
        self.assertEqual(self.listed(g.slot)["published"], [port("tcp", 20090, 8080, HOST_V4_OTHER)])
        self.assertEqual(probe(self.world.cmd(), [("tcp", HOST_V4_OTHER, 20090), ("tcp", HOST_V4, 20090),
                                                  ("tcp", HOST_V6, 20090)]),
                         {("tcp", HOST_V4_OTHER, 20090): WORLD_V4, ("tcp", HOST_V4, 20090): "refused",
                          ("tcp", HOST_V6, 20090): "refused"})

    def test_publish_and_unpublish_a_live_slot(self):
        g = self.new_guest("live")
        self.assertEqual(g.slot["published"], [])
        one = [("tcp", HOST_V4, 20100)]
        self.assertEqual(probe(self.world.cmd(), one), {one[0]: "refused"})
        slot = self.call("Publish", slot=g.slot["slot"], port=port("tcp", 20100, 8080))["slot"]
        self.assertEqual(slot["published"], [port("tcp", 20100, 8080)])
        self.assertEqual(probe(self.world.cmd(), one), {one[0]: WORLD_V4})
        # Unpublish names the port by protocol, host port and address.
        slot = self.call("Unpublish", slot=g.slot["slot"], port=port("tcp", 20100, 1))["slot"]
        self.assertEqual(slot["published"], [])
        self.assertEqual(probe(self.world.cmd(), one), {one[0]: "refused"})
        self.assertError("org.varlink.service.InvalidParameter", "Unpublish", slot=g.slot["slot"],
                         port=port("tcp", 20100, 8080))

    def test_port_in_use(self):
        a = self.new_guest("a", publish=[port("tcp", 20200, 8080), port("udp", 20201, 8081, HOST_V4)])
        b = self.new_guest("b")
        before = map_elements(self.daemon.table)
        for p in (port("tcp", 20200, 9), port("tcp", 20200, 8080, HOST_V4),  # on the wildcard
                  port("udp", 20201, 8081, HOST_V4), port("udp", 20201, 8081)):  # the same; the wildcard over it
            with self.subTest(port=p):
                e = self.assertError("io.taplinkd.PortInUse", "Publish", slot=b.slot["slot"], port=p)
                self.assertEqual(e, {"protocol": p["protocol"], "hostPort": p["hostPort"]})
                # Its own port again is in use as well.
                self.assertError("io.taplinkd.PortInUse", "Publish", slot=a.slot["slot"], port=p)
        # In an Acquire: refused before anything is made.
        with self.assertRaises(VarlinkError) as e:
            self.client.acquire(vnetHeader=False, publish=[port("tcp", 20200, 80)])
        self.assertEqual(e.exception.name, "io.taplinkd.PortInUse")
        self.assertEqual(map_elements(self.daemon.table), before)
        # Other protocols, ports and addresses are free.
        self.call("Publish", slot=b.slot["slot"], port=port("udp", 20200, 8081))
        self.call("Publish", slot=b.slot["slot"], port=port("udp", 20201, 8081, HOST_V4_OTHER))
        self.assertEqual(probe(self.world.cmd(), [("tcp", HOST_V4, 20200), ("udp", HOST_V4, 20200),
                                                  ("udp", HOST_V4_OTHER, 20201)]),
                         {("tcp", HOST_V4, 20200): WORLD_V4, ("udp", HOST_V4, 20200): WORLD_V4,
                          ("udp", HOST_V4_OTHER, 20201): WORLD_V4})

    def test_malformed_ports_change_nothing(self):
        g = self.new_guest("bad")
        before = (self.listed(g.slot), map_elements(self.daemon.table))
        for p in ({"protocol": "sctp", "hostPort": 20300, "guestPort": 1}, port("tcp", 0, 1), port("tcp", 20300, 65536),
                  port("tcp", 20300, 80, "127.0.0.1"), port("tcp", 20300, 80, "fe80::1"),
                  port("tcp", 20300, 80, "192.0.2.0/24"), dict(port("tcp", 20300, 80), extra=1),
                  {"protocol": "tcp", "hostPort": "20300", "guestPort": 80}):
            with self.subTest(port=p):
                e = self.assertError("org.varlink.service.InvalidParameter", "Publish", slot=g.slot["slot"], port=p)
                self.assertEqual(e, {"parameter": "port"})
                with self.assertRaises(VarlinkError) as e:
                    self.client.acquire(vnetHeader=False, publish=[p])
                self.assertEqual(e.exception.parameters, {"parameter": "publish"})
        # Two that conflict in one Acquire.
        with self.assertRaises(VarlinkError) as e:
            self.client.acquire(vnetHeader=False, publish=[port("tcp", 20301, 1), port("tcp", 20301, 2, HOST_V4)])
        self.assertEqual(e.exception.parameters, {"parameter": "publish"})
        self.assertError("io.taplinkd.NoSuchSlot", "Publish", slot=g.slot["slot"] + 100, port=port("tcp", 20302, 1))
        self.assertEqual((self.listed(g.slot), map_elements(self.daemon.table)), before)

    def test_non_root_callers(self):
        other = ClientProcess(self.daemon.socket, OTHER_UID)
        try:
            reply, _ = other.call("io.taplinkd.Acquire", {"publish": [port("tcp", 20400, 80)]})
            theirs = reply["parameters"]["slot"]
            self.assertEqual(theirs["published"], [port("tcp", 20400, 80)])
            for p in (port("tcp", 80, 80), port("tcp", 19999, 80), port("udp", 30000, 80)):
                with self.subTest(port=p):
                    reply, _ = other.call("io.taplinkd.Publish", {"slot": theirs["slot"], "port": p})
                    self.assertEqual(reply.get("error"), "io.taplinkd.PermissionDenied")
                    reply, _ = other.call("io.taplinkd.Acquire", {"publish": [p]})
                    self.assertEqual(reply.get("error"), "io.taplinkd.PermissionDenied")
            reply, _ = other.call("io.taplinkd.Publish", {"slot": theirs["slot"], "port": port("tcp", 29999, 80)})
            self.assertEqual(reply["parameters"]["slot"]["published"],
                             [port("tcp", 20400, 80), port("tcp", 29999, 80)])
            # Not someone else's slot.
            mine = self.new_guest("mine")
            reply, _ = other.call("io.taplinkd.Publish", {"slot": mine.slot["slot"], "port": port("tcp", 20401, 80)})
            self.assertEqual(reply.get("error"), "io.taplinkd.NoSuchSlot")
            # Root publishes any port.
            self.call("Publish", slot=mine.slot["slot"], port=port("tcp", 81, 8080))
            self.assertEqual(probe(self.world.cmd(), [("tcp", HOST_V4, 81)]), {("tcp", HOST_V4, 81): WORLD_V4})
        finally:
            other.stop()


    def test_ports_come_back_with_the_table(self):
        g = self.new_guest("heal", publish=[port("tcp", 20600, 8080)])
        one = [("tcp", HOST_V4, 20600)]
        self.assertEqual(probe(self.world.cmd(), one), {one[0]: WORLD_V4})
        before = map_elements(self.daemon.table)
        run("nft", "flush", "ruleset")
        wait_for(lambda: map_elements(self.daemon.table) == before, what="the maps restored")
        self.assertEqual(self.listed(g.slot)["published"], [port("tcp", 20600, 8080)])
        self.assertEqual(probe(self.world.cmd(), one), {one[0]: WORLD_V4})


class LimitTest(PublishNet):
    config = {"policy.max_published_per_slot": "2", "policy.publish_port_range": "21000-21009"}

    def test_quota_and_range(self):
        g = self.new_guest("q", publish=[port("tcp", 21000, 1), port("udp", 21000, 1)])
        e = self.assertError("io.taplinkd.QuotaExceeded", "Publish", slot=g.slot["slot"], port=port("tcp", 21001, 1))
        self.assertEqual(e, {"limit": 2})
        with self.assertRaises(VarlinkError) as e:
            self.client.acquire(vnetHeader=False, publish=[port("tcp", 21002, 1), port("tcp", 21003, 1),
                                                            port("tcp", 21004, 1)])
        self.assertEqual(e.exception.name, "io.taplinkd.QuotaExceeded")
        other = ClientProcess(self.daemon.socket, OTHER_UID)
        try:
            reply, _ = other.call("io.taplinkd.Acquire", {"publish": [port("tcp", 21009, 80)]})
            self.assertIn("slot", reply["parameters"])
            reply, _ = other.call("io.taplinkd.Acquire", {"publish": [port("tcp", 21010, 80)]})
            self.assertEqual(reply.get("error"), "io.taplinkd.PermissionDenied")
        finally:
            other.stop()


class NoIpv6Test(PublishNet):
    config = {"network.ipv6": "no"}

    def test_ipv4_only(self):
        # A port on every address is forwarded over IPv4 only; one on an
        # IPv6 host address is refused, in an Acquire and in a Publish.
        g = self.new_guest("v4", publish=[port("tcp", 20800, 8080)])
        maps = map_elements(self.daemon.table)
        self.assertEqual(len(maps["published_any_v4"]), 1)
        self.assertEqual(maps["published_any_v6"], [])
        v6 = port("tcp", 20801, 8080, HOST_V6)
        e = self.assertError("org.varlink.service.InvalidParameter", "Publish", slot=g.slot["slot"], port=v6)
        self.assertEqual(e, {"parameter": "port"})
        with self.assertRaises(VarlinkError) as e:
            self.client.acquire(vnetHeader=False, publish=[v6])
        self.assertEqual(e.exception.parameters, {"parameter": "publish"})
        self.assertEqual(map_elements(self.daemon.table), maps)
        one = [("tcp", HOST_V4, 20800)]
        self.assertEqual(probe(self.world.cmd(), one), {one[0]: WORLD_V4})


class LifetimeTest(PublishNet):

    def test_ports_go_with_the_slot_and_survive_kill9(self):
        kept = self.new_guest("kept", publish=[port("tcp", 20500, 8080), port("udp", 20501, 8081, HOST_V6)])
        released, released_fds = self.client.acquire(vnetHeader=False, publish=[port("tcp", 20502, 80)])
        closed, fds = self.client.acquire(vnetHeader=False, publish=[port("tcp", 20503, 80)])
        ended, ended_fds = self.client.acquire(vnetHeader=False, publish=[port("tcp", 20504, 80)])
        # Release and a VMM exit both empty the maps of the slot's ports.
        self.call("Release", slot=released["slot"])
        os.close(released_fds[0])
        os.close(fds[0])
        wait_for(lambda: self.listed(closed) is None, what="slot %d gone" % closed["slot"])
        for p in (20502, 20503):
            self.assertNotIn(str(p), json.dumps(map_elements(self.daemon.table)))
        # The port is free again.
        self.call("Publish", slot=kept.slot["slot"], port=port("tcp", 20502, 8080))
        expected = [port("tcp", 20500, 8080), port("tcp", 20502, 8080), port("udp", 20501, 8081, HOST_V6)]
        self.assertEqual(self.listed(kept.slot)["published"], expected)

        cls = type(self)
        cls.client.close()
        cls.client = None
        self.daemon.kill9()
        os.close(ended_fds[0])  # a slot that ends while the daemon is down
        wait_for(lambda: run("ip", "link", "show", ended["ifname"], check=False).returncode != 0,
                 what="%s gone" % ended["ifname"])
        probes = [("tcp", HOST_V4, 20500), ("udp", HOST_V6, 20501)]
        # Forwarding does not lapse while the daemon is down.
        self.assertEqual(probe(self.world.cmd(), probes), {probes[0]: WORLD_V4, probes[1]: WORLD_V6})

        self.daemon.start()
        cls.client = self.daemon.client()
        self.assertEqual(self.listed(kept.slot)["published"], expected)
        self.assertNotIn("20504", json.dumps(map_elements(self.daemon.table)))
        self.assertEqual(probe(self.world.cmd(), probes), {probes[0]: WORLD_V4, probes[1]: WORLD_V6})
        # Its port can be taken again.
        self.call("Publish", slot=kept.slot["slot"], port=port("tcp", 20504, 8080))


if __name__ == "__main__":
    unittest.main()
