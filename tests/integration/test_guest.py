# SPDX-License-Identifier: MIT
"""Guest services (SPEC section 9; docs/DESIGN.md, "Guest services"): the
daemon answers DHCPv4, Router Solicitations and DHCPv6 on every slot's TAP.

Frames this suite writes into a slot's fd (Acquire with vnetHeader false,
so the fd carries plain Ethernet frames; guest_link.py), every reply
checked field by field and option by option (packets.py builds and parses
them, and is checked itself in PacketsTest); malformed packets of each
protocol unanswered; dns_servers explicit, none and auto; services off and
ipv6 = no. The same services with real clients: test_guest_clients.py;
the daemon's side of them: test_guest_daemon.py. What the three share,
and how "no reply" is told without a sleep: guest_case.py.
"""

import ipaddress
import os
import signal
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TIMEOUT_SCALE, require_sandbox, run, wait_for  # noqa: E402
from packets import (  # noqa: E402
    ACK, ADVERTISE, ALL_DHCP, ALL_NODES, ALL_ROUTERS, BROADCAST_MAC, CONFIRM, DISCOVER, ETH_P_IP, ETH_P_IPV6,
    FLAG_BROADCAST, INFORM, IPPROTO_ICMPV6, IPPROTO_UDP, NAK, ND_OPT_DNSSL, O_CLIENTID, O_ELAPSED, O_IA_NA, O_IAADDR,
    O_SERVERID, O_STATUS, OFFER, OPT_CLIENT_ID, OPT_DNS, OPT_DOMAIN, OPT_MESSAGE, OPT_MSG_TYPE, OPT_MTU, OPT_PARAM_LIST,
    OPT_REQUESTED_IP, OPT_ROUTER, OPT_SERVER_ID, OPT_SUBNET_MASK, REBIND, RENEW, REPLY, REQUEST, REQUEST6, SOLICIT,
    STATUS_NOTONLINK, STATUS_SUCCESS, checksum as checksum_of, dhcp4, dhcp6, dns_name, duid_ll, eth, ia_na, iaaddr, ip4,
    ipv4_udp, ipv6 as ipv6_packet, link_local, mac_bytes, mac_str, multicast_mac, parse_dhcp4, parse_dhcp6, parse_eth,
    parse_ia_na, parse_iaaddr, parse_ipv4_udp, parse_ipv6, parse_udp6, router_solicitation, udp6)
from guest_link import (  # noqa: E402
    GuestLink, any_service_reply, describe, dhcp4_reply, dhcp6_reply, open_tap, router_advertisement)
from guest_case import DEFAULT_LEASE, SLOT_MTU, EXPLICIT_DNS, NO_REPLY_WINDOW, xid, txid, SlotTestCase  # noqa: E402

# The kernel sends its first RS once its link-local address passed DAD
# (about 1 s, plus up to router_solicitation_delay): 10x that.
WAIT_RS = 20.0 * TIMEOUT_SCALE


# ==================================================================== the codecs themselves

