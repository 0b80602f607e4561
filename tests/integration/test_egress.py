# SPDX-License-Identifier: MIT
"""The egress policy per slot against the real daemon and real packets
(docs/DESIGN.md, "Egress policy"; io.taplinkd.varlink: Acquire's egress and
allow, SetEgress): each mode against destinations of every kind, allow
entries with and without protocol and port, a flow cut when the policy
narrows, replies to connections opened to the guest, guest services in
mode none, slot to slot, restart after kill -9, and SetEgress's errors.
The network is egress_net.py's: this namespace is the host, a world
namespace holds the destinations."""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    ClientProcess, Daemon, VarlinkError, require_sandbox, run, table_elements, wait_for)
from guest_link import GuestLink, dhcp4_reply, dhcp6_reply, router_advertisement  # noqa: E402
from packets import (  # noqa: E402
    ADVERTISE, DISCOVER, O_CLIENTID, O_ELAPSED, O_IA_NA, OPT_CLIENT_ID, SOLICIT, dhcp4, dhcp6, duid_ll, ia_na,
    mac_bytes)
from egress_net import (  # noqa: E402
    GUEST_PORT, HOST_V4, HOST_V6, METADATA, PRIVATE, PUBLIC, WORLD_V4, Flow, build_world, guest_for, probe,
    probe_at_once, serve, stop_server, world_server)

MODES = ("none", "host", "public", "internet")
OTHER_UID = 1000  # in the daemon's allow_users (harness.Daemon)


def kind_of(address, slot):
    if address in (slot["ipv4"]["gateway"], slot["ipv6"]["gateway"], HOST_V4, HOST_V6):
        return "host"
    if address in PUBLIC:
        return "public"
    return "private"  # PRIVATE and METADATA: only internet reaches them


def passes(mode, kind):
    """The ladder: what mode lets through, per kind of destination."""
    return MODES.index(mode) >= {"host": 1, "public": 2, "private": 3}[kind]


class EgressNet(unittest.TestCase):
    """A daemon, the world, and servers on the host and in the world."""

    config = {}

    @classmethod
    def setUpClass(cls):
        require_sandbox()
        cls.tmp = tempfile.TemporaryDirectory()
        os.chmod(cls.tmp.name, 0o755)  # the socket, for another uid
        cls.servers, cls.guests, cls.fds = [], [], []
        try:
            cls.world = build_world()
            cls.servers.append(world_server(cls.world))
            # The host: every address, TCP only (a TCP answer leaves from
            # the address asked, whatever the socket is bound to).
            cls.servers.append(serve([], tcp=[["0.0.0.0", 7000], ["::", 7000]]))
            # forward_ipv6: off by default (taplinkd.conf(5)); the world is
            # reached over IPv6 too.
            cls.daemon = Daemon(cls.tmp.name, config=dict({"daemon.forward_ipv6": "yes"}, **cls.config))
            cls.daemon.start()
            cls.client = cls.daemon.client()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for g in getattr(cls, "guests", []):
            g.stop()
        for p in getattr(cls, "servers", []):
            stop_server(p)
        for fd in getattr(cls, "fds", []):
            os.close(fd)
        if getattr(cls, "client", None):
            cls.client.close()
        reports = []
        if getattr(cls, "daemon", None):
            cls.daemon.cleanup()  # SIGTERM first: a sanitizer build reports
            reports = cls.daemon.sanitizer_reports()
        if getattr(cls, "world", None):
            cls.world.stop()
        run("ip", "link", "del", "to-world", check=False)
        cls.tmp.cleanup()
        if reports:
            raise AssertionError("the daemon's sanitizer reported:\n" + "\n".join(reports))

    @classmethod
    def new_guest(cls, name, **params):
        slot, fds = cls.client.acquire(vnetHeader=False, label=name, **params)
        try:
            g = guest_for(slot, fds[0], os.path.join(cls.tmp.name, name))
        finally:
            os.close(fds[0])
        cls.guests.append(g)
        return g

    def set_egress(self, slot, egress, allow=None):
        params = {"slot": slot["slot"], "egress": egress}
        if allow is not None:
            params["allow"] = allow
        return self.client.call("io.taplinkd.SetEgress", params)[0]["slot"]

    def listed(self, slot):
        for s in self.client.call("io.taplinkd.List")[0]["slots"]:
            if s["slot"] == slot["slot"]:
                return s
        return None

    def policy(self, slot):
        s = self.listed(slot)
        return s and (s["egress"], s["allow"])

    def assertProbes(self, guest, expected):
        """expected: {(proto, address, port): "open" or "timeout"}."""
        self.assertEqual(probe(guest.cmd(), expected.keys()), expected)


