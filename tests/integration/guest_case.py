# SPDX-License-Identifier: MIT
"""What the guest services suites share (SPEC section 9; docs/DESIGN.md,
"Guest services"): test_guest.py (frames written into a slot's fd),
test_guest_clients.py (real clients in a stand-in guest) and
test_guest_daemon.py (the daemon's side). The configuration the daemon
hands out, checks of its replies against what a slot's guest must be told
(GuestAssertions), and SlotTestCase: a daemon with that configuration and
one slot acquired with vnetHeader false, so that its fd carries plain
Ethernet frames (guest_link.py).

"No reply" is never a sleep: after the packets that must go unanswered,
the test sends a good one on the same slot and family (a sentinel) and
waits for its reply; the daemon reads one socket in order, so anything it
would have answered before comes first. Only where a service is off (no
socket to order against) does a test wait a fixed NO_REPLY_WINDOW.
"""

import ipaddress
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TIMEOUT_SCALE, DaemonTestCase  # noqa: E402
from packets import (  # noqa: E402
    ALL_NODES, DISCOVER, FLAG_BROADCAST, ND_OPT_DNSSL, ND_OPT_MTU, ND_OPT_PREFIX, ND_OPT_RDNSS, ND_OPT_SLLA,
    O_CLIENTID, O_DNS, O_DOMAIN_LIST, O_ELAPSED, O_IA_NA, O_IAADDR, O_ORO, O_PREFERENCE, O_RAPID_COMMIT,
    O_SERVERID, O_STATUS, OPT_BROADCAST, OPT_CLIENT_ID, OPT_DNS, OPT_DOMAIN, OPT_LEASE_TIME, OPT_MAX_SIZE,
    OPT_MSG_TYPE, OPT_MTU, OPT_PARAM_LIST, OPT_ROUTER, OPT_SERVER_ID, OPT_SUBNET_MASK, OPT_T1, OPT_T2, SOLICIT,
    STATUS_SUCCESS, dhcp4, dhcp6, dns_name, duid_ll, ia_na, ip4, ip6, mac_bytes, mac_str, multicast_mac,
    parse_ia_na, parse_iaaddr)
from guest_link import (  # noqa: E402
    DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, GuestLink, dhcp4_reply)

# What the explicit configuration hands out (documentation addresses: the
# guest is told them, nothing is ever sent to them).
DNS4 = ["192.0.2.53", "198.51.100.53"]
DNS6 = ["2001:db8::53", "2001:db8::54"]
DOMAIN = "guests.example"
LEASE = 3600
DEFAULT_LEASE = 86400
SLOT_MTU = 1400  # not the default 1500: option 26 must be the slot's MTU
ROUTER_LIFETIME = 1800

EXPLICIT_DNS = {
    "guest.dns_servers": ", ".join(DNS4 + DNS6),
    "guest.dns_search": DOMAIN,
    "guest.dhcp_lease_time": str(LEASE),
}

# Where a service is off there is no reply to order a sentinel behind:
# nothing may arrive within this window.
NO_REPLY_WINDOW = 2.0 * TIMEOUT_SCALE


def xid():
    return random.getrandbits(32)


def txid():
    return random.getrandbits(24).to_bytes(3, "big")


def u32(n):
    return struct.pack("!I", n)