class PacketsTest(unittest.TestCase):
    """packets.py against itself, known vectors and the kernel's own
    frames, so that a failure elsewhere is the daemon's, not the test's."""

    def test_checksum_rfc1071_example(self):
        # RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2
        self.assertEqual(checksum_of(bytes.fromhex("0001f203f4f5f6f7")), 0xFFFF - 0xDDF2)

    def test_link_local_and_multicast(self):
        self.assertEqual(link_local("06:74:6c:00:00:01"), "fe80::474:6cff:fe00:1")
        self.assertEqual(link_local("02:74:6c:01:02:03"), "fe80::74:6cff:fe01:203")
        self.assertEqual(multicast_mac(ALL_DHCP), bytes.fromhex("333300010002"))
        self.assertEqual(dns_name("guests.example"), b"\x06guests\x07example\x00")

    def test_round_trips(self):
        m = dhcp4(DISCOVER, 0x01020304, "02:74:6c:00:00:07", [(OPT_CLIENT_ID, b"\x01abcdef")], flags=FLAG_BROADCAST)
        self.assertEqual(len(m), 300)
        pkt = ipv4_udp("0.0.0.0", "255.255.255.255", 68, 67, m)
        u = parse_ipv4_udp(pkt)
        self.assertEqual((u.src, u.dst, u.sport, u.dport), ("0.0.0.0", "255.255.255.255", 68, 67))
        d = parse_dhcp4(u.payload)
        self.assertEqual((d.xid, d.flags, d.chaddr[:6]), (0x01020304, FLAG_BROADCAST, mac_bytes("02:74:6c:00:00:07")))
        self.assertEqual(d.options, [(OPT_MSG_TYPE, bytes([DISCOVER])), (OPT_CLIENT_ID, b"\x01abcdef")])
        for i in (10, 30, 40):  # IP header, UDP header, payload
            broken = bytearray(pkt)
            broken[i] ^= 1
            with self.assertRaises(ValueError):
                parse_ipv4_udp(bytes(broken))
        with self.assertRaises(ValueError):
            parse_ipv4_udp(ipv4_udp("0.0.0.0", "255.255.255.255", 68, 67, m, udp_len_delta=8, udp_checksum=False))
        with self.assertRaises(ValueError):
            parse_dhcp4(dhcp4(DISCOVER, 1, "02:00:00:00:00:01", end=False, pad_to=0) + b"\x0c\x09ab")
        rs = router_solicitation("fe80::1", "02:00:00:00:00:01")
        p = parse_ipv6(rs)
        self.assertEqual((p.src, p.dst, p.hop_limit, p.next_header), ("fe80::1", ALL_ROUTERS, 255, IPPROTO_ICMPV6))
        with self.assertRaises(ValueError):
            parse_ipv6(router_solicitation("fe80::1", "02:00:00:00:00:01", bad_checksum=True))
        t = b"\xaa\xbb\xcc"
        msg = dhcp6(REPLY, t, [(O_CLIENTID, duid_ll("02:00:00:00:00:01")),
                               (O_IA_NA, ia_na(9, 10, 20, [(O_IAADDR, iaaddr("fd74:6c00::2", 30, 40))]))])
        u6 = parse_udp6(udp6("fe80::1", "fe80::2", 547, 546, msg))
        d6 = parse_dhcp6(u6.payload)
        self.assertEqual((d6.msg_type, d6.txid), (REPLY, t))
        ia = parse_ia_na(dict(d6.options)[O_IA_NA])
        self.assertEqual((ia.iaid, ia.t1, ia.t2), (9, 10, 20))
        self.assertEqual(parse_iaaddr(ia.options[0][1])[:3], ("fd74:6c00::2", 30, 40))

    def test_kernel_frames_parse(self):
        """Datagrams the kernel sends out of a TAP of this test's own:
        its IPv4 and IPv6 UDP checksums must check out here."""
        require_sandbox()
        fd = open_tap("pkttest0", "06:00:00:00:00:01")
        self.addCleanup(os.close, fd)
        link = GuestLink(fd, "02:00:00:00:00:02", "06:00:00:00:00:01")
        run("ip", "addr", "add", "192.0.2.1/24", "dev", "pkttest0")
        run("ip", "addr", "add", "2001:db8::1/64", "dev", "pkttest0", "nodad")
        run("ip", "neigh", "replace", "192.0.2.2", "lladdr", link.mac, "dev", "pkttest0")
        run("ip", "neigh", "replace", "2001:db8::2", "lladdr", link.mac, "dev", "pkttest0")
        for fam, dst in ((socket.AF_INET, "192.0.2.2"), (socket.AF_INET6, "2001:db8::2")):
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.sendto(b"kernel-made %d" % fam, (dst, 6767))

        def udp_from_kernel(raw):
            f = parse_eth(raw)
            if f.ethertype == ETH_P_IP and f.payload[9] == IPPROTO_UDP:
                return parse_ipv4_udp(f.payload)
            if f.ethertype == ETH_P_IPV6 and f.payload[6] == IPPROTO_UDP:
                return parse_udp6(f.payload)
            return None
        got = {}
        while len(got) < 2:
            u, _ = link.expect(udp_from_kernel, "the kernel's datagrams")
            got[u.dst] = u.payload
        self.assertEqual(got, {"192.0.2.2": b"kernel-made %d" % socket.AF_INET,
                               "2001:db8::2": b"kernel-made %d" % socket.AF_INET6})

        # and the kernel's own Router Solicitation (ICMPv6 checksum)
        def kernel_rs(raw):
            f = parse_eth(raw)
            if f.ethertype == ETH_P_IPV6 and f.payload[6] == IPPROTO_ICMPV6 and f.payload[40] == 133:
                return parse_ipv6(f.payload)
            return None
        rs, _ = link.expect(kernel_rs, "the kernel's RS", timeout=WAIT_RS)
        self.assertEqual((rs.src, rs.dst, rs.hop_limit), (link_local(link.tap_mac), ALL_ROUTERS, 255))


