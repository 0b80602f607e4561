# SPDX-License-Identifier: MIT
"""Frames a guest sends and receives, built and parsed byte by byte, for
the guest services suites (test_guest*.py): Ethernet, IPv4/UDP, IPv6 with
UDP or ICMPv6, DHCPv4 (RFC 2131/2132), Router Solicitation/Advertisement
(RFC 4861, 8106) and DHCPv6 (RFC 8415). Pure functions, no I/O. The
parsers check every length and checksum and raise ValueError on anything
malformed: a reply the daemon got wrong must fail the test, never be
skipped over.

Addresses are strings as the Slot object gives them ("10.213.0.2",
"fd74:6c00::2"); MACs are "02:74:6c:00:00:01" strings or 6 bytes.
"""

import ipaddress
import socket
import struct
from collections import namedtuple

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST_MAC = b"\xff" * 6

IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58


def mac_bytes(mac):
    if isinstance(mac, (bytes, bytearray)):
        assert len(mac) == 6
        return bytes(mac)
    b = bytes(int(x, 16) for x in mac.split(":"))
    assert len(b) == 6, mac
    return b


def mac_str(b):
    return ":".join("%02x" % x for x in b)


def ip4(addr):
    return socket.inet_aton(addr)


def ip6(addr):
    return ipaddress.IPv6Address(addr).packed