def prefix_mask(prefix):
    return u32((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF)


class GuestAssertions:
    """Checks of replies against what a slot's guest must be told; mixed
    into the test cases. Options are compared as bytes: every value exact."""

    def assertOptions(self, what, options, required, optional=None):
        """options: [(code, value)] as received; required: {code: value};
        optional: {code: value or None for any value}. Nothing else, and
        nothing twice."""
        optional = optional or {}
        codes = [c for c, _ in options]
        self.assertEqual(sorted(set(codes)), sorted(codes), "%s: an option appears twice: %s" % (what, codes))
        got = dict(options)
        for code, value in required.items():
            self.assertIn(code, got, "%s: option %d missing (has %s)" % (what, code, codes))
            self.assertEqual(got[code], value, "%s: option %d" % (what, code))
        for code, value in got.items():
            if code in required:
                continue
            self.assertIn(code, optional, "%s: unexpected option %d = %s" % (what, code, value.hex()))
            if optional[code] is not None:
                self.assertEqual(value, optional[code], "%s: option %d" % (what, code))

    # ---- DHCPv4

    def lease_options(self, slot, msg_type, lease=LEASE, dns4=DNS4, domain=DOMAIN, client_id=None):
        """(required, optional) options of an OFFER or ACK for slot."""
        v4 = slot["ipv4"]
        gw = ip4(v4["gateway"])
        required = {
            OPT_MSG_TYPE: bytes([msg_type]),
            OPT_SERVER_ID: gw,
            OPT_SUBNET_MASK: prefix_mask(v4["prefixLength"]),
            OPT_ROUTER: gw,
            OPT_MTU: struct.pack("!H", slot["mtu"]),
        }
        if lease is not None:
            required[OPT_LEASE_TIME] = u32(lease)
        if dns4:
            required[OPT_DNS] = b"".join(ip4(a) for a in dns4)
        if domain:
            # RFC 2132 section 2: no trailing NUL.
            required[OPT_DOMAIN] = domain.encode()
        net = ipaddress.ip_network("%s/%d" % (v4["subnet"], v4["prefixLength"]))
        optional = {OPT_BROADCAST: net.broadcast_address.packed}
        if lease is not None:
            # RFC 2131 section 4.4.5's defaults, if sent at all
            optional[OPT_T1] = u32(lease // 2)
            optional[OPT_T2] = u32(lease * 7 // 8)
        if client_id is not None:
            optional[OPT_CLIENT_ID] = client_id  # echoed (RFC 6842)
        return required, optional

    def assertDhcp4Wire(self, link, r, eth_dst, ip_dst, slot):
        self.assertEqual(mac_str(r.frame.src), link.tap_mac, "a reply comes from the TAP's MAC")
        self.assertEqual(mac_str(r.frame.dst), mac_str(mac_bytes(eth_dst)), "Ethernet destination")
        self.assertEqual(r.ip.src, slot["ipv4"]["gateway"], "IP source")
        self.assertEqual(r.ip.dst, ip_dst, "IP destination")
        self.assertEqual((r.ip.sport, r.ip.dport), (DHCP_SERVER_PORT, DHCP_CLIENT_PORT))
        self.assertGreater(r.ip.ttl, 0)
        self.assertEqual(r.ip.flags_frag & 0x3FFF, 0, "a reply is not a fragment")

    def assertDhcp4Header(self, m, want_xid, chaddr, yiaddr, flags=0, ciaddr="0.0.0.0", gateway=None):
        self.assertEqual((m.op, m.htype, m.hlen, m.hops), (2, 1, 6, 0), "op/htype/hlen/hops")
        self.assertEqual(m.xid, want_xid)
        self.assertEqual(m.flags, flags, "flags are the client's")
        self.assertEqual(m.ciaddr, ciaddr)
        self.assertEqual(m.yiaddr, yiaddr)
        self.assertIn(m.siaddr, ("0.0.0.0", gateway), "siaddr: none or the server's")
        self.assertEqual(m.giaddr, "0.0.0.0")
        self.assertEqual(m.chaddr, mac_bytes(chaddr) + b"\0" * 10)
        self.assertEqual(m.sname, b"\0" * 64)
        self.assertEqual(m.file, b"\0" * 128)

    # ---- Router Advertisements

    def assertRA(self, link, r, slot, dns6=DNS6, domain=DOMAIN, unicast_to=None):
        """An RA for slot: from the TAP's link-local address, to ff02::1 or
        (answering an RS) to unicast_to at the guest's MAC."""
        self.assertEqual(mac_str(r.frame.src), link.tap_mac)
        self.assertEqual(r.ip.src, link.router_ll, "an RA comes from the TAP's link-local address")
        if r.ip.dst == ALL_NODES:
            self.assertEqual(r.frame.dst, multicast_mac(ALL_NODES))
        else:
            self.assertIsNotNone(unicast_to, "an unsolicited RA goes to ff02::1, not %s" % r.ip.dst)
            self.assertEqual(r.ip.dst, unicast_to)
            self.assertEqual(mac_str(r.frame.dst), link.mac)
        self.assertEqual(r.ip.hop_limit, 255, "RFC 4861: hop limit 255")
        ra = r.msg
        self.assertTrue(ra.flags & 0x80, "managed flag (M) on: flags %#x" % ra.flags)
        self.assertEqual(ra.router_lifetime, ROUTER_LIFETIME)
        types = [t for t, _ in ra.options]
        self.assertEqual(sorted(set(types)), sorted(types), "an RA option appears twice: %s" % types)
        opts = dict(ra.options)
        allowed = {ND_OPT_SLLA, ND_OPT_MTU, ND_OPT_PREFIX, ND_OPT_RDNSS, ND_OPT_DNSSL}
        self.assertEqual(set(types) - allowed, set(), "unexpected RA options")
        if ND_OPT_SLLA in opts:
            self.assertEqual(opts[ND_OPT_SLLA], mac_bytes(link.tap_mac), "source link-layer address")
        self.assertIn(ND_OPT_MTU, opts, "MTU option")
        self.assertEqual(opts[ND_OPT_MTU], b"\0\0" + u32(slot["mtu"]), "MTU option = the slot's MTU")
        self.assertIn(ND_OPT_PREFIX, opts, "prefix information")
        p = opts[ND_OPT_PREFIX]
        self.assertEqual(len(p), 30)
        plen, pflags = p[0], p[1]
        valid, preferred = struct.unpack("!II", p[2:10])
        self.assertEqual(plen, slot["ipv6"]["prefixLength"])
        self.assertTrue(pflags & 0x80, "on-link flag (L) on: %#x" % pflags)
        self.assertFalse(pflags & 0x40, "autonomous flag (A) off: %#x" % pflags)
        self.assertGreater(valid, 0)
        self.assertLessEqual(preferred, valid)
        self.assertEqual(p[10:14], b"\0" * 4, "reserved")
        self.assertEqual(p[14:30], ip6(slot["ipv6"]["subnet"]), "the slot's /64")
        if dns6:
            self.assertIn(ND_OPT_RDNSS, opts, "RDNSS (RFC 8106)")
            rd = opts[ND_OPT_RDNSS]
            self.assertEqual(rd[:2], b"\0\0")
            self.assertGreater(struct.unpack("!I", rd[2:6])[0], 0, "RDNSS lifetime")
            self.assertEqual(rd[6:], b"".join(ip6(a) for a in dns6), "RDNSS servers")
        else:
            self.assertNotIn(ND_OPT_RDNSS, opts, "RDNSS without DNS servers")
        if ND_OPT_DNSSL in opts:
            self.assertTrue(domain, "DNSSL without dns_search")
            ds = opts[ND_OPT_DNSSL]
            self.assertEqual(ds[:2], b"\0\0")
            self.assertGreater(struct.unpack("!I", ds[2:6])[0], 0, "DNSSL lifetime")
            name = dns_name(domain)
            self.assertEqual(ds[6:6 + len(name)], name)
            self.assertEqual(ds[6 + len(name):], b"\0" * (len(ds) - 6 - len(name)), "DNSSL padding")

    # ---- DHCPv6

    def assertDhcp6Reply(self, link, r, slot, msg_type, want_txid, client_duid, iaid, rapid=False, dns6=DNS6,
                         domain=DOMAIN):
        """Checks a DHCPv6 ADVERTISE/REPLY carrying an IA_NA; returns the
        server's DUID."""
        self.assertEqual(mac_str(r.frame.src), link.tap_mac)
        self.assertEqual(mac_str(r.frame.dst), link.mac)
        self.assertEqual(r.ip.src, link.router_ll, "DHCPv6 replies come from the TAP's link-local address")
        self.assertEqual(r.ip.dst, link.ll)
        self.assertEqual((r.ip.sport, r.ip.dport), (DHCP6_SERVER_PORT, DHCP6_CLIENT_PORT))
        m = r.msg
        self.assertEqual(m.msg_type, msg_type)
        self.assertEqual(m.txid, want_txid)
        codes = [c for c, _ in m.options]
        self.assertEqual(sorted(set(codes)), sorted(codes), "a DHCPv6 option appears twice: %s" % codes)
        got = dict(m.options)
        self.assertEqual(got.get(O_CLIENTID), client_duid, "client DUID echoed")
        server = got.get(O_SERVERID)
        self.assertIsNotNone(server, "server DUID")
        self.assertGreaterEqual(len(server), 4)
        duid_type = struct.unpack("!H", server[:2])[0]
        self.assertIn(duid_type, (1, 2, 3, 4), "DUID type")
        if duid_type == 3:
            self.assertEqual(server[2:], b"\0\1" + mac_bytes(link.tap_mac), "DUID-LL of the TAP's MAC")
        self.assertIn(O_IA_NA, got, "IA_NA")
        ia = parse_ia_na(got[O_IA_NA])
        self.assertEqual(ia.iaid, iaid)
        addrs = [parse_iaaddr(v) for c, v in ia.options if c == O_IAADDR]
        self.assertEqual([a.addr for a in addrs], [slot["ipv6"]["guest"]], "exactly the slot's B6::2")
        for c, v in ia.options:
            self.assertIn(c, (O_IAADDR, O_STATUS), "unexpected option %d in IA_NA" % c)
            if c == O_STATUS:
                self.assertEqual(struct.unpack("!H", v[:2])[0], STATUS_SUCCESS, "IA_NA status")
        a = addrs[0]
        self.assertGreater(a.valid, 0)
        self.assertLessEqual(a.preferred, a.valid)
        if ia.t1 and ia.t2:
            self.assertLessEqual(ia.t1, ia.t2)
        for c, v in a.options:
            self.assertEqual(c, O_STATUS, "unexpected option %d in IAADDR" % c)
            self.assertEqual(struct.unpack("!H", v[:2])[0], STATUS_SUCCESS)
        if dns6:
            self.assertEqual(got.get(O_DNS), b"".join(ip6(x) for x in dns6), "DNS servers (23)")
        else:
            self.assertNotIn(O_DNS, got)
        if domain:
            self.assertEqual(got.get(O_DOMAIN_LIST), dns_name(domain), "domain list (24)")
        else:
            self.assertNotIn(O_DOMAIN_LIST, got)
        if rapid:
            self.assertEqual(got.get(O_RAPID_COMMIT), b"", "rapid commit acknowledged")
        else:
            self.assertNotIn(O_RAPID_COMMIT, got)
        if O_STATUS in got:
            self.assertEqual(struct.unpack("!H", got[O_STATUS][:2])[0], STATUS_SUCCESS)
        allowed = {O_CLIENTID, O_SERVERID, O_IA_NA, O_DNS, O_DOMAIN_LIST, O_RAPID_COMMIT, O_STATUS, O_PREFERENCE}
        self.assertEqual(set(codes) - allowed, set(), "unexpected DHCPv6 options")
        return server


class SlotTestCase(GuestAssertions, DaemonTestCase):
    """A daemon with the explicit DNS configuration and one slot (self.slot,
    self.link) acquired with vnetHeader false and MTU SLOT_MTU."""

    config = EXPLICIT_DNS

    def setUp(self):
        super().setUp()
        self.c = self.client()
        self.slot, self.link = self.acquire_link(self.c)

    def acquire_link(self, client, **params):
        params.setdefault("vnetHeader", False)
        params.setdefault("mtu", SLOT_MTU)
        slot, fds = client.acquire(**params)
        for fd in fds:
            self.addCleanup(os.close, fd)
        return slot, GuestLink.for_slot(slot, fds[0])

    def discover(self, link=None, broadcast=False, chaddr=None, extra=()):
        """Sends a DISCOVER; returns (xid, client id sent)."""
        link = link or self.link
        chaddr = chaddr or link.mac
        x = xid()
        cid = b"\x01" + mac_bytes(chaddr)
        link.dhcp4(dhcp4(DISCOVER, x, chaddr, flags=FLAG_BROADCAST if broadcast else 0, options=[
            (OPT_CLIENT_ID, cid),
            (OPT_PARAM_LIST, bytes([OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_DOMAIN, OPT_MTU, OPT_LEASE_TIME,
                                    OPT_SERVER_ID, OPT_T1, OPT_T2])),
            (OPT_MAX_SIZE, struct.pack("!H", 1500))] + list(extra)), src_mac=chaddr)
        return x, cid

    def offer(self, link=None, **kw):
        link = link or self.link
        x, _ = self.discover(link, **kw)
        r, _ = link.expect(dhcp4_reply(x), "OFFER")
        return r

    def solicit(self, link=None, rapid=False, iaid=0x7461706C):
        link = link or self.link
        t = txid()
        duid = duid_ll(link.mac)
        opts = [(O_CLIENTID, duid), (O_IA_NA, ia_na(iaid)), (O_ELAPSED, b"\0\0"),
                (O_ORO, struct.pack("!HH", O_DNS, O_DOMAIN_LIST))]
        if rapid:
            opts.append((O_RAPID_COMMIT, b""))
        link.dhcp6(dhcp6(SOLICIT, t, opts))
        return t, duid, iaid