# ==================================================================== DHCPv4

class Dhcp4Test(SlotTestCase):

    def test_discover_offer_every_option(self):
        x, cid = self.discover()
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        v4 = self.slot["ipv4"]
        self.assertDhcp4Wire(self.link, r, self.link.mac, v4["guest"], self.slot)
        self.assertDhcp4Header(r.msg, x, self.link.mac, v4["guest"], gateway=v4["gateway"])
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(self.slot, OFFER, client_id=cid))
        self.assertEqual(self.slot["mtu"], SLOT_MTU)

    def test_offer_broadcast_when_asked(self):
        x, cid = self.discover(broadcast=True)
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        v4 = self.slot["ipv4"]
        self.assertDhcp4Wire(self.link, r, BROADCAST_MAC, "255.255.255.255", self.slot)
        self.assertDhcp4Header(r.msg, x, self.link.mac, v4["guest"], flags=FLAG_BROADCAST, gateway=v4["gateway"])
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(self.slot, OFFER, client_id=cid))

    def test_any_client_mac_is_answered(self):
        # The TAP identifies the slot, not the MAC (a VMM may pick its own).
        other = "52:54:00:ab:cd:ef"
        x, cid = self.discover(chaddr=other)
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        v4 = self.slot["ipv4"]
        self.assertDhcp4Wire(self.link, r, other, v4["guest"], self.slot)
        self.assertDhcp4Header(r.msg, x, other, v4["guest"], gateway=v4["gateway"])
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(self.slot, OFFER, client_id=cid))

    def request(self, requested=None, server=None, ciaddr="0.0.0.0", unicast=False):
        """Sends a REQUEST; returns (xid, client id)."""
        x = xid()
        cid = b"\x01" + mac_bytes(self.link.mac)
        opts = [(OPT_CLIENT_ID, cid)]
        if requested:
            opts.append((OPT_REQUESTED_IP, ip4(requested)))
        if server:
            opts.append((OPT_SERVER_ID, ip4(server)))
        opts.append((OPT_PARAM_LIST, bytes([OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_DOMAIN, OPT_MTU])))
        msg = dhcp4(REQUEST, x, self.link.mac, ciaddr=ciaddr, options=opts)
        if unicast:
            # RENEWING: from the leased address to the server, unicast
            self.link.dhcp4(msg, src_ip=ciaddr, dst_ip=self.slot["ipv4"]["gateway"], dst_mac=self.link.tap_mac)
        else:
            self.link.dhcp4(msg)
        return x, cid

    def test_request_ack_selecting_init_reboot_renewing(self):
        v4 = self.slot["ipv4"]
        # SELECTING: the offered address from this server
        x, cid = self.request(v4["guest"], v4["gateway"])
        r, _ = self.link.expect(dhcp4_reply(x), "ACK (selecting)")
        self.assertDhcp4Wire(self.link, r, self.link.mac, v4["guest"], self.slot)
        self.assertDhcp4Header(r.msg, x, self.link.mac, v4["guest"], gateway=v4["gateway"])
        self.assertOptions("ACK", r.msg.options, *self.lease_options(self.slot, ACK, client_id=cid))
        # INIT-REBOOT: the remembered address, no server named
        x, cid = self.request(v4["guest"])
        r, _ = self.link.expect(dhcp4_reply(x), "ACK (init-reboot)")
        self.assertDhcp4Wire(self.link, r, self.link.mac, v4["guest"], self.slot)
        self.assertOptions("ACK", r.msg.options, *self.lease_options(self.slot, ACK, client_id=cid))
        # RENEWING: ciaddr set, unicast to the server; the ACK goes to ciaddr
        x, cid = self.request(ciaddr=v4["guest"], unicast=True)
        r, _ = self.link.expect(dhcp4_reply(x), "ACK (renewing)")
        self.assertDhcp4Wire(self.link, r, self.link.mac, v4["guest"], self.slot)
        self.assertDhcp4Header(r.msg, x, self.link.mac, v4["guest"], ciaddr=v4["guest"], gateway=v4["gateway"])
        self.assertOptions("ACK", r.msg.options, *self.lease_options(self.slot, ACK, client_id=cid))

    def assertNak(self, r, want_xid, cid):
        v4 = self.slot["ipv4"]
        self.assertEqual(mac_str(r.frame.src), self.link.tap_mac)
        # RFC 2131 4.3.2: a NAK is broadcast; the contract allows the client's MAC
        self.assertIn(r.frame.dst, (BROADCAST_MAC, mac_bytes(self.link.mac)))
        self.assertEqual((r.ip.src, r.ip.dst), (v4["gateway"], "255.255.255.255"))
        self.assertDhcp4Header(r.msg, want_xid, self.link.mac, "0.0.0.0", flags=r.msg.flags, gateway=v4["gateway"])
        self.assertOptions("NAK", r.msg.options, {OPT_MSG_TYPE: bytes([NAK]), OPT_SERVER_ID: ip4(v4["gateway"])},
                           {OPT_MESSAGE: None, OPT_CLIENT_ID: cid})

    def test_request_for_another_address_is_naked(self):
        v4 = self.slot["ipv4"]
        neighbour = str(ipaddress.IPv4Address(v4["guest"]) + 4)  # the next slot's guest
        x, cid = self.request(neighbour, v4["gateway"])
        r, _ = self.link.expect(dhcp4_reply(x), "NAK for %s" % neighbour)
        self.assertNak(r, x, cid)
        # INIT-REBOOT with an address from another network
        x, cid = self.request("192.168.77.2")
        r, _ = self.link.expect(dhcp4_reply(x), "NAK for 192.168.77.2")
        self.assertNak(r, x, cid)
        # The gateway's own address is not the guest's either
        x, cid = self.request(v4["gateway"], v4["gateway"])
        r, _ = self.link.expect(dhcp4_reply(x), "NAK for the gateway's address")
        self.assertNak(r, x, cid)

    def test_request_for_another_server_is_ignored(self):
        # RFC 2131 4.3.2: the client chose another server's offer
        v4 = self.slot["ipv4"]
        ignored, _ = self.request(v4["guest"], "10.99.0.1")
        sentinel, _ = self.discover()
        r, _ = self.link.expect(dhcp4_reply(), "any DHCP reply")
        self.assertNotEqual(r.msg.xid, ignored, "answered a REQUEST naming another server")
        self.assertEqual(r.msg.xid, sentinel)

    def test_inform(self):
        v4 = self.slot["ipv4"]
        x = xid()
        cid = b"\x01" + mac_bytes(self.link.mac)
        self.link.dhcp4(dhcp4(INFORM, x, self.link.mac, ciaddr=v4["guest"], options=[
            (OPT_CLIENT_ID, cid), (OPT_PARAM_LIST, bytes([OPT_DNS, OPT_DOMAIN, OPT_MTU]))]),
            src_ip=v4["guest"], dst_ip=v4["gateway"], dst_mac=self.link.tap_mac)
        r, _ = self.link.expect(dhcp4_reply(x), "ACK to INFORM")
        # RFC 2131 4.3.5: unicast to ciaddr, no yiaddr, no lease time
        self.assertDhcp4Wire(self.link, r, self.link.mac, v4["guest"], self.slot)
        self.assertDhcp4Header(r.msg, x, self.link.mac, "0.0.0.0", ciaddr=v4["guest"], gateway=v4["gateway"])
        required, optional = self.lease_options(self.slot, ACK, lease=None, client_id=cid)
        self.assertOptions("ACK to INFORM", r.msg.options, required, optional)

    def test_malformed_gets_no_reply(self):
        mac = self.link.mac
        good = [(OPT_CLIENT_ID, b"\x01" + mac_bytes(mac))]
        bad = []  # (what, xid, frame-sending thunk)

        def add(what, send):
            x = xid()
            bad.append((what, x))
            send(x)
        add("truncated BOOTP header", lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good)[:200]))
        add("no magic cookie", lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good, magic=b"\0\0\0\0")))
        add("a BOOTREPLY from the guest", lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good, op=2)))
        add("no message type", lambda x: self.link.dhcp4(dhcp4(None, x, mac, good)))
        add("message type of length 0",
            lambda x: self.link.dhcp4(dhcp4(None, x, mac, [(OPT_MSG_TYPE, b"")] + good)))
        add("unknown message type 42", lambda x: self.link.dhcp4(dhcp4(42, x, mac, good)))
        add("an OFFER from the guest", lambda x: self.link.dhcp4(dhcp4(OFFER, x, mac, good)))
        add("option running past the end", lambda x: self.link.dhcp4(
            dhcp4(DISCOVER, x, mac, good, pad_to=0, end=False) + b"\x0c\x40abc"))
        add("bad IPv4 header checksum",
            lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good), bad_ip_checksum=True))
        add("UDP length past the packet",
            lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good), udp_len_delta=64, udp_checksum=False))
        add("a first fragment (MF)", lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good), flags_frag=0x2000))
        add("a later fragment", lambda x: self.link.dhcp4(dhcp4(DISCOVER, x, mac, good), flags_frag=0x0010))
        self.link.send(eth(BROADCAST_MAC, mac, ETH_P_IP, b"\x45\x00\x00"))  # truncated IP header
        self.link.send(eth(BROADCAST_MAC, mac, ETH_P_IP, ipv4_udp("0.0.0.0", "255.255.255.255", 68, 67, b"")))
        sentinel, _ = self.discover()
        r, before = self.link.expect(dhcp4_reply(), "any DHCP reply")
        answered = [w for w, x in bad if x == r.msg.xid]
        self.assertEqual(answered, [], "a malformed packet was answered: %s" % answered)
        self.assertEqual(r.msg.xid, sentinel)
        self.assertIsNone(self.d.proc.poll(), "the daemon died")


