# SPDX-License-Identifier: MIT
"""The clone pool (docs/DESIGN.md, "The pool"): [clone] pool = N namespaces
made ahead by a worker thread, each with its veth's host end named
<prefix>p<k> and an nsid until an Acquire(clone) takes it. Every clone test
of test_clone.py runs again with a pool, plus what only a pool does."""

import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_clone  # noqa: E402
from harness import (  # noqa: E402
    IFF_PERSIST, TAPLINKD, DaemonTestCase, all_elements, ip_json, link, links_with_prefix, run, tun_info, wait_for)
from packets import mac_bytes  # noqa: E402
from test_clone import CLONE_TAP_MAC, WORLD_V4, Guest, netns_mounts, nsid_of, nsids  # noqa: E402


def setUpModule():
    test_clone.setUpModule()


class PoolMixin:
    POOL = 2

    def setUp(self):
        super().setUp()
        # The pool may have filled already: the ids not ours are the
        # world's (test_clone's second namespace) if there is one.
        world = link("clw0")
        self.other_nsids = {world["link_netnsid"]} if world else set()

    def pool_veths(self):
        """{name: ifindex} of the pool's veth host ends."""
        return {l["ifname"]: l["ifindex"] for l in ip_json("link", "show")
                if re.fullmatch(re.escape(self.d.prefix) + r"p[0-9]+", l["ifname"])}

    def slot_links(self):
        return [n for n in links_with_prefix(self.d.prefix) if n not in self.pool_veths()]

    def pool_full(self):
        """The pool's veths and namespace ids: POOL of each (a namespace
        gets its id last)."""
        return len(self.pool_veths()) == self.POOL and \
            len(set(nsids()) - self.other_nsids - self.slot_nsids()) == self.POOL

    def slot_nsids(self):
        return {nsid_of(os.path.basename(m)) for m in netns_mounts()} - {None}

    def wait_pool_full(self):
        wait_for(self.pool_full, what="%d namespaces ready in the pool" % self.POOL)
        return self.pool_veths()

    def assertNothingLeft(self, nsid=True):
        """No slot's device, bind mount or element; the pool full again (its
        namespaces are the only ones with an id, unless nsid is false: a
        namespace lives on, empty, while a VMM holds its TAP's fd)."""
        def state():
            return {"slot links": self.slot_links(), "mounts": netns_mounts(), "run/netns": os.listdir("/run/netns"),
                    "pool": self.pool_veths(), "nsids": set(nsids()) - self.other_nsids,
                    "elements": {k: v for k, v in all_elements(self.d.table).items() if v}}

        def clean():
            s = state()
            return (not s["slot links"] and not s["mounts"] and not s["run/netns"] and not s["elements"] and
                    len(s["pool"]) == self.POOL and (len(s["nsids"]) == self.POOL if nsid else True))
        try:
            wait_for(clean, what="nothing left but a full pool")
        except AssertionError as e:
            raise AssertionError("%s: %r" % (e, state()))

    def assertSlotNsid(self, s):
        # A pooled namespace has the id the kernel gave it in the pool.
        self.assertIsNotNone(nsid_of("tl%d" % s))


