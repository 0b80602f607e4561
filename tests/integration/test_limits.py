# SPDX-License-Identifier: MIT
"""Resource limits (docs/DESIGN.md, "Slots and addresses" and "Who may do
what"; taplinkd(8), "Access"): out of fds, out of slots, a pool exhausted,
names taken by foreign devices, the per-user quota."""

import errno
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    WAIT_TIMEOUT, Daemon, DaemonTestCase, VarlinkError, addrs, arp_probe, connect_as, link,
    links_with_prefix, require_sandbox, run, table_elements, wait_for)

USER = 1000
OTHER_USER = 1001


def close_all(fds):
    for fd in fds:
        os.close(fd)


def elements(table):
    return {k: sorted(v) for k, v in (table_elements(table) or {}).items()}


def expected_elements(slots):
    return {
        "slots_v4": sorted(s["ipv4"]["subnet"] for s in slots),
        "slots_v6": sorted(s["ipv6"]["subnet"] for s in slots if s["ipv6"]),
        "guests_v4": sorted([s["ifname"], s["ipv4"]["guest"]] for s in slots),
        "guests_v6": sorted([s["ifname"], s["ipv6"]["guest"]] for s in slots if s["ipv6"]),
        "dropped_spoofed": sorted(s["ifname"] for s in slots),
        "dropped_policy": sorted(s["ifname"] for s in slots),
        # the default egress policy: mode internet, no allow entries
        "egress_none": [], "egress_host": [], "egress_public": [],
        "egress_internet": sorted(s["ifname"] for s in slots),
        "allow_v4": [], "allow_proto_v4": [], "allow_port_v4": [],
        "allow_v6": [], "allow_proto_v6": [], "allow_port_v6": [],
        # no published ports
        "published_v4": [], "published_any_v4": [], "published_v6": [], "published_any_v6": [],
    }


def as_lists(elems):
    return {k: sorted(list(e) if isinstance(e, tuple) else e for e in v) for k, v in elems.items()}


class LimitsTestCase(DaemonTestCase):

    def kernel_state(self, c):
        return {
            "devices": sorted(links_with_prefix(self.d.prefix)),
            "elements": as_lists(elements(self.d.table)),
            "listed": sorted(s["slot"] for s in c.call("io.taplinkd.List")[0]["slots"]),
            "slotsInUse": c.call("io.taplinkd.Status")[0]["slotsInUse"],
        }

    def assertKernelState(self, slots, c=None):
        """Exactly these slots' devices and elements exist, and List and
        Status agree (asked on c, else on a connection of its own), once
        the daemon has settled: a failed Acquire's fds are closed off the
        event loop, and its slot is freed by the RTM_DELLINK that follows."""
        own = c is None
        c = c or self.d.client()
        want = {
            "devices": sorted(s["ifname"] for s in slots),
            "elements": expected_elements(slots),
            "listed": sorted(s["slot"] for s in slots),
            "slotsInUse": len(slots),
        }
        got = {}

        def settled():
            got.update(self.kernel_state(c))
            return got == want
        try:
            wait_for(settled, what="the kernel state of %d slots" % len(slots))
        except AssertionError:
            self.assertEqual(got, want)
        if own:
            c.close()

    def assertError(self, reply, name, parameters=None):
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"], name, reply)
        if parameters is not None:
            self.assertEqual(reply.get("parameters"), parameters)


# ---------------------------------------------------------------- fds