# ==================================================================== RA

class RouterAdvertisementTest(SlotTestCase):

    def unsolicited_ra(self):
        """The RA sent as the slot went live, which every later count of
        RAs must not mistake for an answer."""
        r, _ = self.link.expect(router_advertisement(), "the unsolicited RA sent as the slot went live")
        return r

    def test_unsolicited_ra_when_slot_goes_live(self):
        # setUp sent nothing into the fd: this RA came by itself.
        r = self.unsolicited_ra()
        self.assertEqual(r.ip.dst, ALL_NODES)
        self.assertRA(self.link, r, self.slot)

    def test_rs_answered_with_every_option(self):
        self.unsolicited_ra()
        self.link.rs()
        r, _ = self.link.expect(router_advertisement(), "RA answering an RS")
        self.assertRA(self.link, r, self.slot, unicast_to=self.link.ll)
        # every RS gets its answer (well within the rate limit)
        for _ in range(3):
            self.link.rs()
            r, _ = self.link.expect(router_advertisement(), "RA answering a repeated RS")
            self.assertRA(self.link, r, self.slot, unicast_to=self.link.ll)

    def test_rs_from_unspecified_address(self):
        # RFC 4861 6.2.6: an RS from :: carries no SLLA and gets a multicast RA
        self.unsolicited_ra()
        self.link.rs(src="::", with_slla=False)
        r, _ = self.link.expect(router_advertisement(), "RA answering an RS from ::")
        self.assertEqual(r.ip.dst, ALL_NODES)
        self.assertRA(self.link, r, self.slot)

    def test_malformed_rs_gets_no_reply(self):
        self.unsolicited_ra()
        l = self.link
        l.rs(hop_limit=64)                     # RFC 4861 6.1.1: hop limit must be 255
        l.rs(bad_checksum=True)
        l.rs(truncate=6)                       # shorter than an RS
        l.rs(src="::", with_slla=True)         # SLLA from the unspecified address
        # an option whose length octet is 0
        icmp = struct.pack("!BBHI", 133, 0, 0, 0) + b"\x01\x00" + b"\0" * 6
        l.send(eth(multicast_mac(ALL_ROUTERS), l.mac, ETH_P_IPV6,
                   ipv6_packet(l.ll, ALL_ROUTERS, IPPROTO_ICMPV6, icmp, 255, checksum_offset=2)))
        # code 1
        icmp = struct.pack("!BBHI", 133, 1, 0, 0)
        l.send(eth(multicast_mac(ALL_ROUTERS), l.mac, ETH_P_IPV6,
                   ipv6_packet(l.ll, ALL_ROUTERS, IPPROTO_ICMPV6, icmp, 255, checksum_offset=2)))
        # payload length past the packet
        l.send(eth(multicast_mac(ALL_ROUTERS), l.mac, ETH_P_IPV6,
                   router_solicitation(l.ll, l.mac)[:44]))
        # Then one good RS and, behind it on the same socket, a DHCPv6
        # SOLICIT: once its ADVERTISE is here, every RA the daemon sent for
        # the packets above is here too. Exactly one may be.
        l.rs()
        t, _, _ = self.solicit()
        _, before = l.expect(dhcp6_reply(t), "ADVERTISE (the sentinel)")
        ras = [b for b in before if router_advertisement()(b) is not None]
        ras += [b for b in l.pending() if router_advertisement()(b) is not None]
        self.assertEqual(len(ras), 1, "RAs for one good RS among malformed ones:\n  %s" % (
            "\n  ".join(describe(b) for b in ras)))
        self.assertIsNone(self.d.proc.poll(), "the daemon died")