class PooledCloneTest(PoolMixin, test_clone.CloneTest):
    config = dict(test_clone.CloneTest.config, **{"clone.pool": "2"})

    def test_pool_fills_takes_and_refills(self):
        before = self.wait_pool_full()
        c = self.client()
        slot, g = self.acquire_clone(c)
        s = slot["slot"]
        # The slot's device is a pooled veth renamed, with the slot's gateway.
        self.assertIn(link("tl%d" % s)["ifindex"], before.values())
        self.assertEqual(g.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        g.echo(WORLD_V4, 0xd1)
        self.assertEqual(g.echo_replies(2.0), [(WORLD_V4, 0xd1)])
        # Refilled: another namespace takes the place of the one taken.
        after = self.wait_pool_full()
        self.assertEqual(len(set(after.values()) - set(before.values())), 1)
        os.close(g.fd)
        self.assertNothingLeft()

    def test_taken_name_costs_a_pooled_namespace_only(self):
        before = self.wait_pool_full()
        # Someone else's /run/netns/tl0: the pooled namespace taken for
        # slot 0 cannot be mounted there; it goes, and slot 1 gets the next.
        open("/run/netns/tl0", "w").close()
        self.addCleanup(lambda: os.path.exists("/run/netns/tl0") and os.unlink("/run/netns/tl0"))
        c = self.client()
        slot, g = self.acquire_clone(c)
        self.assertEqual(slot["slot"], 1)
        self.assertIn(link("tl1")["ifindex"], before.values())
        self.assertIsNone(link("tl0"))
        self.assertEqual(sorted(os.listdir("/run/netns")), ["tl0", "tl1"])
        self.assertEqual(len(set(self.pool_veths().values()) & set(before.values())), 0)
        self.assertEqual(g.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        os.close(g.fd)
        os.unlink("/run/netns/tl0")
        self.assertNothingLeft()

    def test_options_the_pool_has_not(self):
        before = self.wait_pool_full()
        c = self.client()
        slot, fds = c.acquire(clone=True, queues=2)
        try:  # (a failure must not leave the namespace to the next test)
            self.assertEqual(len(fds), 2)
            s = slot["slot"]
            # Made on the spot: the pool is untouched.
            self.assertEqual(self.pool_veths(), before)
            self.assertNotIn(link("tl%d" % s)["ifindex"], before.values())
            tap = ip_json("-n", "tl%d" % s, "-d", "link", "show", "tap0")[0]
            self.assertTrue(tap["linkinfo"]["info_data"]["multi_queue"])
            self.assertEqual(Guest(*fds).arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        finally:
            for fd in fds:
                os.close(fd)
        # A vnet header the pool has not.
        slot, fds = c.acquire(clone=True, vnetHeader=False)
        try:
            self.assertNotIn(link("tl%d" % slot["slot"])["ifindex"], before.values())
        finally:
            for fd in fds:
                os.close(fd)
        self.assertNothingLeft()

    def test_kill9_with_full_pool_leaves_nothing(self):
        self.wait_pool_full()
        c = self.client()
        a, ga = self.acquire_clone(c)
        self.assertEqual(ga.arp_gateway(), mac_bytes(CLONE_TAP_MAC))
        self.wait_pool_full()
        a_nsid = nsid_of("tl%d" % a["slot"])
        self.d.kill9()
        c.close()
        # The pool's namespaces lived on our fds only: they end, with their
        # veths, when the kernel gets round to it. The live slot stays.
        wait_for(lambda: not self.pool_veths() and set(nsids()) == self.other_nsids | {a_nsid},
                 timeout=30, what="the pool's namespaces and veths to end")
        self.assertEqual(links_with_prefix(self.d.prefix), ["tl%d" % a["slot"]])
        self.assertEqual(netns_mounts(), ["/run/netns/tl%d" % a["slot"]])
        self.d.start()
        c = self.client()
        listed = c.call("io.taplinkd.List")[0]["slots"]
        self.assertEqual([x["slot"] for x in listed], [a["slot"]])
        self.wait_pool_full()
        ga.echo(WORLD_V4, 0xc5)
        self.assertEqual(ga.echo_replies(2.0), [(WORLD_V4, 0xc5)])
        os.close(ga.fd)
        self.assertNothingLeft()


    def test_namespace_id_left_by_a_slot_removed_at_start(self):
        """A clone slot whose TAP went while no daemon ran is removed at
        start-up; its namespace's id is free then, and the pool gives it to
        another namespace. Whatever slot number that slot had, its fds are
        found to be the new slot's: made persistent when asked."""
        self.wait_pool_full()
        c = self.client()
        a, ga = self.acquire_clone(c)
        old = nsid_of("tl%d" % a["slot"])
        self.d.kill9()
        c.close()
        os.close(ga.fd)
        self.d.start()
        # Its number goes to a plain slot, so that every clone slot from
        # here on has a higher one.
        c = self.client()
        plain, pfds = c.acquire()
        self.assertEqual(plain["slot"], a["slot"])
        self.addCleanup(lambda: [os.close(fd) for fd in pfds])
        seen = []
        for _ in range(8):
            self.wait_pool_full()
            slot, fds = c.acquire(clone=True, persistent=True)
            s = slot["slot"]
            seen.append(nsid_of("tl%d" % s))
            persistent = bool(tun_info(fds[0])[1] & IFF_PERSIST)
            c.call("io.taplinkd.Release", {"slot": s})
            os.close(fds[0])
            self.assertTrue(persistent, "slot %d (namespace id %s, %s before) got a TAP that is not persistent" % (
                s, seen[-1], old))
            if seen[-1] == old:
                break
        else:
            self.fail("no namespace got id %d again in 8 Acquires: %s" % (old, seen))


class PoolBurstTest(PoolMixin, DaemonTestCase):
    POOL = 1
    config = {"clone.enabled": "yes", "clone.pool": "1", "daemon.max_slots": "6"}

    def test_burst_larger_than_the_pool(self):
        self.wait_pool_full()
        c = self.client()
        guests = []
        for _ in range(4):
            slot, fds = c.acquire(clone=True)
            guests.append((slot, Guest(fds[0])))
        self.assertEqual(len({s["slot"] for s, _ in guests}), 4)
        for slot, g in guests:
            self.assertEqual(g.arp_gateway(), mac_bytes(CLONE_TAP_MAC), slot["slot"])
        for _, g in guests:
            os.close(g.fd)
        self.assertNothingLeft()

    def test_stop_closes_the_pool(self):
        self.wait_pool_full()
        self.d.stop()
        wait_for(lambda: not links_with_prefix(self.d.prefix) and set(nsids()) == self.other_nsids,
                 timeout=30, what="the pool to end with the daemon")


class PoolConfigTest(unittest.TestCase):
    def test_pool_needs_clone_enabled(self):
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, "taplinkd.conf")
            with open(conf, "w") as f:
                f.write("[clone]\nenabled = no\npool = 3\n")
            r = run(TAPLINKD, "--config", conf, "--check-config", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("taplinkd.conf:3: [clone] pool = 3 needs [clone] enabled = yes", r.stderr)

if __name__ == "__main__":
    unittest.main()
