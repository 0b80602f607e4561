#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Writes the seed corpora of fuzz-icmp6 and fuzz-dhcp6 (tests/fuzz/corpus/
# icmp6/ and dhcp6/): messages shaped as the guests' clients send them (the
# Linux kernel's Router Solicitations; dhclient's, dhcpcd's and
# systemd-networkd's DHCPv6), each after the harness's first byte (the
# guest_net, the source, the hop limit: see tests/fuzz/guest-nets.h and the
# harnesses). Rerun after changing a seed here:
#     tests/fuzz/guest-seeds.py tests/fuzz/corpus
import os
import struct
import sys

GUEST_MAC = bytes.fromhex("02746c000007")
HOST_MAC = bytes.fromhex("06746c000007")
GUEST6 = bytes.fromhex("fd746c00000000070000000000000002")
OUR_DUID = bytes.fromhex("00030001") + HOST_MAC
XID = bytes.fromhex("5a1e07")

# First byte: bits 0-1 the guest_net (0: DNS, 1: none, 2: most DNS and a
# /48, 3: IPv6 off), bits 2-3 the source (0: link-local, 1: ::, 2: global,
# 3: multicast); icmp6: bits 4-5 the hop limit (0: 255, 1: 254, 2: 1,
# 3: 0), bit 6 a spoilt checksum; dhcp6: bits 6 and 7 both set: port 546.
LL, UNSPEC, GLOBAL, MCAST = 0, 4, 8, 12
HOP1 = 0x20
BADSUM = 0x40