# ==================================================================== DHCPv6

class Dhcp6Test(SlotTestCase):

    def test_solicit_advertise(self):
        t, duid, iaid = self.solicit()
        r, _ = self.link.expect(dhcp6_reply(t), "ADVERTISE")
        self.assertDhcp6Reply(self.link, r, self.slot, ADVERTISE, t, duid, iaid)

    def test_solicit_rapid_commit_reply(self):
        t, duid, iaid = self.solicit(rapid=True)
        r, _ = self.link.expect(dhcp6_reply(t), "REPLY to a rapid-commit SOLICIT")
        self.assertDhcp6Reply(self.link, r, self.slot, REPLY, t, duid, iaid, rapid=True)

    def exchange(self, msg_type, server_duid, iaid, duid, what, with_addr=True):
        t = txid()
        inner = [(O_IAADDR, iaaddr(self.slot["ipv6"]["guest"]))] if with_addr else []
        opts = [(O_CLIENTID, duid)]
        if server_duid is not None:
            opts.append((O_SERVERID, server_duid))
        opts += [(O_IA_NA, ia_na(iaid, options=inner)), (O_ELAPSED, b"\0\0")]
        self.link.dhcp6(dhcp6(msg_type, t, opts))
        r, _ = self.link.expect(dhcp6_reply(t), what)
        return t, r

    def test_request_renew_rebind_reply(self):
        t, duid, iaid = self.solicit()
        r, _ = self.link.expect(dhcp6_reply(t), "ADVERTISE")
        server = self.assertDhcp6Reply(self.link, r, self.slot, ADVERTISE, t, duid, iaid)
        for msg_type, srv, what in ((REQUEST6, server, "REPLY to REQUEST"), (RENEW, server, "REPLY to RENEW"),
                                    (REBIND, None, "REPLY to REBIND")):
            t, r = self.exchange(msg_type, srv, iaid, duid, what)
            self.assertDhcp6Reply(self.link, r, self.slot, REPLY, t, duid, iaid)

    def test_confirm(self):
        duid, iaid = duid_ll(self.link.mac), 7
        t, r = self.exchange(CONFIRM, None, iaid, duid, "REPLY to CONFIRM")
        got = dict(r.msg.options)
        self.assertEqual(r.msg.msg_type, REPLY)
        self.assertEqual(got.get(O_CLIENTID), duid)
        self.assertIn(O_STATUS, got, "a REPLY to CONFIRM says whether the address is on-link")
        self.assertEqual(struct.unpack("!H", got[O_STATUS][:2])[0], STATUS_SUCCESS)
        # an address from elsewhere: RFC 8415 18.3.3, NotOnLink
        t = txid()
        self.link.dhcp6(dhcp6(CONFIRM, t, [(O_CLIENTID, duid), (O_ELAPSED, b"\0\0"),
                                           (O_IA_NA, ia_na(iaid, options=[(O_IAADDR, iaaddr("fd00:99::2"))]))]))
        r, _ = self.link.expect(dhcp6_reply(t), "REPLY to CONFIRM of another prefix")
        got = dict(r.msg.options)
        self.assertEqual(struct.unpack("!H", got[O_STATUS][:2])[0], STATUS_NOTONLINK)

    def test_malformed_gets_no_reply(self):
        mac = self.link.mac
        duid = duid_ll(mac)
        ok = [(O_CLIENTID, duid), (O_IA_NA, ia_na(1)), (O_ELAPSED, b"\0\0")]
        bad = []

        def add(what, t, msg):
            bad.append((what, t))
            self.link.dhcp6(msg)
        t = txid()
        add("3 bytes", t, dhcp6(SOLICIT, t)[:3])
        t = txid()
        add("option past the end", t, dhcp6(SOLICIT, t, ok) + b"\x00\x01\x00\x40ab")
        t = txid()
        add("option header cut", t, dhcp6(SOLICIT, t, ok) + b"\x00")
        t = txid()
        add("SOLICIT without client id", t, dhcp6(SOLICIT, t, ok[1:]))
        t = txid()
        add("SOLICIT naming a server", t, dhcp6(SOLICIT, t, ok + [(O_SERVERID, duid_ll("06:00:00:00:00:01"))]))
        t = txid()
        add("REQUEST naming another server", t,
            dhcp6(REQUEST6, t, ok + [(O_SERVERID, duid_ll("06:00:00:00:00:01"))]))
        t = txid()
        add("REQUEST naming no server", t, dhcp6(REQUEST6, t, ok))
        t = txid()
        add("an ADVERTISE from the guest", t, dhcp6(ADVERTISE, t, ok))
        t = txid()
        add("a REPLY from the guest", t, dhcp6(REPLY, t, ok))
        t = txid()
        add("unknown message type 99", t, dhcp6(99, t, ok))
        t = txid()
        add("IA_NA shorter than 12 bytes", t, dhcp6(SOLICIT, t, [(O_CLIENTID, duid), (O_IA_NA, b"\0\0\0\1")]))
        sentinel, duid, iaid = self.solicit()
        r, _ = self.link.expect(dhcp6_reply(), "any DHCPv6 reply")
        answered = [w for w, x in bad if x == r.msg.txid]
        self.assertEqual(answered, [], "a malformed DHCPv6 packet was answered: %s" % answered)
        self.assertEqual(r.msg.txid, sentinel)
        self.assertIsNone(self.d.proc.poll(), "the daemon died")