class OutOfFdsTest(LimitsTestCase):
    """The daemon started under `prlimit --nofile=LIMIT:LIMIT` (it raises
    its soft limit to the hard one at start, so both are set), then driven
    into EMFILE."""

    LIMIT = 40

    def setUp(self):
        require_sandbox()
        run("ip", "link", "set", "lo", "up")
        self.tmp = tempfile.TemporaryDirectory(prefix="taplinkd-test-")
        os.chmod(self.tmp.name, 0o755)
        self.d = Daemon(self.tmp.name, wrapper=["prlimit", "--nofile=%d:%d" % (self.LIMIT, self.LIMIT), "--"])
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self.assertNoSanitizerReport)
        self.addCleanup(self.d.cleanup)
        self.d.start()
        with open("/proc/%d/limits" % self.d.proc.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        self.assertEqual(line.split()[3:5], [str(self.LIMIT)] * 2, line)

    def open_fds(self):
        return {int(x) for x in os.listdir("/proc/%d/fd" % self.d.proc.pid)}

    def free_fds(self):
        return self.LIMIT - len(self.open_fds() & set(range(self.LIMIT)))

    def wait_free(self, n, what):
        """Waits until the daemon has exactly n fds left (fds are closed
        off the event loop, so give it a moment)."""
        wait_for(lambda: self.free_fds() == n, what="%s: %d free fds in the daemon (has %d)" % (
            what, n, self.free_fds()))

    def fill(self, target, fillers):
        """Opens connections until the daemon has `target` fds left."""
        while self.free_fds() > target:
            f = self.d.client()
            fillers.append(f)
            self.addCleanup(f.close)
            f.call("io.taplinkd.Status")  # accepted, so it holds an fd
        self.assertEqual(self.free_fds(), target)

    def acquire_raw(self, c, **params):
        reply, fds = c.call_raw("io.taplinkd.Acquire", params)
        return reply, fds

    def assertEmfile(self, reply, what):
        self.assertIn("error", reply, "%s: %s" % (what, reply))
        self.assertEqual(reply["error"], "io.taplinkd.KernelError", "%s: %s" % (what, reply))
        self.assertEqual(reply["parameters"]["errno"], errno.EMFILE, "%s: %s" % (what, reply))
        self.assertTrue(reply["parameters"]["operation"], reply)

    def test_emfile_during_acquire_answers_kernel_error_leaks_nothing_and_recovers(self):
        c = self.client()
        c.call("io.taplinkd.Status")
        baseline = self.free_fds()
        fillers = []
        self.fill(3, fillers)

        # The 4th queue's open fails.
        reply, fds = self.acquire_raw(c, queues=4, label="q4")
        self.assertEqual(fds, [])
        self.assertEmfile(reply, "4 queues with 3 fds left")
        self.wait_free(3, "after the failed 4-queue Acquire")
        self.assertKernelState([], c)

        # Every queue opens, then the next fd (the daemon needs one more for
        # SIOCGIFINDEX) fails: the device existed for a moment, and must go.
        reply, fds = self.acquire_raw(c, queues=3, label="q3")
        self.assertEqual(fds, [])
        self.assertEmfile(reply, "3 queues with 3 fds left")
        self.wait_free(3, "after the failed 3-queue Acquire")
        self.assertKernelState([], c)

        # Two queues fit.
        s, fds = c.acquire(queues=2, label="q2")
        self.assertEqual(len(fds), 2)
        self.assertTrue(arp_probe(fds[0], s, read_fds=fds))
        self.wait_free(3, "after the 2-queue Acquire (its copies closed)")
        self.assertKernelState([s], c)
        close_all(fds)
        wait_for(lambda: link(s["ifname"]) is None, what="q2 gone")
        self.assertNoLeak()

        # No fd left at all: refused, and a new client waits in the backlog.
        self.fill(0, fillers)
        reply, fds = self.acquire_raw(c, label="none")
        self.assertEmfile(reply, "no fd left")
        late = self.d.client()
        self.addCleanup(late.close)
        late.send({"method": "io.taplinkd.Status"})

        # fds come back: the waiting client is served, Acquire works.
        for f in fillers:
            f.close()
        late.sock.settimeout(WAIT_TIMEOUT)
        reply, _ = late.recv()
        self.assertEqual(reply["parameters"]["slotsInUse"], 0)
        s, fds = c.acquire(queues=4, label="after")
        self.assertEqual(len(fds), 4)
        self.assertTrue(arp_probe(fds[0], s, read_fds=fds))
        self.assertKernelState([s], c)
        close_all(fds)
        self.assertNoLeak()
        late.close()
        self.wait_free(baseline, "back to where it started (an fd leaked?)")

    def test_emfile_on_persistent_acquire_leaves_no_device(self):
        c = self.client()
        c.call("io.taplinkd.Status")
        fillers = []
        for left in (0, 1):
            with self.subTest(fds_left=left):
                self.fill(left, fillers)
                reply, fds = self.acquire_raw(c, persistent=True, queues=2, label="p")
                self.assertEqual(fds, [])
                self.assertEmfile(reply, "persistent, %d fds left" % left)
                self.wait_free(left, "after the failed persistent Acquire")
                self.assertKernelState([], c)
                for f in fillers:
                    f.close()
                fillers = []
                wait_for(lambda: self.free_fds() > 3, what="fillers closed")
        s, fds = c.acquire(persistent=True, label="p-ok")
        close_all(fds)
        self.assertKernelState([s], c)
        c.call("io.taplinkd.Release", {"slot": s["slot"]})
        self.assertNoLeak()


# ---------------------------------------------------------------- slots

class OutOfSlotsTest(LimitsTestCase):
    config = {"daemon.max_slots": "2"}

    def test_no_slot_available_creates_nothing(self):
        c = self.client()
        st = c.call("io.taplinkd.Status")[0]
        self.assertEqual(st["maxSlots"], 2)
        a, fa = c.acquire(label="a")
        b, fb = c.acquire(label="b", persistent=True)
        with self.assertRaises(VarlinkError) as e:
            c.acquire(label="c")
        self.assertEqual(e.exception.name, "io.taplinkd.NoSlotAvailable")
        self.assertKernelState([a, b])

        # Pipelined: none of them fits.
        c.send_raw(b"".join(json.dumps({"method": "io.taplinkd.Acquire", "parameters": {"label": "x%d" % i}})
                            .encode() + b"\0" for i in range(4)))
        for _ in range(4):
            reply, fds = c.recv()
            self.assertEqual(fds, [])
            self.assertError(reply, "io.taplinkd.NoSlotAvailable")
        self.assertKernelState([a, b])

        # A VMM exits: its slot is free again once the device is gone.
        close_all(fa)
        wait_for(lambda: len(c.call("io.taplinkd.List")[0]["slots"]) == 1, what="slot a freed")
        d, fd = c.acquire(label="d")
        self.assertEqual(d["slot"], a["slot"])
        self.assertKernelState([b, d])
        close_all(fb + fd)
        c.call("io.taplinkd.Release", {"slot": b["slot"]})
        self.assertNoLeak()


class Ipv4PoolExhaustedTest(LimitsTestCase):
    config = {"network.ipv4_pool": "10.99.0.0/28", "network.ipv4_prefix": "30"}

    def test_pool_of_four(self):
        c = self.client()
        self.assertEqual(c.call("io.taplinkd.Status")[0]["maxSlots"], 4)
        got = [c.acquire(label="p%d" % i) for i in range(4)]
        slots = [s for s, _ in got]
        self.assertEqual([s["ipv4"]["subnet"] for s in slots], ["10.99.0.%d" % (4 * i) for i in range(4)])
        for s in slots:
            self.assertEqual([(a["local"], a["prefixlen"]) for a in addrs(s["ifname"]) if a["family"] == "inet"],
                             [(s["ipv4"]["gateway"], 30)])
        with self.assertRaises(VarlinkError) as e:
            c.acquire(label="fifth")
        self.assertEqual(e.exception.name, "io.taplinkd.NoSlotAvailable")
        self.assertKernelState(slots)
        self.assertEqual(c.call("io.taplinkd.Status")[0], {"version": c.call("io.taplinkd.Status")[0]["version"],
                                                           "slotsInUse": 4, "maxSlots": 4, "guestServicesDropped": 0})
        for _, fds in got:
            close_all(fds)
        self.assertNoLeak()


class Ipv4Slash31PoolTest(LimitsTestCase):
    config = {"network.ipv4_pool": "10.99.0.0/29", "network.ipv4_prefix": "31"}

    def test_pool_of_four_slash31(self):
        c = self.client()
        self.assertEqual(c.call("io.taplinkd.Status")[0]["maxSlots"], 4)
        got = [c.acquire() for _ in range(4)]
        for i, (s, fds) in enumerate(got):
            self.assertEqual((s["ipv4"]["subnet"], s["ipv4"]["gateway"], s["ipv4"]["guest"]),
                             ("10.99.0.%d" % (2 * i), "10.99.0.%d" % (2 * i), "10.99.0.%d" % (2 * i + 1)))
            self.assertTrue(arp_probe(fds[0], s), "slot %d: no ARP reply on a /31" % i)
        with self.assertRaises(VarlinkError) as e:
            c.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.NoSlotAvailable")
        self.assertKernelState([s for s, _ in got])
        for _, fds in got:
            close_all(fds)
        self.assertNoLeak()


class Ipv6PoolExhaustedTest(LimitsTestCase):
    config = {"network.ipv6_pool": "fd74:6c00::/63", "network.ipv6_prefix": "64"}

    def test_ipv6_pool_of_two_caps_max_slots(self):
        c = self.client()
        self.assertEqual(c.call("io.taplinkd.Status")[0]["maxSlots"], 2)
        a, fa = c.acquire()
        b, fb = c.acquire()
        self.assertEqual((a["ipv6"]["subnet"], b["ipv6"]["subnet"]), ("fd74:6c00::", "fd74:6c00:0:1::"))
        with self.assertRaises(VarlinkError) as e:
            c.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.NoSlotAvailable")
        self.assertKernelState([a, b])
        close_all(fa + fb)
        self.assertNoLeak()


# ---------------------------------------------------------------- foreign names

FOREIGN = ("tl0", "tl1", "tl2", "tl3")


class ForeignNamesTest(LimitsTestCase):
    config = {"daemon.max_slots": "7"}

    def make_foreign(self):
        """tl0 a TAP, tl1 a veth, tl2 a dummy (a bridge where the kernel has
        no dummy driver), tl3 a TUN: each with an alias, an MTU and an
        address of its own."""
        self.addCleanup(lambda: [run("ip", "link", "del", n, check=False) for n in FOREIGN])
        run("ip", "tuntap", "add", "dev", "tl0", "mode", "tap")
        run("ip", "link", "add", "tl1", "type", "veth", "peer", "name", "fpeer1")
        if run("ip", "link", "add", "tl2", "type", "dummy", check=False).returncode != 0:
            run("ip", "link", "add", "tl2", "type", "bridge")
        run("ip", "tuntap", "add", "dev", "tl3", "mode", "tun")
        for i, n in enumerate(FOREIGN):
            run("ip", "link", "set", n, "alias", "not-taplinkd-%d" % i, "mtu", "1400", "up")
            run("ip", "addr", "add", "192.0.2.%d/24" % (i + 1), "dev", n)
        return {n: self.view(n) for n in FOREIGN}

    def view(self, name):
        l = link(name)
        if l is None:
            return None
        info = l.get("linkinfo", {})
        return {"ifindex": l["ifindex"], "address": l.get("address"), "mtu": l["mtu"], "ifalias": l.get("ifalias"),
                "group": l.get("group"), "kind": info.get("info_kind"),
                # a bridge's info_data holds running timers: the TUN/TAP one is stable
                "data": info.get("info_data") if info.get("info_kind") == "tun" else None,
                "addrs": sorted((a["family"], a["local"], a["prefixlen"]) for a in addrs(name)
                                if a["family"] == "inet" or a.get("scope") != "link")}

    def assertUntouched(self, before):
        for name, v in before.items():
            self.assertEqual(self.view(name), v, "foreign %s was modified" % name)

    def test_taken_names_are_skipped_never_hijacked_and_come_back(self):
        before = self.make_foreign()
        c = self.client()
        held = {}
        for want in (4, 5, 6):
            s, fds = c.acquire(label="ours")
            self.assertEqual(s["slot"], want)
            self.assertEqual(link(s["ifname"])["address"], "06:74:6c:00:00:%02x" % want)
            held[s["slot"]] = (s, fds)
        with self.assertRaises(VarlinkError) as e:
            c.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.NoSlotAvailable")
        self.assertUntouched(before)
        self.assertEqual(c.call("io.taplinkd.Status")[0]["slotsInUse"], 3)
        self.assertEqual(sorted(s["slot"] for s in c.call("io.taplinkd.List")[0]["slots"]), [4, 5, 6])
        self.assertEqual(as_lists(elements(self.d.table)), expected_elements([s for s, _ in held.values()]))

        # The dummy (bridge) goes: its slot is usable again, by a device of ours.
        run("ip", "link", "del", "tl2")
        del before["tl2"]
        s, fds = wait_for(lambda: self.try_acquire(c), what="slot 2 usable after tl2 went")
        self.assertEqual(s["slot"], 2)
        l = link("tl2")
        self.assertEqual((l["linkinfo"]["info_kind"], l["address"]), ("tun", "06:74:6c:00:00:02"))
        self.assertTrue(arp_probe(fds[0], s))
        held[2] = (s, fds)

        # The veth goes too.
        run("ip", "link", "del", "tl1")
        del before["tl1"]
        s, fds = wait_for(lambda: self.try_acquire(c), what="slot 1 usable after the veth went")
        self.assertEqual(s["slot"], 1)
        held[1] = (s, fds)
        self.assertUntouched(before)

        # A restart meets the foreign TAP and TUN at start-up: not adopted,
        # not listed.
        self.d.kill9()
        self.d.start()
        c = self.client()
        self.assertEqual(sorted(s["slot"] for s in c.call("io.taplinkd.List")[0]["slots"]), [1, 2, 4, 5, 6])
        self.assertEqual(c.call("io.taplinkd.Status")[0]["slotsInUse"], 5)
        with self.assertRaises(VarlinkError) as e:
            c.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.NoSlotAvailable")
        self.assertUntouched(before)
        self.assertEqual(as_lists(elements(self.d.table)), expected_elements([s for s, _ in held.values()]))

        for n in ("tl0", "tl3"):
            run("ip", "link", "del", n)
            del before[n]
            s, fds = wait_for(lambda: self.try_acquire(c), what="slot usable after %s went" % n)
            self.assertEqual(s["ifname"], n)
            self.assertEqual(link(n)["address"], "06" + s["mac"][2:])
            self.assertTrue(arp_probe(fds[0], s))
            held[s["slot"]] = (s, fds)
        for s, fds in held.values():
            close_all(fds)
        self.assertNoLeak()

    def try_acquire(self, c):
        try:
            return c.acquire()
        except VarlinkError as e:
            if e.name != "io.taplinkd.NoSlotAvailable":
                raise
            return None

    def test_foreign_devices_never_listed_or_released(self):
        before = self.make_foreign()
        c = self.client()
        s, fds = c.acquire()
        for n in range(len(FOREIGN)):
            with self.assertRaises(VarlinkError) as e:
                c.call("io.taplinkd.Release", {"slot": n})
            self.assertEqual(e.exception.name, "io.taplinkd.NoSuchSlot")
        self.assertUntouched(before)
        close_all(fds)
        # Once the daemon has handled our device's RTM_DELLINK: its
        # elements are gone, and the foreign devices are still untouched.
        wait_for(lambda: link(s["ifname"]) is None and not c.call("io.taplinkd.List")[0]["slots"],
                 what="our slot gone")
        wait_for(lambda: as_lists(elements(self.d.table)) == expected_elements([]), what="our elements gone")
        self.assertUntouched(before)


# ---------------------------------------------------------------- quota

class QuotaTest(LimitsTestCase):
    config = {"access.allow_users": "%d,%d" % (USER, OTHER_USER), "access.max_slots_per_user": "3"}

    def user(self, uid=USER):
        c = connect_as(self.d.socket, uid)
        self.addCleanup(c.close)
        return c

    def test_quota_boundary(self):
        u = self.user()
        got = [u.acquire(label="u%d" % i, persistent=(i == 0)) for i in range(3)]
        self.assertEqual([s["ownerUid"] for s, _ in got], [USER] * 3)
        with self.assertRaises(VarlinkError) as e:
            u.acquire(label="over")
        self.assertEqual((e.exception.name, e.exception.parameters), ("io.taplinkd.QuotaExceeded", {"limit": 3}))
        self.assertKernelState([s for s, _ in got])

        # Another allowed user has a quota of their own; root has none.
        o = self.user(OTHER_USER)
        others = [o.acquire() for _ in range(3)]
        root = self.client()
        roots = [root.acquire() for _ in range(5)]
        everything = [s for s, _ in got + others + roots]
        self.assertKernelState(everything)

        # A VMM exits: the quota counts live slots, so one more fits.
        close_all(got[1][1])
        wait_for(lambda: len(u.call("io.taplinkd.List")[0]["slots"]) == 2, what="u1 gone")
        s, fds = u.acquire(label="again")
        got[1] = (s, fds)
        with self.assertRaises(VarlinkError) as e:
            u.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.QuotaExceeded")

        # The count survives a kill -9: the adopted slots still count.
        self.d.kill9()
        self.d.start()
        u = self.user()
        with self.assertRaises(VarlinkError) as e:
            u.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.QuotaExceeded")
        u.call("io.taplinkd.Release", {"slot": got[0][0]["slot"]})  # the persistent one
        s, fds = u.acquire(label="after-restart")
        got[0] = (s, fds)
        with self.assertRaises(VarlinkError) as e:
            u.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.QuotaExceeded")

        for _, fds in got + others + roots:
            close_all(fds)
        self.assertNoLeak()

    def test_pipelined_acquires_stop_exactly_at_the_quota(self):
        u = self.user()
        u.send_raw(b"".join(json.dumps({"method": "io.taplinkd.Acquire", "parameters": {"label": "b%d" % i}})
                            .encode() + b"\0" for i in range(6)))
        ok, refused = [], 0
        for _ in range(6):
            reply, fds = u.recv()
            if "error" in reply:
                self.assertError(reply, "io.taplinkd.QuotaExceeded", {"limit": 3})
                self.assertEqual(fds, [])
                refused += 1
            else:
                ok.append((reply["parameters"]["slot"], fds))
        self.assertEqual((len(ok), refused), (3, 3))
        self.assertKernelState([s for s, _ in ok])
        for _, fds in ok:
            close_all(fds)
        self.assertNoLeak()


class ZeroQuotaTest(LimitsTestCase):
    config = {"access.allow_users": str(USER), "access.max_slots_per_user": "0"}

    def test_max_slots_per_user_zero_means_none(self):
        u = connect_as(self.d.socket, USER)
        self.addCleanup(u.close)
        for params in ({}, {"persistent": True}, {"queues": 2}):
            with self.assertRaises(VarlinkError) as e:
                u.acquire(**params)
            self.assertEqual((e.exception.name, e.exception.parameters), ("io.taplinkd.QuotaExceeded", {"limit": 0}))
        self.assertKernelState([])
        # Still an allowed user: List works (empty), Release finds nothing.
        self.assertEqual(u.call("io.taplinkd.List")[0]["slots"], [])
        root = self.client()
        s, fds = root.acquire()
        self.assertEqual(u.call("io.taplinkd.List")[0]["slots"], [])
        with self.assertRaises(VarlinkError) as e:
            u.call("io.taplinkd.Release", {"slot": s["slot"]})
        self.assertEqual(e.exception.name, "io.taplinkd.NoSuchSlot")
        self.assertKernelState([s])
        close_all(fds)
        self.assertNoLeak()


if __name__ == "__main__":
    import unittest
    unittest.main()
