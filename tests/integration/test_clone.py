# SPDX-License-Identifier: MIT
"""Clone slots (docs/DESIGN.md, "Clone slots"): each TAP in a network
namespace of its own, every guest with the same address, NATed to its
slot's guest address.

    guest 169.254.0.21 --tap0-- netns tl0 (NAT to 10.213.0.2) --veth-- tl0 host 192.0.2.1 --veth-- world 192.0.2.2
    guest 169.254.0.21 --tap0-- netns tl1 (NAT to 10.213.0.6) --veth-- tl1 /

The guests are frames written into and read from the TAP fds. The test runs
in a private mount namespace of its own with a tmpfs on /run, so the
daemon's /run/netns bind mounts are seen by nobody else and vanish with
it."""

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    PYTHON, TAPLINKCTL, TAPLINKD, VNET_HDR_LEN, WAIT_TIMEOUT, DaemonTestCase, Namespace, VarlinkError, _read_frames, all_elements,
    expected_elements, link, links_with_prefix, netns_ids, netns_mounts, private_run, require_sandbox, run,
    table_elements, wait_for)
from packets import ETH_P_ARP, ETH_P_IP, checksum, eth, ip4, mac_bytes  # noqa: E402

CLONE_GUEST, CLONE_GATEWAY = "169.254.0.21", "169.254.0.22"
CLONE_TAP_MAC = "06:74:6c:ff:ff:fe"
GUEST_MAC = "02:00:00:00:00:21"  # every restored guest has the same
HOST_V4, WORLD_V4 = "192.0.2.1", "192.0.2.2"


def setUpModule():
    require_sandbox()
    private_run()


def nsids():
    return list(netns_ids())


def nsid_of(name):
    """The id the namespace mounted on /run/netns/<name> has here, or None."""
    return next((nsid for nsid, n in netns_ids().items() if n == name), None)


def tap_detached(guest):
    """Whether the guest's TAP fd is attached to no device any more."""
    try:
        guest.arp_gateway_request()
    except OSError as e:
        if e.errno == errno.EBADFD:
            return True
        raise
    return False


def in_netns(name, *argv, check=True):
    return run("ip", "netns", "exec", name, *argv, check=check)


class Guest:
    """A restored guest: 169.254.0.21 with one MAC for all, behind an fd.
    With a multi-queue TAP it sends on the first queue and reads them all:
    the kernel picks the queue of a frame to the guest by its flow hash,
    and an ARP reply need not come back on the request's queue."""

    def __init__(self, fd, *more_queues):
        self.fd = fd
        self.fds = [fd, *more_queues]
        for f in self.fds:
            os.set_blocking(f, False)

    def send(self, frame):
        os.write(self.fd, b"\0" * VNET_HDR_LEN + frame)

    def frames(self, timeout):
        return _read_frames(self.fds, VNET_HDR_LEN, time.monotonic() + timeout)

    def arp_gateway_request(self):
        arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + mac_bytes(GUEST_MAC) + ip4(CLONE_GUEST) + \
            b"\0" * 6 + ip4(CLONE_GATEWAY)
        self.send(eth(b"\xff" * 6, GUEST_MAC, ETH_P_ARP, arp))

    def arp_gateway(self):
        """ARP for the gateway; the kernel learns our MAC from the request.
        Returns the MAC that answered."""
        self.arp_gateway_request()
        for f in self.frames(WAIT_TIMEOUT):
            if struct.unpack("!H", f[12:14])[0] == ETH_P_ARP and f[20:22] == b"\0\2" and f[28:32] == ip4(CLONE_GATEWAY):
                return f[6:12]
        return None

    def echo(self, dst, ident):
        icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"clone"
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), ident, 0x4000, 64, 1, 0, ip4(CLONE_GUEST),
                          ip4(dst))
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        self.send(eth(CLONE_TAP_MAC, GUEST_MAC, ETH_P_IP, hdr + icmp))

    def udp(self, dst, sport, dport, payload):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # no checksum: allowed in IPv4
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x7a7a, 0x4000, 64, 17, 0, ip4(CLONE_GUEST),
                          ip4(dst))
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        self.send(eth(CLONE_TAP_MAC, GUEST_MAC, ETH_P_IP, hdr + udp))

    def udp_received(self, timeout):
        """(source, sport, destination, dport, payload) of every UDP datagram
        that arrives within timeout."""
        out = []
        for f in self.frames(timeout):
            if struct.unpack("!H", f[12:14])[0] != ETH_P_IP or f[23] != 17:
                continue
            ihl = (f[14] & 0xf) * 4
            sport, dport, length = struct.unpack("!HHH", f[14 + ihl:20 + ihl])
            out.append((socket.inet_ntoa(f[26:30]), sport, socket.inet_ntoa(f[30:34]), dport,
                        f[22 + ihl:14 + ihl + length]))
        return out

    def echo_replies(self, timeout):
        """(source, ident) of every echo reply that arrives within timeout,
        each addressed to the clone guest."""
        out = []
        for f in self.frames(timeout):
            if struct.unpack("!H", f[12:14])[0] != ETH_P_IP or f[23] != 1 or f[34] != 0:
                continue
            if f[30:34] != ip4(CLONE_GUEST) or f[0:6] != mac_bytes(GUEST_MAC):
                raise AssertionError("echo reply not for the clone guest: %r" % f[:42])
            out.append((socket.inet_ntoa(f[26:30]), struct.unpack("!H", f[38:40])[0]))
        return out