# ==================================================================== no DNS

class NoDnsTest(SlotTestCase):
    """dns_servers = none, dns_search and the lease time at their defaults:
    no DNS option anywhere, lease 86400."""

    config = {"guest.dns_servers": "none"}

    def test_no_dns_options(self):
        # (expect() consumes what it passes over: the RA sent at Acquire first)
        r, _ = self.link.expect(router_advertisement(), "the unsolicited RA")
        self.assertRA(self.link, r, self.slot, dns6=None, domain=None)
        self.assertNotIn(ND_OPT_DNSSL, dict(r.msg.options))
        x, cid = self.discover()
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(
            self.slot, OFFER, lease=DEFAULT_LEASE, dns4=None, domain=None, client_id=cid))
        t, duid, iaid = self.solicit()
        r, _ = self.link.expect(dhcp6_reply(t), "ADVERTISE")
        self.assertDhcp6Reply(self.link, r, self.slot, ADVERTISE, t, duid, iaid, dns6=None, domain=None)


# ==================================================================== dns_servers = auto

_RESOLV_WRAPPER = r'''
set -eu
resolv=$1 resolved=$2
shift 2
mount --bind "$resolv" "$(realpath /etc/resolv.conf)"
if [ "$resolved" != - ]; then
    mount -t tmpfs -o mode=0755,size=64k taplink-test-run /run
    mkdir -p /run/systemd/resolve
    cp "$resolved" /run/systemd/resolve/resolv.conf
fi
exec "$@"
'''