def checksum(data):
    """The Internet checksum (RFC 1071), as it goes into a header."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s >> 16) + (s & 0xFFFF)
    return ~s & 0xFFFF


# ---------------------------------------------------------------- Ethernet

Frame = namedtuple("Frame", "dst src ethertype payload")


def eth(dst, src, ethertype, payload):
    return mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype) + payload


def parse_eth(frame):
    if len(frame) < 14:
        raise ValueError("frame of %d bytes" % len(frame))
    return Frame(frame[0:6], frame[6:12], struct.unpack("!H", frame[12:14])[0], frame[14:])


# ---------------------------------------------------------------- IPv4 / UDP

IPv4UDP = namedtuple("IPv4UDP", "src dst ttl ident flags_frag sport dport payload udp_checksum")


def ipv4_udp(src, dst, sport, dport, payload, ttl=64, ident=0, flags_frag=0,
             udp_len_delta=0, bad_ip_checksum=False, udp_checksum=True):
    """An IPv4 packet carrying one UDP datagram. udp_len_delta and
    bad_ip_checksum make malformed packets on purpose."""
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, udp_len + udp_len_delta, 0) + payload
    if udp_checksum:
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, IPPROTO_UDP, udp_len)
        c = checksum(pseudo + udp) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident, flags_frag, ttl, IPPROTO_UDP, 0,
                      ip4(src), ip4(dst))
    c = checksum(hdr)
    if bad_ip_checksum:
        c ^= 0x5A5A
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + udp


def parse_ipv4_udp(pkt):
    """The UDP datagram in an IPv4 packet. Checks the version, lengths, the
    header checksum and the UDP checksum (0 = none is accepted and reported
    as udp_checksum None). Raises ValueError otherwise."""
    if len(pkt) < 20:
        raise ValueError("IPv4 packet of %d bytes" % len(pkt))
    vihl, _, total, ident, flags_frag, ttl, proto, _ = struct.unpack("!BBHHHBBH", pkt[:12])
    if vihl >> 4 != 4:
        raise ValueError("IP version %d" % (vihl >> 4))
    ihl = (vihl & 15) * 4
    if ihl < 20 or total < ihl or total > len(pkt):
        raise ValueError("IPv4 header length %d, total length %d, packet %d bytes" % (ihl, total, len(pkt)))
    if checksum(pkt[:ihl]) != 0:
        raise ValueError("bad IPv4 header checksum")
    if proto != IPPROTO_UDP:
        raise ValueError("IP protocol %d, not UDP" % proto)
    src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
    udp = pkt[ihl:total]
    if len(udp) < 8:
        raise ValueError("UDP header truncated")
    sport, dport, ulen, ucsum = struct.unpack("!HHHH", udp[:8])
    if ulen < 8 or ulen > len(udp):
        raise ValueError("UDP length %d in %d bytes" % (ulen, len(udp)))
    udp = udp[:ulen]
    if ucsum:
        pseudo = pkt[12:20] + struct.pack("!BBH", 0, IPPROTO_UDP, ulen)
        if checksum(pseudo + udp) != 0:
            raise ValueError("bad UDP checksum")
    return IPv4UDP(src, dst, ttl, ident, flags_frag, sport, dport, udp[8:], ucsum or None)


# ---------------------------------------------------------------- IPv6

IPv6Packet = namedtuple("IPv6Packet", "src dst next_header hop_limit payload")


def _ip6_pseudo(src, dst, length, next_header):
    return ip6(src) + ip6(dst) + struct.pack("!IxxxB", length, next_header)


def ipv6(src, dst, next_header, upper, hop_limit=64, checksum_offset=None, bad_checksum=False,
         payload_len_delta=0):
    """An IPv6 packet around an upper-layer payload whose checksum field is
    at checksum_offset (UDP 6, ICMPv6 2), filled in here."""
    if checksum_offset is not None:
        c = checksum(_ip6_pseudo(src, dst, len(upper), next_header) + upper)
        if next_header == IPPROTO_UDP and c == 0:
            c = 0xFFFF
        if bad_checksum:
            c ^= 0x5A5A
        upper = upper[:checksum_offset] + struct.pack("!H", c) + upper[checksum_offset + 2:]
    hdr = struct.pack("!IHBB", 6 << 28, len(upper) + payload_len_delta, next_header, hop_limit)
    return hdr + ip6(src) + ip6(dst) + upper


def parse_ipv6(pkt):
    """The header and the upper-layer payload of an IPv6 packet; checks the
    upper-layer checksum of UDP and ICMPv6."""
    if len(pkt) < 40:
        raise ValueError("IPv6 packet of %d bytes" % len(pkt))
    first, plen, nh, hlim = struct.unpack("!IHBB", pkt[:8])
    if first >> 28 != 6:
        raise ValueError("IP version %d" % (first >> 28))
    if 40 + plen > len(pkt):
        raise ValueError("IPv6 payload length %d in %d bytes" % (plen, len(pkt) - 40))
    src = str(ipaddress.IPv6Address(pkt[8:24]))
    dst = str(ipaddress.IPv6Address(pkt[24:40]))
    upper = pkt[40:40 + plen]
    if nh in (IPPROTO_UDP, IPPROTO_ICMPV6):
        if checksum(_ip6_pseudo(src, dst, plen, nh) + upper) != 0:
            raise ValueError("bad %s checksum" % ("UDP" if nh == IPPROTO_UDP else "ICMPv6"))
    return IPv6Packet(src, dst, nh, hlim, upper)


def udp6(src, dst, sport, dport, payload, hop_limit=1, **kw):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return ipv6(src, dst, IPPROTO_UDP, udp, hop_limit, checksum_offset=6, **kw)


UDP6 = namedtuple("UDP6", "src dst hop_limit sport dport payload")


def parse_udp6(pkt):
    p = parse_ipv6(pkt)
    if p.next_header != IPPROTO_UDP:
        raise ValueError("next header %d, not UDP" % p.next_header)
    if len(p.payload) < 8:
        raise ValueError("UDP header truncated")
    sport, dport, ulen, _ = struct.unpack("!HHHH", p.payload[:8])
    if ulen != len(p.payload):
        raise ValueError("UDP length %d, IPv6 payload %d" % (ulen, len(p.payload)))
    return UDP6(p.src, p.dst, p.hop_limit, sport, dport, p.payload[8:])


def link_local(mac):
    """fe80::/64 with the modified EUI-64 of mac (RFC 4291, appendix A)."""
    m = mac_bytes(mac)
    iid = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + iid))


def multicast_mac(addr):
    """The Ethernet address of an IPv6 multicast group (RFC 2464)."""
    return b"\x33\x33" + ip6(addr)[12:]


def solicited_node(addr):
    return str(ipaddress.IPv6Address(b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + ip6(addr)[13:]))


# ---------------------------------------------------------------- DHCPv4

DHCP_MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
BOOTREQUEST, BOOTREPLY = 1, 2
FLAG_BROADCAST = 0x8000

# option codes (RFC 2132)
OPT_PAD, OPT_END = 0, 255
OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN = 1, 3, 6, 12, 15
OPT_MTU, OPT_BROADCAST = 26, 28
OPT_REQUESTED_IP, OPT_LEASE_TIME, OPT_OVERLOAD, OPT_MSG_TYPE, OPT_SERVER_ID = 50, 51, 52, 53, 54
OPT_PARAM_LIST, OPT_MESSAGE, OPT_MAX_SIZE, OPT_T1, OPT_T2, OPT_CLIENT_ID = 55, 56, 57, 58, 59, 61


def dhcp4_options(options, end=True):
    out = b""
    for code, value in options:
        out += bytes([code, len(value)]) + value
    return out + (b"\xff" if end else b"")


def dhcp4(msg_type, xid, chaddr, options=(), op=BOOTREQUEST, flags=0, ciaddr="0.0.0.0",
          yiaddr="0.0.0.0", siaddr="0.0.0.0", giaddr="0.0.0.0", htype=1, hlen=6, hops=0, secs=0,
          magic=DHCP_MAGIC, end=True, pad_to=300):
    """A BOOTP/DHCP message; option 53 = msg_type comes first unless
    msg_type is None. Padded to pad_to bytes as real clients do (300)."""
    opts = ([(OPT_MSG_TYPE, bytes([msg_type]))] if msg_type is not None else []) + list(options)
    chaddr = mac_bytes(chaddr) if not isinstance(chaddr, bytes) or len(chaddr) == 6 else chaddr
    msg = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, htype, hlen, hops, xid, secs, flags,
                      ip4(ciaddr), ip4(yiaddr), ip4(siaddr), ip4(giaddr), chaddr, b"", b"")
    msg += magic + dhcp4_options(opts, end)
    if len(msg) < pad_to:
        msg += b"\0" * (pad_to - len(msg))
    return msg


DHCP4 = namedtuple("DHCP4", "op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr sname file "
                            "options")


def parse_dhcp4(data):
    """A BOOTP/DHCP message: its fixed fields, and its options as a list of
    (code, value) in order. Raises ValueError when truncated, without the
    magic cookie, with an option running past the end or without the end
    option, or with an option overload (this suite never asks for one)."""
    if len(data) < 240:
        raise ValueError("DHCP message of %d bytes" % len(data))
    f = struct.unpack("!BBBBIHH4s4s4s4s16s64s128s", data[:236])
    if data[236:240] != DHCP_MAGIC:
        raise ValueError("no magic cookie")
    opts = []
    i = 240
    while True:
        if i >= len(data):
            raise ValueError("options end without option 255")
        code = data[i]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            i += 1
            continue
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            raise ValueError("option %d runs past the end" % code)
        opts.append((code, data[i + 2:i + 2 + data[i + 1]]))
        i += 2 + data[i + 1]
    if any(c == OPT_OVERLOAD for c, _ in opts):
        raise ValueError("option overload")
    ip = [socket.inet_ntoa(x) for x in f[7:11]]
    return DHCP4(f[0], f[1], f[2], f[3], f[4], f[5], f[6], ip[0], ip[1], ip[2], ip[3], f[11], f[12], f[13], opts)


def dns_name(domain):
    """A domain name in DNS wire format (RFC 1035 3.1), uncompressed."""
    out = b""
    for label in domain.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


# ---------------------------------------------------------------- Neighbour Discovery

ND_RS, ND_RA = 133, 134
ND_OPT_SLLA, ND_OPT_TLLA, ND_OPT_PREFIX, ND_OPT_MTU, ND_OPT_RDNSS, ND_OPT_DNSSL = 1, 2, 3, 5, 25, 31
ALL_NODES, ALL_ROUTERS = "ff02::1", "ff02::2"


def router_solicitation(src, mac=None, hop_limit=255, options=None, bad_checksum=False, truncate=None):
    """An RS (type 133) as an IPv6 packet to ff02::2, with a source
    link-layer address option when mac is given (not allowed from ::)."""
    icmp = struct.pack("!BBHI", ND_RS, 0, 0, 0)
    if options is None:
        options = [(ND_OPT_SLLA, mac_bytes(mac))] if mac is not None else []
    for t, v in options:
        icmp += bytes([t, (len(v) + 2 + 7) // 8]) + v + b"\0" * (-(len(v) + 2) % 8)
    if truncate is not None:
        icmp = icmp[:truncate]
    return ipv6(src, ALL_ROUTERS, IPPROTO_ICMPV6, icmp, hop_limit, checksum_offset=2 if len(icmp) >= 4 else None,
                bad_checksum=bad_checksum)


RA = namedtuple("RA", "cur_hop_limit flags router_lifetime reachable_time retrans_timer options")


def parse_nd_options(data):
    """[(type, bytes after the type and length octets)]; a zero length or
    one running past the end raises ValueError."""
    out = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise ValueError("ND option header truncated")
        t, n = data[i], data[i + 1] * 8
        if n == 0 or i + n > len(data):
            raise ValueError("ND option %d of length %d in %d bytes" % (t, n, len(data) - i))
        out.append((t, data[i + 2:i + n]))
        i += n
    return out


def parse_ra(icmp):
    if len(icmp) < 16:
        raise ValueError("RA of %d bytes" % len(icmp))
    t, code, _, hl, flags, life, reach, retrans = struct.unpack("!BBHBBHII", icmp[:16])
    if t != ND_RA or code != 0:
        raise ValueError("ICMPv6 type %d code %d, not an RA" % (t, code))
    return RA(hl, flags, life, reach, retrans, parse_nd_options(icmp[16:]))


# ---------------------------------------------------------------- DHCPv6

SOLICIT, ADVERTISE, REQUEST6, CONFIRM, RENEW, REBIND, REPLY, RELEASE6, DECLINE6 = 1, 2, 3, 4, 5, 6, 7, 8, 9
INFORMATION_REQUEST = 11
O_CLIENTID, O_SERVERID, O_IA_NA, O_IA_TA, O_IAADDR, O_ORO, O_PREFERENCE, O_ELAPSED = 1, 2, 3, 4, 5, 6, 7, 8
O_STATUS, O_RAPID_COMMIT, O_DNS, O_DOMAIN_LIST = 13, 14, 23, 24
ALL_DHCP = "ff02::1:2"
STATUS_SUCCESS, STATUS_NOADDRSAVAIL, STATUS_NOBINDING, STATUS_NOTONLINK = 0, 2, 3, 4


def dhcp6_options(options):
    return b"".join(struct.pack("!HH", c, len(v)) + v for c, v in options)


def dhcp6(msg_type, txid, options=()):
    return bytes([msg_type]) + txid + dhcp6_options(options)


def parse_dhcp6_options(data):
    out = []
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError("DHCPv6 option header truncated")
        c, n = struct.unpack("!HH", data[i:i + 4])
        if i + 4 + n > len(data):
            raise ValueError("DHCPv6 option %d of length %d runs past the end" % (c, n))
        out.append((c, data[i + 4:i + 4 + n]))
        i += 4 + n
    return out


DHCP6 = namedtuple("DHCP6", "msg_type txid options")


def parse_dhcp6(data):
    if len(data) < 4:
        raise ValueError("DHCPv6 message of %d bytes" % len(data))
    return DHCP6(data[0], data[1:4], parse_dhcp6_options(data[4:]))


def duid_ll(mac):
    return struct.pack("!HH", 3, 1) + mac_bytes(mac)


def ia_na(iaid, t1=0, t2=0, options=()):
    return struct.pack("!III", iaid, t1, t2) + dhcp6_options(options)


IANA = namedtuple("IANA", "iaid t1 t2 options")


def parse_ia_na(value):
    if len(value) < 12:
        raise ValueError("IA_NA of %d bytes" % len(value))
    iaid, t1, t2 = struct.unpack("!III", value[:12])
    return IANA(iaid, t1, t2, parse_dhcp6_options(value[12:]))


def iaaddr(addr, preferred=0, valid=0, options=()):
    return ip6(addr) + struct.pack("!II", preferred, valid) + dhcp6_options(options)


IAAddr = namedtuple("IAAddr", "addr preferred valid options")


def parse_iaaddr(value):
    if len(value) < 24:
        raise ValueError("IAADDR of %d bytes" % len(value))
    pref, valid = struct.unpack("!II", value[16:24])
    return IAAddr(str(ipaddress.IPv6Address(value[:16])), pref, valid, parse_dhcp6_options(value[24:]))