class CloneTest(DaemonTestCase):
    # Two slots: a released number comes round again at once.
    config = {"clone.enabled": "yes", "daemon.max_slots": "2"}

    def setUp(self):
        super().setUp()
        self.world = Namespace()
        self.addCleanup(self.world.stop)
        run("ip", "link", "add", "clw0", "type", "veth", "peer", "name", "clw1")
        self.addCleanup(run, "ip", "link", "del", "clw0", check=False)
        run("ip", "link", "set", "clw1", "netns", str(self.world.proc.pid))
        run("ip", "addr", "add", HOST_V4 + "/24", "dev", "clw0")
        run("ip", "link", "set", "clw0", "up")
        self.world.run("ip", "addr", "add", WORLD_V4 + "/24", "dev", "clw1")
        self.world.run("ip", "link", "set", "clw1", "up")
        self.world.run("ip", "link", "set", "lo", "up")
        run("ip", "link", "show", "clw0")  # gives the world its id here
        self.other_nsids = set(nsids())

    def acquire_clone(self, c, **params):
        slot, fds = c.acquire(clone=True, **params)
        self.assertEqual(len(fds), 1)
        return slot, Guest(fds[0])

    def assertNothingLeft(self, nsid=True):
        """No device, bind mount, element; with nsid, no namespace id either
        (a namespace lives on, empty, while a VMM holds its TAP's fd)."""
        def clean():
            return (not links_with_prefix(self.d.prefix) and not netns_mounts() and
                    not os.listdir("/run/netns") and (not nsid or set(nsids()) <= self.other_nsids) and
                    all(not v for v in all_elements(self.d.table).values()))
        wait_for(clean, what="no namespace, mount, nsid, device or element left")

    def assertSlotNsid(self, s):
        """A namespace made for its slot asks for the slot's own id."""
        self.assertEqual(nsid_of("tl%d" % s), 0x746c0000 + s)

    def test_slot_object_and_namespace(self):
        c = self.client()
        slot, g = self.acquire_clone(c, label="snap-1")
        s = slot["slot"]
        self.assertEqual(slot["clone"], {"netns": "/run/netns/tl%d" % s, "tapName": "tap0",
                                         "guest": CLONE_GUEST, "gateway": CLONE_GATEWAY, "prefixLength": 30})
        self.assertIsNone(slot["ipv6"])
        self.assertEqual(slot["kernelIpArg"], "ip=169.254.0.21::169.254.0.22:255.255.255.252::eth0:off")
        self.assertEqual(netns_mounts(), ["/run/netns/tl%d" % s])
        self.assertSlotNsid(s)
        # The host end: the slot's name, host MAC, gateway, alias.
        l = link("tl%d" % s)
        self.assertEqual(l["linkinfo"]["info_kind"], "veth")
        self.assertEqual(l["address"], "06" + slot["mac"][2:])
        self.assertEqual(l.get("ifalias"), "snap-1")
        # Inside: tap0 with the fixed MAC and gateway, the uplink with the
        # slot's guest address, forwarding on, the NAT.
        tap = in_netns("tl%d" % s, "ip", "-j", "-d", "addr", "show", "tap0").stdout
        self.assertIn('"address":"%s"' % CLONE_TAP_MAC, tap)
        self.assertIn('"local":"%s","prefixlen":30' % CLONE_GATEWAY, tap)
        self.assertIn('"local":"%s"' % slot["ipv4"]["guest"], in_netns("tl%d" % s, "ip", "-j", "addr").stdout)
        self.assertIn("inet tap0 forwarding on", in_netns("tl%d" % s, "ip", "netconf", "show", "dev", "tap0").stdout)
        nat = in_netns("tl%d" % s, "nft", "list", "ruleset").stdout
        # Nothing in it names the slot: what comes in on the uplink is the
        # guest's, what the guest sends leaves as the uplink's address.
        self.assertIn('meta nfproto ipv4 iif "veth0" dnat ip to %s' % CLONE_GUEST, nat)
        self.assertIn('ip saddr %s oif "veth0" masquerade' % CLONE_GUEST, nat)
        # The host side is an ordinary slot's.
        elements = all_elements(self.d.table)
        for name in ("slots_v4", "guests_v4", "dropped_spoofed", "egress_internet"):
            self.assertEqual(sorted(elements[name]), expected_elements([slot | {"ipv6": {"subnet": "", "guest": ""}}])[name], name)
        # IPv4-only: no IPv6 element, then or after a restart's reconcile.
        self.assertEqual((elements["slots_v6"], elements["guests_v6"]), ([], []))
        self.d.kill9()
        c.close()
        self.d.start()
        self.assertEqual(len(self.client().call("io.taplinkd.List")[0]["slots"]), 1)
        self.assertEqual(all_elements(self.d.table), elements)
        os.close(g.fd)
        self.assertNothingLeft()

    def test_two_clones_same_address(self):
        c = self.client()
        a, ga = self.acquire_clone(c)
        b, gb = self.acquire_clone(c)
        self.assertEqual(ga.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        self.assertEqual(gb.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        # Both guests, same address, reach the world; each gets its own reply.
        ga.echo(WORLD_V4, 0xa1)
        gb.echo(WORLD_V4, 0xb2)
        self.assertEqual(ga.echo_replies(2.0), [(WORLD_V4, 0xa1)])
        self.assertEqual(gb.echo_replies(0.5), [(WORLD_V4, 0xb2)])
        # Neither reaches the other (nor its host-side address).
        ga.echo(b["ipv4"]["guest"], 0xa2)
        gb.echo(a["ipv4"]["guest"], 0xb3)
        self.assertEqual(ga.echo_replies(1.0) + gb.echo_replies(0.2), [])
        os.close(ga.fd)
        os.close(gb.fd)
        self.assertNothingLeft()

    def test_published_port_reaches_the_right_clone(self):
        c = self.client()
        a, ga = self.acquire_clone(c, publish=[{"protocol": "udp", "hostPort": 20700, "guestPort": 7}])
        b, gb = self.acquire_clone(c)
        self.assertEqual(a["published"], [{"protocol": "udp", "hostPort": 20700, "guestPort": 7}])
        # A clone slot has no IPv6: the port is forwarded over IPv4 only, and
        # a port on an IPv6 host address is refused (it could not work).
        maps = table_elements(self.d.table)
        self.assertEqual(len(maps["published_any_v4"]), 1)
        self.assertEqual(maps["published_any_v6"], [])
        with self.assertRaises(VarlinkError) as e:
            c.call("io.taplinkd.Publish", {"slot": a["slot"], "port": {
                "protocol": "tcp", "hostPort": 20701, "guestPort": 7, "hostAddress": "2001:db8::1"}})
        self.assertEqual((e.exception.name, e.exception.parameters),
                         ("org.varlink.service.InvalidParameter", {"parameter": "port"}))
        ga.arp_gateway()
        gb.arp_gateway()
        # Another host sends to the host's port; clone a gets it, with the
        # client's real address, on the address every clone has.
        client = subprocess.Popen(self.world.cmd(
            PYTHON, "-c", "import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('', 40000)); s.settimeout(%f); s.sendto(b'to-a', ('%s', 20700))\n"
            "data, peer = s.recvfrom(64); print(data.decode(), peer[0], peer[1])" % (WAIT_TIMEOUT, HOST_V4)),
            stdout=subprocess.PIPE, text=True)
        try:
            got = [d for d in ga.udp_received(2.0) if d[3] == 7]
            self.assertEqual(got, [(WORLD_V4, 40000, CLONE_GUEST, 7, b"to-a")])
            self.assertEqual(gb.udp_received(0.2), [])
            # Its answer goes back as from the host's port.
            ga.udp(WORLD_V4, 7, 40000, b"from-a")
            out, _ = client.communicate(timeout=WAIT_TIMEOUT)
            self.assertEqual(out.split(), ["from-a", HOST_V4, "20700"])
        finally:
            client.kill()
            client.wait()
        os.close(ga.fd)
        os.close(gb.fd)
        self.assertNothingLeft()

    def test_counters_at_the_host_end(self):
        """List(counters) counts a clone slot at its host end, the veth
        (docs/DESIGN.md, "Counters"): what the guest sent and got past its
        namespace is that end's receive and transmit."""
        c = self.client()
        a, ga = self.acquire_clone(c)
        b, gb = self.acquire_clone(c)

        def counters(slot):
            listed = c.call("io.taplinkd.List", {"counters": True})[0]["slots"]
            return next(s["counters"] for s in listed if s["slot"] == slot["slot"])

        # Warm the neighbour entries on the way so that no ARP rides along.
        ga.arp_gateway()
        ga.echo(WORLD_V4, 0x100)
        self.assertEqual(ga.echo_replies(2.0), [(WORLD_V4, 0x100)])
        before, other = counters(a), counters(b)
        n, frame_len = 20, 14 + 20 + 8 + len(b"clone")
        for i in range(n):
            ga.echo(WORLD_V4, 0x200 + i)
        self.assertEqual(len(ga.echo_replies(2.0)), n)
        after = wait_for(lambda: (lambda x: x if x["guestReceivedPackets"] >= before["guestReceivedPackets"] + n
                                  else None)(counters(a)), what="the echoes and replies counted")
        # The requests and replies, and at most a frame or two the inner
        # end sent of its own (neighbour probes).
        sent = after["guestSentPackets"] - before["guestSentPackets"]
        received = after["guestReceivedPackets"] - before["guestReceivedPackets"]
        self.assertTrue(n <= sent <= n + 2, sent)
        self.assertTrue(n <= received <= n + 2, received)
        self.assertGreaterEqual(after["guestSentBytes"] - before["guestSentBytes"], n * frame_len)
        self.assertGreaterEqual(after["guestReceivedBytes"] - before["guestReceivedBytes"], n * frame_len)
        self.assertEqual((after["droppedSpoofed"], after["droppedPolicy"]), (0, 0))
        # The other clone, same address inside, counts none of it.
        self.assertLess(counters(b)["guestSentPackets"] - other["guestSentPackets"], n)
        os.close(ga.fd)
        os.close(gb.fd)
        self.assertNothingLeft()

    def test_release_and_persistent(self):
        c = self.client()
        slot, g = self.acquire_clone(c, persistent=True)
        s = slot["slot"]
        self.assertTrue(slot["persistent"])
        os.close(g.fd)
        # A VMM joins the namespace and opens tap0 by name; it lives on.
        time.sleep(0.2)
        self.assertIsNotNone(link("tl%d" % s))
        self.assertIn("tap0", in_netns("tl%d" % s, "ip", "link", "show", "tap0").stdout)
        c.call("io.taplinkd.Release", {"slot": s})
        self.assertNothingLeft()
        # Release while a VMM holds the fd: everything goes all the same;
        # the kernel keeps the empty namespace until the fd closes.
        slot, g = self.acquire_clone(c)
        self.addCleanup(os.close, g.fd)
        c.call("io.taplinkd.Release", {"slot": slot["slot"]})
        self.assertNothingLeft(nsid=False)
        # Its TAP is deleted all the same: the VMM's fd is attached to
        # nothing (tun answers EBADFD).
        wait_for(lambda: tap_detached(g), what="the released clone's TAP deleted")
        # Its number again while the old namespace still holds its id.
        slots = [self.acquire_clone(c) for _ in range(2)]
        self.assertIn(slot["slot"], [s["slot"] for s, _ in slots])
        for s, g2 in slots:
            self.assertEqual(g2.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
            os.close(g2.fd)
        self.assertNothingLeft(nsid=False)

    def test_kill9_restart_adopts(self):
        c = self.client()
        a, ga = self.acquire_clone(c)
        self.assertEqual(ga.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        self.d.kill9()
        c.close()
        self.d.start()
        c = self.client()
        listed = c.call("io.taplinkd.List")[0]["slots"]
        self.assertEqual([(x["slot"], x["clone"]["netns"]) for x in listed],
                         [(a["slot"], "/run/netns/tl%d" % a["slot"])])
        ga.echo(WORLD_V4, 0xc4)
        self.assertEqual(ga.echo_replies(2.0), [(WORLD_V4, 0xc4)])
        # The restarted daemon still sees the VMM go.
        os.close(ga.fd)
        self.assertNothingLeft()

    def test_half_built_removed_at_start(self):
        self.d.stop()
        # A bind mount's file without a namespace; a namespace without its
        # TAP or veth; a slot's veth (our MAC) whose namespace is gone.
        open("/run/netns/tl0", "w").close()
        run("ip", "netns", "add", "tl1")
        run("ip", "link", "add", "tl0", "address", "06:74:6c:00:00:00", "type", "veth", "peer", "name", "clx0")
        self.d.start()
        self.assertNothingLeft()
        self.assertIsNone(link("clx0"))
        slot, g = self.acquire_clone(self.client())
        self.assertEqual(g.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        os.close(g.fd)
        self.assertNothingLeft()

    def test_cleanup(self):
        c = self.client()
        slot, g = self.acquire_clone(c, persistent=True)
        os.close(g.fd)
        self.d.stop()
        self.assertEqual(netns_mounts(), ["/run/netns/tl%d" % slot["slot"]])
        r = run(TAPLINKD, "--config", self.d.conf, "--cleanup")
        self.assertIn("removed 1 clone namespaces", r.stderr + r.stdout)
        # (A pool's veths end with their namespaces, as the kernel gets to it.)
        wait_for(lambda: not links_with_prefix(self.d.prefix), what="no device left")
        self.assertEqual(netns_mounts(), [])
        self.assertEqual(os.listdir("/run/netns"), [])
        wait_for(lambda: set(nsids()) <= self.other_nsids, what="the namespace to end")

    def test_taplinkctl(self):
        env = dict(os.environ, TAPLINK_SOCKET=self.d.socket)
        out = run(TAPLINKCTL, "--socket", self.d.socket, "run", "--clone", "--", "sh", "-c",
                  'echo "$TAPLINK_NETNS $TAPLINK_TAP_NAME $TAPLINK_IPV4_GUEST/$TAPLINK_IPV4_PREFIX '
                  '$TAPLINK_IPV4_GATEWAY $TAPLINK_KERNEL_IP_ARG"; ip netns exec "${TAPLINK_NETNS##*/}" '
                  'ip -br link show "$TAPLINK_TAP_NAME"', env=env).stdout.splitlines()
        self.assertEqual(out[0], "/run/netns/tl0 tap0 169.254.0.21/30 169.254.0.22 "
                                 "ip=169.254.0.21::169.254.0.22:255.255.255.252::eth0:off")
        self.assertTrue(out[1].startswith("tap0 "), out)
        self.assertNothingLeft()
        # acquire --clone --persistent: a jailer joins the namespace later.
        slot = json.loads(run(TAPLINKCTL, "--socket", self.d.socket, "--json", "acquire", "--clone",
                              "--persistent").stdout)
        self.assertEqual(slot["clone"]["netns"], "/run/netns/%s" % slot["ifname"])
        self.assertTrue(slot["persistent"])
        self.assertIn("tap0", in_netns(slot["ifname"], "ip", "link", "show", "tap0").stdout)
        shown = run(TAPLINKCTL, "--socket", self.d.socket, "release", str(slot["slot"]))
        self.assertEqual(shown.returncode, 0)
        self.assertNothingLeft()


class CloneDisabledTest(DaemonTestCase):
    def test_refused(self):
        c = self.client()
        with self.assertRaises(VarlinkError) as cm:
            c.acquire(clone=True)
        self.assertEqual(cm.exception.name, "org.varlink.service.InvalidParameter")
        self.assertEqual(cm.exception.parameters, {"parameter": "clone"})
        self.assertFalse(os.path.exists("/run/netns") and os.listdir("/run/netns"))
        self.assertNoLeak()


if __name__ == "__main__":
    unittest.main()