class AutoDnsTest(SlotTestCase):
    """dns_servers = auto (the default): the host's resolv.conf without
    loopback entries, read again on SIGHUP. The daemon runs in a mount
    namespace of its own where /etc/resolv.conf is this test's file."""

    config = {}
    resolv = ("# written by test_guest.py\nnameserver 127.0.0.1\nnameserver 192.0.2.10\nnameserver ::1\n"
              "nameserver 2001:db8::10\nsearch not-handed-out.example\n")
    resolved = None  # systemd-resolved's upstream file, when not None

    def daemon_wrapper(self):
        self.resolv_path = os.path.join(self.tmp.name, "host-resolv.conf")
        with open(self.resolv_path, "w") as f:
            f.write(self.resolv)
        resolved = "-"
        if self.resolved is not None:
            resolved = os.path.join(self.tmp.name, "resolved-resolv.conf")
            with open(resolved, "w") as f:
                f.write(self.resolved)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _RESOLV_WRAPPER, "sh",
                self.resolv_path, resolved]

    def offered_dns(self):
        r = self.offer()
        return dict(r.msg.options).get(OPT_DNS), dict(r.msg.options).get(OPT_DOMAIN)

    def test_auto_takes_the_hosts_nameservers_without_loopback(self):
        r, _ = self.link.expect(router_advertisement(), "the unsolicited RA")
        self.assertRA(self.link, r, self.slot, dns6=["2001:db8::10"], domain=None)
        x, cid = self.discover()
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        # dns_search stays empty: a resolv.conf search line is not handed out
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(
            self.slot, OFFER, lease=DEFAULT_LEASE, dns4=["192.0.2.10"], domain=None, client_id=cid))
        t, duid, iaid = self.solicit()
        r, _ = self.link.expect(dhcp6_reply(t), "ADVERTISE")
        self.assertDhcp6Reply(self.link, r, self.slot, ADVERTISE, t, duid, iaid, dns6=["2001:db8::10"], domain=None)

    def test_sighup_reads_them_again(self):
        self.assertEqual(self.offered_dns()[0], ip4("192.0.2.10"))
        # the same inode (it is bind-mounted): rewrite it in place
        with open(self.resolv_path, "w") as f:
            f.write("nameserver 192.0.2.11\nnameserver 192.0.2.12\n")
        os.kill(self.d.proc.pid, signal.SIGHUP)
        want = ip4("192.0.2.11") + ip4("192.0.2.12")
        # polled at 5 DISCOVERs a second, well inside the rate limit
        wait_for(lambda: self.offered_dns()[0] == want, interval=0.2,
                 what="the OFFER to carry the new nameservers after SIGHUP")
        self.assertIsNone(self.d.proc.poll())


