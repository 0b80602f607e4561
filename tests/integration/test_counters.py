# SPDX-License-Identifier: MIT
"""Per-slot counters (docs/DESIGN.md, "Counters"): List(counters: true)
against known frame counts written into the slots' TAP fds, and
`taplinkctl list --counters` and `taplinkctl top` on top of it.

Frames the guest sends are written into the TAP fd (with the vnet header
the slot has by default); they arrive on the host as the TAP's rx and
count as guestSent*. Spoofed sources (IPv4 and IPv6) to the gateway are
dropped by the input chain's anti-spoofing rules, which count them in
dropped_spoofed: droppedSpoofed must equal what was sent, exactly."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    VNET_HDR_LEN, DaemonTestCase, link, run, set_elements, wait_for)
from packets import ETH_P_IP, ETH_P_IPV6, IPPROTO_UDP, eth, ipv4_udp, ipv6  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
TAPLINKCTL = os.path.join(BUILD, "taplinkctl")

COUNTER_FIELDS = ("guestSentBytes", "guestSentPackets", "guestReceivedBytes", "guestReceivedPackets",
                  "droppedSpoofed", "droppedPolicy")


def host_mac(slot):
    """The TAP's own MAC: 06:74:6c:SS:SS:SS (the guest's starts with 02)."""
    return "06" + slot["mac"][2:]


def udp4_frame(slot, src=None, payload=b"counted"):
    ip = ipv4_udp(src or slot["ipv4"]["guest"], slot["ipv4"]["gateway"], 40000, 9, payload)
    return eth(host_mac(slot), slot["mac"], ETH_P_IP, ip)


def udp6_frame(slot, src, payload=b"counted"):
    udp = b"\x9c\x40\x00\x09" + (8 + len(payload)).to_bytes(2, "big") + b"\0\0" + payload
    ip = ipv6(src, slot["ipv6"]["gateway"], IPPROTO_UDP, udp, checksum_offset=6)
    return eth(host_mac(slot), slot["mac"], ETH_P_IPV6, ip)


def send(fd, frame, n):
    for _ in range(n):
        os.write(fd, b"\0" * VNET_HDR_LEN + frame)


def no_reverse_path_filter():
    """A spoofed source must reach the anti-spoofing rule, not be dropped
    by reverse-path filtering first (this namespace only)."""
    for conf in ("all", "default"):
        with open("/proc/sys/net/ipv4/conf/%s/rp_filter" % conf, "w") as f:
            f.write("0\n")


class CountersCase(DaemonTestCase):
    """Helpers: no tests of its own."""

    def setUp(self):
        no_reverse_path_filter()
        super().setUp()
        self.c = self.client()

    def acquire(self, label, keep=True):
        """A slot and its fds; with keep, the fds are closed at the end
        (else the test closes them)."""
        slot, fds = self.c.acquire(label=label)
        if keep:
            self.addCleanup(lambda: [os.close(fd) for fd in fds])
        return slot, fds

    def counters(self, slot_number):
        for s in self.c.call("io.taplinkd.List", {"counters": True})[0]["slots"]:
            if s["slot"] == slot_number:
                return s["counters"]
        raise AssertionError("slot %d not listed" % slot_number)


class CountersTest(CountersCase):

    def test_list_without_counters_has_none(self):
        slot, _ = self.acquire("plain")
        for params in (None, {}, {"counters": False}, {"counters": None}):
            listed = self.c.call("io.taplinkd.List", params)[0]["slots"]
            self.assertEqual([s["slot"] for s in listed], [slot["slot"]])
            self.assertNotIn("counters", listed[0])
        with_counters = self.c.call("io.taplinkd.List", {"counters": True})[0]["slots"][0]
        self.assertEqual(sorted(with_counters["counters"]), sorted(COUNTER_FIELDS))
        self.assertEqual(with_counters["counters"]["droppedPolicy"], 0)

    def test_guest_sent_frames_counted(self):
        slot, fds = self.acquire("sender")
        other, _ = self.acquire("idle")
        before = self.counters(slot["slot"])
        frame = udp4_frame(slot)
        send(fds[0], frame, 25)
        after = wait_for(lambda: (lambda c: c if c["guestSentPackets"] >= before["guestSentPackets"] + 25
                                  else None)(self.counters(slot["slot"])), what="25 frames counted")
        # Exactly the frames written, and their bytes (the vnet header is
        # not part of the frame); nothing was spoofed.
        self.assertEqual(after["guestSentPackets"], before["guestSentPackets"] + 25)
        self.assertEqual(after["guestSentBytes"], before["guestSentBytes"] + 25 * len(frame))
        self.assertEqual(after["droppedSpoofed"], 0)
        # The other slot saw none of it.
        self.assertEqual(self.counters(other["slot"])["guestSentPackets"], 0)

    def test_spoofed_frames_counted_exactly(self):
        slot, fds = self.acquire("spoofer")
        other, other_fds = self.acquire("bystander")
        base = self.counters(slot["slot"])["guestSentPackets"]
        # The kernel installs the gateway's IPv6 address's local route from
        # a workqueue, after RTM_NEWADDR has returned: until then a frame to
        # it fails routing (Ip6InAddrErrors) before netfilter sees it.
        gw6 = slot["ipv6"]["gateway"]
        wait_for(lambda: run("ip", "-6", "route", "show", "table", "local", gw6).stdout.strip(),
                 what="the local route of %s" % gw6)
        send(fds[0], udp4_frame(slot, src="10.99.0.1"), 7)
        send(fds[0], udp6_frame(slot, "fd00::99"), 5)
        # Another slot's guest address is spoofing too.
        send(fds[0], udp4_frame(slot, src=other["ipv4"]["guest"]), 3)
        # Good frames in between do not count as drops.
        send(fds[0], udp4_frame(slot), 4)
        wait_for(lambda: self.counters(slot["slot"])["guestSentPackets"] >= base + 19, what="frames arrived")
        wait_for(lambda: self.counters(slot["slot"])["droppedSpoofed"] >= 15, what="drops counted")
        c = self.counters(slot["slot"])
        self.assertEqual(c["droppedSpoofed"], 15)
        self.assertEqual(c["guestSentPackets"], base + 19)
        self.assertEqual(self.counters(other["slot"])["droppedSpoofed"], 0)
        # The count is the kernel's: the set holds it.
        self.assertIn(slot["ifname"], set_elements(self.d.table, "dropped_spoofed"))

    def test_stale_counter_removed_at_restart(self):
        dying, dying_fds = self.acquire("dying", keep=False)
        staying, staying_fds = self.acquire("staying")
        send(dying_fds[0], udp4_frame(dying, src="10.99.0.1"), 2)
        send(staying_fds[0], udp4_frame(staying, src="10.99.0.1"), 4)
        wait_for(lambda: self.counters(staying["slot"])["droppedSpoofed"] == 4, what="4 drops")
        wait_for(lambda: self.counters(dying["slot"])["droppedSpoofed"] == 2, what="2 drops")

        self.d.kill9()
        # The VMM exits while no daemon runs: the device goes, its counter
        # element stays behind.
        for fd in dying_fds:
            os.close(fd)
        wait_for(lambda: link(dying["ifname"]) is None, what="dying device gone")
        self.assertIn(dying["ifname"], set_elements(self.d.table, "dropped_spoofed"))

        self.d.start()
        self.c = self.client()
        self.assertEqual(set_elements(self.d.table, "dropped_spoofed"), [staying["ifname"]])
        # The adopted slot keeps its count.
        self.assertEqual(self.counters(staying["slot"])["droppedSpoofed"], 4)


class NewTenantTest(CountersCase):
    """One slot only: the next tenant gets the same one."""

    config = {"daemon.max_slots": "1"}

    def test_new_tenant_starts_from_zero(self):
        slot, fds = self.acquire("first", keep=False)
        send(fds[0], udp4_frame(slot, src="10.99.0.1"), 3)
        wait_for(lambda: self.counters(slot["slot"])["droppedSpoofed"] == 3, what="3 drops")
        for fd in fds:
            os.close(fd)
        wait_for(lambda: not self.c.call("io.taplinkd.List")[0]["slots"], what="the first tenant gone")
        again, _ = self.acquire("second")
        self.assertEqual(again["slot"], slot["slot"])
        c = self.counters(again["slot"])
        self.assertEqual((c["droppedSpoofed"], c["guestSentPackets"]), (0, 0))


class CtlCountersTest(DaemonTestCase):
    """taplinkctl list --counters and top, against the real daemon."""

    def setUp(self):
        no_reverse_path_filter()
        super().setUp()
        self.c = self.client()

    def ctl(self, *args, timeout=30):
        env = dict(os.environ, TAPLINK_SOCKET=self.d.socket)
        return subprocess.run([TAPLINKCTL] + list(args), env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def test_list_counters(self):
        slot, fds = self.c.acquire(label="listed")
        self.addCleanup(lambda: [os.close(fd) for fd in fds])
        send(fds[0], udp4_frame(slot, src="10.99.0.1"), 6)
        wait_for(lambda: self.c.call("io.taplinkd.List", {"counters": True})[0]["slots"][0]["counters"]
                 ["droppedSpoofed"] == 6, what="6 drops")

        r = self.ctl("--json", "list", "--counters")
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = json.loads(r.stdout)
        self.assertEqual(listed[0]["counters"]["droppedSpoofed"], 6)
        self.assertGreaterEqual(listed[0]["counters"]["guestSentPackets"], 6)

        r = self.ctl("list", "--counters")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        header = lines[0].split()
        for column in ("SENT-PKTS", "SENT-BYTES", "RECV-PKTS", "RECV-BYTES", "SPOOFED", "POLICY"):
            self.assertIn(column, header)
        row = dict(zip(header, lines[1].split()))
        self.assertEqual(row["SPOOFED"], "6")
        self.assertEqual(row["POLICY"], "0")

        # Without --counters, no counter columns.
        r = self.ctl("list")
        self.assertNotIn("SPOOFED", r.stdout)

    def test_top_two_refreshes(self):
        busy, busy_fds = self.c.acquire(label="busy")
        quiet, quiet_fds = self.c.acquire(label="quiet")
        self.addCleanup(lambda: [os.close(fd) for fd in busy_fds + quiet_fds])
        proc = subprocess.Popen([TAPLINKCTL, "top", "--interval", "0.5", "--iterations", "2"],
                                env=dict(os.environ, TAPLINK_SOCKET=self.d.socket),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True)
        # Traffic on one slot while top watches: it sorts first.
        for _ in range(20):
            send(busy_fds[0], udp4_frame(busy), 10)
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        # Not a terminal: no escape sequences, one table per refresh, a
        # blank line between them.
        self.assertNotIn("\x1b", out)
        tables = out.rstrip("\n").split("\n\n")
        self.assertEqual(len(tables), 2, out)
        for table in tables:
            lines = table.splitlines()
            self.assertIn("SLOT", lines[0])
            self.assertIn("SENT-B/S", lines[0])
            self.assertEqual(len([l for l in lines if l.split()[0].isdigit()]), 2, table)
        # The second table has rates over an interval: the busy slot first.
        rows = [l.split() for l in tables[1].splitlines() if l.split()[0].isdigit()]
        self.assertEqual(int(rows[0][0]), busy["slot"], tables[1])
        self.assertEqual(int(rows[1][0]), quiet["slot"], tables[1])

    def test_top_usage(self):
        for args in (["--interval", "0"], ["--interval", "x"], ["--iterations", "-1"], ["extra"]):
            r = self.ctl("top", *args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        r = self.ctl("top", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--interval", r.stdout)


if __name__ == "__main__":
    unittest.main()