def nd_opt(t, body):
    return bytes([t, (len(body) + 2) // 8]) + body


SLLAO = nd_opt(1, GUEST_MAC)
RS = bytes([133, 0, 0, 0, 0, 0, 0, 0])

ICMP6 = {
    "linux-rs": bytes([LL]) + RS + SLLAO,
    "linux-rs-unspecified": bytes([UNSPEC]) + RS,
    "rs-sllao-from-unspecified": bytes([UNSPEC]) + RS + SLLAO,
    "rs-global-source": bytes([GLOBAL]) + RS + SLLAO,
    "rs-multicast-source": bytes([MCAST]) + RS,
    "rs-hop-limit-1": bytes([HOP1]) + RS + SLLAO,
    "rs-bad-checksum": bytes([BADSUM]) + RS + SLLAO,
    "rs-no-dns": bytes([1]) + RS + SLLAO,
    "rs-most-dns": bytes([2]) + RS + SLLAO,
    "rs-ipv6-off": bytes([3]) + RS + SLLAO,
    "rs-unknown-option": bytes([LL]) + RS + SLLAO + nd_opt(14, bytes(6)),
    "rs-option-length-0": bytes([LL]) + RS + bytes([1, 0]) + GUEST_MAC,
    "rs-code-1": bytes([LL, 133, 1]) + bytes(6),
    "ns-dad": bytes([UNSPEC, 135, 0, 0, 0, 0, 0, 0, 0]) + GUEST6,
    "mldv2-report": bytes([UNSPEC | HOP1, 143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0])
    + bytes.fromhex("ff0200000000000000000001ff000002"),
    "echo-request": bytes([GLOBAL, 128, 0, 0, 0, 0x12, 0x34, 0, 1]) + b"ping",
}


def opt(code, body=b""):
    return struct.pack(">HH", code, len(body)) + body


def iaaddr(addr, pref, valid):
    return opt(5, addr + struct.pack(">II", pref, valid))


def ia_na(iaid, t1=0, t2=0, body=b""):
    return opt(3, iaid + struct.pack(">II", t1, t2) + body)


def msg(first, mtype, *options):
    return bytes([first, mtype]) + XID + b"".join(options)


def oro(*codes):
    return opt(6, b"".join(struct.pack(">H", c) for c in codes))


ELAPSED = opt(8, b"\0\0")
# dhclient: DUID-LLT, its default option request, IAID from the MAC.
DHCLIENT_ID = opt(1, bytes.fromhex("000100012d1f3a11") + GUEST_MAC)
DHCLIENT_ORO = oro(23, 24, 39, 31)
DHCLIENT_IAID = GUEST_MAC[2:]
LEASE = ia_na(DHCLIENT_IAID, 43200, 69120, iaaddr(GUEST6, 86400, 86400))
# dhcpcd: DUID-LL, an FQDN, a hint-less IA_NA and an IA_PD asking for a /56.
DHCPCD_ID = opt(1, bytes.fromhex("00030001") + GUEST_MAC)
DHCPCD_ORO = oro(23, 24, 56, 82)
FQDN = opt(39, b"\x01\x05guest\0")
IA_PD = opt(25, bytes.fromhex("00000001") + bytes(8) + opt(26, bytes(8) + bytes([56]) + bytes(16)))
# systemd-networkd: DUID-EN (systemd's enterprise number), Rapid Commit.
NETWORKD_ID = opt(1, bytes.fromhex("0002 0000ab11 b0b1b2b3b4b5b6b7".replace(" ", "")))
VENDOR = opt(16, bytes.fromhex("0000ab11") + struct.pack(">H", 7) + b"systemd")

DHCP6 = {
    "dhclient-solicit": msg(LL, 1, DHCLIENT_ID, DHCLIENT_ORO, ELAPSED, ia_na(DHCLIENT_IAID)),
    "dhclient-request": msg(LL, 3, DHCLIENT_ID, opt(2, OUR_DUID), DHCLIENT_ORO, ELAPSED, LEASE),
    "dhclient-renew": msg(LL, 5, DHCLIENT_ID, opt(2, OUR_DUID), DHCLIENT_ORO, ELAPSED, LEASE),
    "dhclient-rebind": msg(LL, 6, DHCLIENT_ID, DHCLIENT_ORO, ELAPSED, LEASE),
    "dhclient-confirm": msg(LL, 4, DHCLIENT_ID, ELAPSED, ia_na(DHCLIENT_IAID, body=iaaddr(GUEST6, 0, 0))),
    "dhclient-release": msg(LL, 8, DHCLIENT_ID, opt(2, OUR_DUID), ELAPSED, LEASE),
    "dhclient-decline": msg(LL, 9, DHCLIENT_ID, opt(2, OUR_DUID), ELAPSED, LEASE),
    "dhclient-information-request": msg(LL, 11, DHCLIENT_ID, DHCLIENT_ORO, ELAPSED),
    "dhcpcd-solicit": msg(LL, 1, DHCPCD_ID, ELAPSED, DHCPCD_ORO, FQDN, ia_na(bytes.fromhex("a1b2c3d4")), IA_PD),
    "dhcpcd-request": msg(
        LL, 3, DHCPCD_ID, opt(2, OUR_DUID), ELAPSED, DHCPCD_ORO, FQDN,
        ia_na(bytes.fromhex("a1b2c3d4"), body=iaaddr(GUEST6, 0, 0)), IA_PD,
    ),
    "dhcpcd-renew-stale": msg(
        LL, 5, DHCPCD_ID, opt(2, OUR_DUID), ELAPSED,
        ia_na(bytes.fromhex("a1b2c3d4"), body=iaaddr(GUEST6, 0, 0)
              + iaaddr(bytes.fromhex("fd746c00000000030000000000000002"), 0, 0)),
    ),
    "networkd-solicit-rapid": msg(
        LL, 1, NETWORKD_ID, ELAPSED, opt(14), ia_na(bytes.fromhex("55aa55aa")), oro(23, 24, 56, 82, 83), FQDN,
        VENDOR,
    ),
    "networkd-solicit-most-dns": msg(2, 1, NETWORKD_ID, ELAPSED, opt(14), ia_na(bytes.fromhex("55aa55aa"))),
    "solicit-ia-pd-only": msg(LL, 1, DHCPCD_ID, ELAPSED, IA_PD),
    "solicit-with-server-id": msg(LL, 1, DHCLIENT_ID, opt(2, OUR_DUID), ia_na(DHCLIENT_IAID)),
    "solicit-ipv6-off": msg(3, 1, DHCLIENT_ID, ia_na(DHCLIENT_IAID)),
    "solicit-from-unspecified": msg(UNSPEC, 1, DHCLIENT_ID, ia_na(DHCLIENT_IAID)),
    "solicit-to-546": msg(0xc0, 1, DHCLIENT_ID, ia_na(DHCLIENT_IAID)),
    "relay-forward": msg(LL, 12, opt(9, bytes([1]) + XID + DHCLIENT_ID)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for sub, seeds in (("icmp6", ICMP6), ("dhcp6", DHCP6)):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, sub, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