class AutoDnsResolvedStubTest(AutoDnsTest):
    """/etc/resolv.conf holding only systemd-resolved's stub: the upstream
    servers come from /run/systemd/resolve/resolv.conf."""

    resolv = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
    resolved = "nameserver 192.0.2.20\nnameserver 2001:db8::20\n"

    def test_auto_takes_the_hosts_nameservers_without_loopback(self):
        r, _ = self.link.expect(router_advertisement(), "the unsolicited RA")
        self.assertRA(self.link, r, self.slot, dns6=["2001:db8::20"], domain=None)
        r = self.offer()
        self.assertEqual(dict(r.msg.options).get(OPT_DNS), ip4("192.0.2.20"))

    def test_sighup_reads_them_again(self):
        pass  # AutoDnsTest's


class AutoDnsNothingFoundTest(AutoDnsTest):
    """Only loopback nameservers and no systemd-resolved: no DNS option."""

    resolv = "nameserver 127.0.0.1\nnameserver ::1\n"

    def test_auto_takes_the_hosts_nameservers_without_loopback(self):
        r, _ = self.link.expect(router_advertisement(), "the unsolicited RA")
        self.assertRA(self.link, r, self.slot, dns6=None, domain=None)
        x, cid = self.discover()
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(
            self.slot, OFFER, lease=DEFAULT_LEASE, dns4=None, domain=None, client_id=cid))

    def test_sighup_reads_them_again(self):
        pass  # AutoDnsTest's


# ==================================================================== services off

class ServicesOffTest(SlotTestCase):
    """dhcp, router_advertisements and dhcpv6 = no: nothing answers."""

    config = dict(EXPLICIT_DNS, **{"guest.dhcp": "no", "guest.router_advertisements": "no",
                                   "guest.dhcpv6": "no"})

    def test_nothing_answers(self):
        self.discover()
        self.link.rs()
        self.solicit()
        got = [b for b in self.link.frames(NO_REPLY_WINDOW) if any_service_reply(b) is not None]
        self.assertEqual(got, [], "answers with every service off:\n  %s" % "\n  ".join(describe(b) for b in got))


class Ipv6OffTest(SlotTestCase):
    """ipv6 = no: DHCPv4 as usual, no RA and no DHCPv6."""

    config = dict(EXPLICIT_DNS, **{"network.ipv6": "no"})

    def test_dhcp4_only(self):
        self.assertIsNone(self.slot["ipv6"])
        x, cid = self.discover()
        r, _ = self.link.expect(dhcp4_reply(x), "OFFER")
        self.assertOptions("OFFER", r.msg.options, *self.lease_options(self.slot, OFFER, client_id=cid))
        self.link.rs()
        self.solicit()
        got = [b for b in self.link.frames(NO_REPLY_WINDOW)
               if router_advertisement()(b) is not None or dhcp6_reply()(b) is not None]
        self.assertEqual(got, [], "IPv6 answers with ipv6 = no:\n  %s" % "\n  ".join(describe(b) for b in got))


if __name__ == "__main__":
    unittest.main()