class EgressTest(EgressNet):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.guest = cls.new_guest("g")
            cls.slot = cls.guest.slot
            cls.servers.append(serve(cls.guest.cmd(), tcp=[["0.0.0.0", GUEST_PORT], ["::", GUEST_PORT]]))
        except BaseException:
            cls.tearDownClass()
            raise

    def destinations(self, slot):
        return [slot["ipv4"]["gateway"], slot["ipv6"]["gateway"], HOST_V4, HOST_V6] + PUBLIC + PRIVATE + METADATA

    def test_each_mode_against_each_destination(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                s = self.set_egress(self.slot, mode)
                self.assertEqual((s["egress"], s["allow"]), (mode, []))
                expected = {}
                for a in self.destinations(self.slot):
                    result = "open" if passes(mode, kind_of(a, self.slot)) else "timeout"
                    expected[("tcp", a, 7000)] = result
                    if kind_of(a, self.slot) != "host":  # UDP servers: the world's
                        expected[("udp", a, 7000)] = result
                self.assertProbes(self.guest, expected)

    def test_allow_entries_on_mode_none(self):
        gw4, gw6 = self.slot["ipv4"]["gateway"], self.slot["ipv6"]["gateway"]
        s = self.set_egress(self.slot, "none", [{"destination": "203.0.113.7", "protocol": "tcp", "port": 443}])
        self.assertEqual(s["allow"], [{"destination": "203.0.113.7/32", "protocol": "tcp", "port": 443}])
        self.assertProbes(self.guest, {
            ("tcp", "203.0.113.7", 443): "open",
            ("tcp", "203.0.113.7", 7000): "timeout",
            ("udp", "203.0.113.7", 443): "timeout",
            ("tcp", "10.99.0.7", 443): "timeout",
            ("tcp", "2001:db8::7", 443): "timeout",
            ("tcp", gw4, 7000): "timeout",
        })
        allow = [
            {"destination": "203.0.113.7", "protocol": "tcp", "port": 443},
            {"destination": "10.99.0.7", "protocol": "udp", "port": 7000},  # a UDP entry
            {"destination": "192.168.99.0/24", "protocol": "tcp"},  # a protocol, every port
            {"destination": "fd00::/64"},  # v6, everything
            {"destination": "2001:db8::7", "protocol": "udp", "port": 443},
            {"destination": gw4, "protocol": "tcp", "port": 7000},  # the host: input
        ]
        s = self.set_egress(self.slot, "none", allow)
        self.assertEqual(len(s["allow"]), len(allow))
        self.assertProbes(self.guest, {
            ("tcp", "203.0.113.7", 443): "open",
            ("udp", "10.99.0.7", 7000): "open",
            ("tcp", "10.99.0.7", 7000): "timeout",
            ("udp", "10.99.0.7", 443): "timeout",
            ("tcp", "192.168.99.7", 443): "open",
            ("tcp", "192.168.99.7", 7000): "open",
            ("udp", "192.168.99.7", 7000): "timeout",
            ("tcp", "fd00::7", 7000): "open",
            ("udp", "fd00::7", 443): "open",
            ("udp", "2001:db8::7", 443): "open",
            ("tcp", "2001:db8::7", 443): "timeout",
            ("tcp", gw4, 7000): "open",
            ("tcp", HOST_V4, 7000): "timeout",
            ("tcp", gw6, 7000): "timeout",
            ("tcp", "169.254.169.254", 7000): "timeout",
        })
        # The entries come on top of the mode: public + an entry for a
        # private address.
        self.set_egress(self.slot, "public", [{"destination": "10.99.0.7", "protocol": "tcp", "port": 443}])
        self.assertProbes(self.guest, {
            ("tcp", "10.99.0.7", 443): "open",
            ("tcp", "10.99.0.7", 7000): "timeout",
            ("tcp", "192.168.99.7", 443): "timeout",
            ("tcp", "203.0.113.7", 7000): "open",
        })
        # Absent allow: none.
        s = self.set_egress(self.slot, "public")
        self.assertEqual(s["allow"], [])
        self.assertProbes(self.guest, {("tcp", "10.99.0.7", 443): "timeout"})

    def test_narrowing_cuts_a_flow_at_its_next_packet(self):
        self.set_egress(self.slot, "internet")
        for tcp, udp, narrower in ((("203.0.113.7", 7000), ("203.0.113.7", 7000), "host"),
                                   (("2001:db8::7", 443), ("10.99.0.7", 7000), "none"),
                                   ((self.slot["ipv4"]["gateway"], 7000), ("203.0.113.7", 443), "none")):
            with self.subTest(tcp=tcp, udp=udp, narrower=narrower):
                flow = Flow(self.guest, tcp, udp)
                try:
                    self.assertEqual(flow.send(), ("open", "open"))
                    # public still lets the public destination through
                    if tcp[0] == "203.0.113.7":
                        self.set_egress(self.slot, "public")
                        self.assertEqual(flow.send(), ("open", "open"))
                    self.set_egress(self.slot, narrower)
                    self.assertEqual(flow.send(), ("timeout", "timeout"))
                finally:
                    flow.close()
                    self.set_egress(self.slot, "internet")

    def test_replies_to_connections_opened_to_the_guest_pass_in_mode_none(self):
        self.set_egress(self.slot, "none")
        v4, v6 = self.slot["ipv4"]["guest"], self.slot["ipv6"]["guest"]
        want = {("tcp", v4, GUEST_PORT): "open", ("tcp", v6, GUEST_PORT): "open"}
        self.assertEqual(probe(self.world.cmd(), want.keys()), want, "from the world")
        self.assertEqual(probe([], want.keys()), want, "from the host")
        # ... while the guest itself opens nothing.
        self.assertProbes(self.guest, {("tcp", WORLD_V4, 7000): "timeout", ("tcp", HOST_V4, 7000): "timeout"})

    def test_guest_services_in_mode_none(self):
        # DHCPv4, RA, DHCPv6 through a slot's fd as frames; ARP and ND in
        # the stand-in guest.
        slot, fds = self.client.acquire(vnetHeader=False, label="services", egress="none")
        self.fds.append(fds[0])
        link = GuestLink.for_slot(slot, fds[0])
        cid = b"\x01" + mac_bytes(link.mac)
        link.dhcp4(dhcp4(DISCOVER, 0x5eed, link.mac, options=[(OPT_CLIENT_ID, cid)]))
        offer, _ = link.expect(dhcp4_reply(0x5eed), "DHCPv4 OFFER in mode none")
        self.assertEqual(offer.msg.yiaddr, slot["ipv4"]["guest"])
        link.rs()
        link.expect(router_advertisement(), "RA in mode none")
        link.dhcp6(dhcp6(SOLICIT, b"egr", [(O_CLIENTID, duid_ll(link.mac)), (O_IA_NA, ia_na(1)),
                                            (O_ELAPSED, b"\0\0")]))
        advertise, _ = link.expect(dhcp6_reply(b"egr"), "DHCPv6 ADVERTISE in mode none")
        self.assertEqual(advertise.msg.msg_type, ADVERTISE)
        # ARP and neighbour discovery: the guest resolves its gateways
        # (ping itself is not a guest service: dropped).
        self.set_egress(self.slot, "none")
        g = self.guest
        g.run("ip", "neigh", "flush", "dev", "eth0", check=True)
        g.run("ip", "-6", "neigh", "flush", "dev", "eth0", check=True)
        gw4, gw6 = self.slot["ipv4"]["gateway"], self.slot["ipv6"]["gateway"]
        # Both at once: each waits out its 2 s.
        pings = [subprocess.Popen(g.cmd("ping", *family, "-c", "1", "-W", "2", gw), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for family, gw in (([], gw4), (["-6"], gw6))]
        self.assertEqual([p.wait() != 0 for p in pings], [True, True], "ping and ping6 in mode none")
        tap_mac = "06" + self.slot["mac"][2:]
        for family, gw in (("-4", gw4), ("-6", gw6)):
            neigh = g.ip_json(family, "neigh", "show", gw, "dev", "eth0")
            self.assertEqual([n.get("lladdr") for n in neigh], [tap_mac], "%s neighbour %s" % (family, gw))
        self.set_egress(self.slot, "host")
        self.assertEqual(g.run("ping", "-c", "1", "-W", "5", gw4).returncode, 0, "ping in mode host")

    def test_slot_to_slot_is_dropped_in_every_mode(self):
        other = self.new_guest("other")
        self.servers.append(serve(other.cmd(), tcp=[["0.0.0.0", 7000], ["::", 7000]],
                                  udp=[[other.slot["ipv4"]["guest"], 7000]]))
        o4, o6 = other.slot["ipv4"]["guest"], other.slot["ipv6"]["guest"]
        m4, m6 = self.slot["ipv4"]["guest"], self.slot["ipv6"]["guest"]
        # The other guest's servers answer the host: they are up.
        self.assertEqual(probe([], [("tcp", o4, 7000), ("tcp", o6, 7000)]),
                         {("tcp", o4, 7000): "open", ("tcp", o6, 7000): "open"})
        for mode in MODES:
            with self.subTest(mode=mode):
                self.set_egress(self.slot, mode)
                self.set_egress(other.slot, mode)
                # Both ways at once: one timeout for both.
                mine = {("tcp", o4, 7000): "timeout", ("tcp", o6, 7000): "timeout", ("udp", o4, 7000): "timeout"}
                theirs = {("tcp", m4, GUEST_PORT): "timeout", ("tcp", m6, GUEST_PORT): "timeout"}
                self.assertEqual(probe_at_once([(self.guest.cmd(), mine.keys()), (other.cmd(), theirs.keys())]),
                                 [mine, theirs])
        # Not even an allow entry opens it.
        self.set_egress(self.slot, "internet", [{"destination": o4}])
        self.assertProbes(self.guest, {("tcp", o4, 7000): "timeout"})

    def test_acquire_with_a_policy(self):
        allow = [{"destination": "2001:db8::/32", "protocol": "tcp", "port": 443},
                 {"destination": "203.0.113.0/24"}]
        slot, fds = self.client.acquire(vnetHeader=False, egress="host", allow=allow)
        self.fds.append(fds[0])
        want = ("host", [{"destination": "203.0.113.0/24"},
                         {"destination": "2001:db8::/32", "protocol": "tcp", "port": 443}])
        self.assertEqual((slot["egress"], slot["allow"]), want)
        self.assertEqual(self.policy(slot), want)
        # Without egress: the configuration's default_egress (internet).
        slot, fds = self.client.acquire(vnetHeader=False)
        self.fds.append(fds[0])
        self.assertEqual((slot["egress"], slot["allow"]), ("internet", []))

    def test_set_egress_errors_change_nothing(self):
        allow = [{"destination": "203.0.113.7", "protocol": "tcp", "port": 443}]
        self.set_egress(self.slot, "public", allow)
        before = (self.policy(self.slot), table_elements(self.daemon.table))
        bad_allow = [
            [{"destination": "203.0.113.7", "port": 443}],  # a port without a protocol
            [{"destination": "203.0.113.300"}],
            [{"destination": "203.0.113.0/33"}],
            [{"destination": "203.0.113.7/24"}],  # host bits set
            [{"destination": "2001:db8::1/32"}],
            [{"destination": "203.0.113.7", "protocol": "icmp"}],
            [{"destination": "203.0.113.7", "protocol": "tcp", "port": 0}],
            [{"destination": "203.0.113.7", "protocol": "tcp", "port": 65536}],
            [{"destination": "203.0.113.0/24"}, {"destination": "203.0.113.7"}],  # nested
            [{"destination": "2001:db8::/32", "protocol": "udp", "port": 53},
             {"destination": "2001:db8::7", "protocol": "udp", "port": 53}],
            [{"destination": "10.0.%d.0/24" % i} for i in range(65)],  # > 64
            [{"destination": "203.0.113.7", "extra": True}],
            "203.0.113.7",
        ]
        for allow in bad_allow:
            with self.subTest(allow=allow):
                with self.assertRaises(VarlinkError) as e:
                    self.set_egress(self.slot, "none", allow)
                self.assertEqual((e.exception.name, e.exception.parameters),
                                 ("org.varlink.service.InvalidParameter", {"parameter": "allow"}))
        for mode in ("", "None", "all", 1, None):
            with self.subTest(mode=mode):
                with self.assertRaises(VarlinkError) as e:
                    self.set_egress(self.slot, mode, [])
                self.assertEqual((e.exception.name, e.exception.parameters),
                                 ("org.varlink.service.InvalidParameter", {"parameter": "egress"}))
        with self.assertRaises(VarlinkError) as e:
            self.set_egress({"slot": 999}, "none")
        self.assertEqual(e.exception.name, "io.taplinkd.NoSuchSlot")
        self.assertEqual((self.policy(self.slot), table_elements(self.daemon.table)), before)
        # The old policy still holds.
        self.assertProbes(self.guest, {("tcp", "10.99.0.7", 7000): "timeout", ("tcp", "203.0.113.7", 443): "open"})

    def test_set_egress_of_another_uid(self):
        other = ClientProcess(self.daemon.socket, OTHER_UID)
        try:
            reply, nfds = other.call("io.taplinkd.Acquire", {"egress": "none"})
            theirs = reply["parameters"]["slot"]
            self.assertEqual(nfds, 1)
            before = self.policy(self.slot)
            reply, _ = other.call("io.taplinkd.SetEgress", {"slot": self.slot["slot"], "egress": "internet",
                                                            "allow": [{"destination": "0.0.0.0/0"}]})
            self.assertEqual(reply.get("error"), "io.taplinkd.NoSuchSlot")
            self.assertEqual(self.policy(self.slot), before)
            # Its own slot: fine.
            reply, _ = other.call("io.taplinkd.SetEgress", {"slot": theirs["slot"], "egress": "host"})
            self.assertEqual(reply["parameters"]["slot"]["egress"], "host")
            self.assertEqual(self.policy(theirs)[0], "host")
        finally:
            other.stop()


def elements_naming(table, ifname):
    """The elements of table's egress and allow sets that name ifname."""
    out = {}
    for name, elems in (table_elements(table) or {}).items():
        if name.startswith(("egress_", "allow_")):
            hits = [e for e in elems if ifname in repr(e)]
            if hits:
                out[name] = hits
    return out


class RestartTest(EgressNet):
    """kill -9 and a restart: the policy is kernel state."""

    config = {"policy.default_egress": "public"}

    def test_kill9_keeps_policies_and_removes_stale_ones(self):
        allow = [{"destination": "10.99.0.7", "protocol": "tcp", "port": 443}, {"destination": "fd00::7"}]
        g = self.new_guest("kept", egress="none", allow=allow)
        # Without egress: default_egress.
        gone, fds = self.client.acquire(vnetHeader=False, allow=[{"destination": "192.168.99.0/24"}])
        self.assertEqual(gone["egress"], "public")
        kept_policy = self.policy(g.slot)
        self.assertEqual(kept_policy[0], "none")
        self.assertEqual(sorted(elements_naming(self.daemon.table, gone["ifname"])), ["allow_v4", "egress_public"])
        expected = {("tcp", "10.99.0.7", 443): "open", ("tcp", "fd00::7", 7000): "open",
                    ("tcp", "10.99.0.7", 7000): "timeout", ("tcp", "203.0.113.7", 7000): "timeout",
                    ("tcp", g.slot["ipv4"]["gateway"], 7000): "timeout"}
        self.assertProbes(g, expected)

        cls = type(self)
        cls.client.close()
        cls.client = None
        self.daemon.kill9()
        os.close(fds[0])  # the slot ends while the daemon is down
        wait_for(lambda: run("ip", "link", "show", gone["ifname"], check=False).returncode != 0,
                 what="%s gone" % gone["ifname"])
        # Enforcement does not lapse while the daemon is down.
        self.assertProbes(g, expected)

        self.daemon.start()
        cls.client = self.daemon.client()
        self.assertEqual(self.policy(g.slot), kept_policy)
        self.assertIsNone(self.policy(gone))
        self.assertEqual(elements_naming(self.daemon.table, gone["ifname"]), {})
        kept = elements_naming(self.daemon.table, g.slot["ifname"])
        self.assertEqual(sorted(kept), ["allow_port_v4", "allow_v6", "egress_none"])
        self.assertProbes(g, expected)


if __name__ == "__main__":
    unittest.main()
