# SPDX-License-Identifier: MIT
"""The Python client (python/taplink) against the real daemon.

Run as root inside a throwaway network namespace (scripts/run-integration-
tests.sh runs this file under `unshare -n`). Each test gets a private daemon
from harness.DaemonTestCase. The framing itself, against a fake server, is
tests/python/test_wire.py."""

import contextlib
import json
import os
import subprocess
import sys
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))
import taplink  # noqa: E402
from harness import (IFF_MULTI_QUEUE, IFF_VNET_HDR, PYTHON, WAIT_TIMEOUT, DaemonTestCase, arp_probe,  # noqa: E402
                     link, link_events_handled, tun_info, wait_for)

USER = 1000  # in the harness's allow_users
STRANGER = 1001  # allowed nothing

# Run with pass_fds: checks the TAP fd it was given (TUNGETIFF), then acts
# as the guest on it (an ARP request for the gateway, answered by the
# host's kernel), and prints what it found.
CHILD = r'''
import fcntl, json, sys
sys.path.insert(0, sys.argv[1])
from harness import arp_probe
fd = int(sys.argv[2])
name = fcntl.ioctl(fd, 0x800454D2, bytes(40))[:16].split(b"\0")[0].decode()
print(json.dumps({"ifname": name, "arp": arp_probe(fd, json.loads(sys.argv[3]))}))
'''


def open_fd_count():
    return len(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def as_uid(uid):
    """Connect inside this block to be seen as uid (SO_PEERCRED records the
    effective ids at connect())."""
    os.setegid(uid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


class PythonClientTest(DaemonTestCase):
    def taplink(self, **kw):
        c = taplink.Client(self.d.socket, timeout=WAIT_TIMEOUT, **kw)
        self.addCleanup(c.close)
        return c

    def acquire(self, client, **kw):
        slot = client.acquire(**kw)
        self.addCleanup(slot.close)
        return slot

    def test_acquire_gives_the_slot_and_a_tap_fd(self):
        c = self.taplink()
        slot = self.acquire(c, label="py-1")
        raw = self.client().call("io.taplinkd.List")[0]["slots"][0]
        self.assertEqual(slot.raw, raw)
        self.assertEqual((slot.slot, slot.ifname, slot.label, slot.owner_uid, slot.mac),
                         (raw["slot"], raw["ifname"], "py-1", 0, raw["mac"]))
        self.assertEqual((slot.mtu, slot.queues, slot.vnet_header, slot.persistent), (1500, 1, True, False))
        self.assertEqual(slot.ipv4, taplink.Net(raw["ipv4"]["subnet"], raw["ipv4"]["gateway"],
                                                raw["ipv4"]["guest"], 30))
        self.assertEqual(slot.ipv6.prefix_length, 64)
        self.assertEqual(slot.ipv6.guest, raw["ipv6"]["guest"])
        self.assertEqual(slot.kernel_ip_arg, raw["kernelIpArg"])
        self.assertIsNone(slot.counters)
        self.assertEqual(len(slot.fds), 1)
        name, flags = tun_info(slot.fds[0])
        self.assertEqual(name, slot.ifname)
        self.assertTrue(flags & IFF_VNET_HDR)
        self.assertFalse(os.get_inheritable(slot.fds[0]))
        self.assertTrue(arp_probe(slot.fds[0], slot.raw))

    def test_acquire_options(self):
        slot = self.acquire(self.taplink(), label="mq", mtu=1400, queues=3, vnet_header=False)
        self.assertEqual((slot.mtu, slot.queues, slot.vnet_header), (1400, 3, False))
        self.assertEqual(len(slot.fds), 3)
        self.assertEqual(len(set(slot.fds)), 3)
        for fd in slot.fds:
            name, flags = tun_info(fd)
            self.assertEqual(name, slot.ifname)
            self.assertTrue(flags & IFF_MULTI_QUEUE)
            self.assertFalse(flags & IFF_VNET_HDR)
        self.assertEqual(link(slot.ifname)["mtu"], 1400)

    def test_closing_the_fds_ends_a_slot(self):
        c = self.taplink()
        slot = c.acquire()
        self.assertIsNotNone(link(slot.ifname))
        slot.close()
        self.assertEqual(slot.fds, [])
        wait_for(lambda: link(slot.ifname) is None and not c.list(), what="the slot to end")
        self.assertNoLeak()

    def test_fds_work_in_a_child_process(self):
        slot = self.acquire(self.taplink(), vnet_header=True)
        fd = slot.fds[0]
        out = subprocess.run([PYTHON, "-c", CHILD, HERE, str(fd), json.dumps(slot.raw)],
                             pass_fds=slot.fds, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), '{"ifname": "%s", "arp": true}' % slot.ifname)
        # Without pass_fds the fd stays here: it is not inheritable.
        out = subprocess.run([PYTHON, "-c", "import os, sys; os.fstat(int(sys.argv[1]))", str(fd)],
                             close_fds=False, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Bad file descriptor", out.stderr)
        # The child's copies are gone with it; ours keep the slot.
        link_events_handled(self.client())
        self.assertIsNotNone(link(slot.ifname))

    def test_persistent_slot_and_release(self):
        c = self.taplink()
        slot = c.acquire(persistent=True, label="keep")
        self.assertTrue(slot.persistent)
        slot.close()
        link_events_handled(self.client())
        self.assertIsNotNone(link(slot.ifname))
        self.assertEqual([s.slot for s in c.list()], [slot.slot])
        c.release(slot)
        self.assertIsNone(link(slot.ifname))
        self.assertEqual(c.list(), [])
        with self.assertRaises(taplink.NoSuchSlot) as e:
            c.release(slot.slot)
        self.assertEqual((e.exception.name, e.exception.slot), ("io.taplinkd.NoSuchSlot", slot.slot))
        self.assertNoLeak()

    def test_release_while_fds_are_open(self):
        c = self.taplink()
        slot = self.acquire(c)
        c.release(slot.slot)
        self.assertIsNone(link(slot.ifname))
        self.assertEqual(c.list(), [])

    def test_list_status_info(self):
        c = self.taplink()
        a, b = self.acquire(c, label="a"), self.acquire(c, label="b")
        listed = c.list()
        self.assertEqual(sorted((s.slot, s.label) for s in listed), sorted([(a.slot, "a"), (b.slot, "b")]))
        self.assertTrue(all(isinstance(s, taplink.Slot) and s.fds == [] for s in listed))
        status = c.status()
        # max_slots: the /16 pool of /30 subnets holds 16384
        self.assertEqual((status.slots_in_use, status.max_slots), (2, 16384))
        self.assertEqual(status.guest_services_dropped, 0)
        self.assertRegex(status.version, r"^\d+\.\d+\.\d+")
        info = c.get_info()
        self.assertIn("io.taplinkd", info.interfaces)
        self.assertIn("org.varlink.service", info.interfaces)
        self.assertEqual(info.version, status.version)
        self.assertTrue(c.get_interface_description().startswith("interface io.taplinkd"))

    def test_list_counters(self):
        """List(counters: true) (docs/io.taplinkd.varlink): every slot with
        its Counters; without, none."""
        c = self.taplink()
        slot = self.acquire(c)
        self.assertTrue(arp_probe(slot.fds[0], slot.raw))
        [listed] = c.list(counters=True)
        self.assertIsInstance(listed.counters, taplink.Counters)
        for name, value in vars(listed.counters).items():
            self.assertIsInstance(value, int, name)
            self.assertGreaterEqual(value, 0, name)
        self.assertIsNone(c.list()[0].counters)

    def test_errors_are_exceptions_and_the_connection_stays(self):
        c = self.taplink()
        cases = [
            (lambda: c.acquire(mtu=1), taplink.InvalidParameter, "parameter", "mtu"),
            (lambda: c.acquire(queues=17), taplink.InvalidParameter, "parameter", "queues"),
            (lambda: c.acquire(label="no spaces"), taplink.InvalidParameter, "parameter", "label"),
            (lambda: c.acquire(frobnicate_level=1), taplink.InvalidParameter, "parameter", "frobnicateLevel"),
            (lambda: c.release(-1), taplink.InvalidParameter, "parameter", "slot"),
            (lambda: c.release(5), taplink.NoSuchSlot, "slot", 5),
            (lambda: c.call("io.taplinkd.Nope"), taplink.MethodNotFound, "method", "io.taplinkd.Nope"),
            (lambda: c.call("com.example.Nope"), taplink.InterfaceNotFound, "interface", "com.example"),
        ]
        for call, cls, attr, value in cases:
            with self.subTest(cls=cls.__name__, value=value):
                with self.assertRaises(cls) as e:
                    call()
                self.assertIsInstance(e.exception, taplink.TaplinkError)
                self.assertEqual(e.exception.name.rsplit(".", 1)[1], cls.__name__)
                self.assertEqual(getattr(e.exception, attr), value)
                self.assertEqual(e.exception.parameters[attr], value)
        self.assertEqual(c.status().slots_in_use, 0)

    def test_failed_calls_leak_no_fds(self):
        c = self.taplink()
        slot = c.acquire()
        slot.close()
        before = open_fd_count()
        for _ in range(20):
            with self.assertRaises(taplink.InvalidParameter):
                c.acquire(mtu=70000)
            with self.assertRaises(taplink.NoSuchSlot):
                c.release(1234)
        c.acquire().close()
        c.list()
        self.assertEqual(open_fd_count(), before)

    def test_permission_denied(self):
        with as_uid(STRANGER):
            c = self.taplink()
        with self.assertRaises(taplink.PermissionDenied) as e:
            c.acquire()
        self.assertEqual(e.exception.name, "io.taplinkd.PermissionDenied")
        self.assertEqual(c.status().slots_in_use, 0)

    def test_daemon_gone_is_an_oserror(self):
        c = self.taplink()
        self.d.stop()
        with self.assertRaises(OSError) as e:
            c.status()
        self.assertNotIsInstance(e.exception, taplink.ProtocolError)
        with self.assertRaises(OSError):
            c.status()
        with self.assertRaises(FileNotFoundError):
            taplink.Client(self.d.socket + ".nope")

    def test_socket_path(self):
        with mock.patch.dict(os.environ, {"TAPLINK_SOCKET": self.d.socket}):
            with taplink.Client() as c:
                self.assertEqual(c.path, self.d.socket)
                self.assertEqual(c.status().slots_in_use, 0)
            with self.assertRaises(FileNotFoundError):
                taplink.Client(self.d.socket + ".nope")
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertEqual(taplink.socket_path(), "/run/taplinkd/io.taplinkd")

    def test_monitor(self):
        """Monitor (docs/io.taplinkd.varlink): an "existing" event per slot,
        one "synced" without a slot, then every change as it happens."""
        c = self.taplink()
        old = self.acquire(c, label="old")
        with c.monitor(timeout=WAIT_TIMEOUT) as events:
            first = next(events)
            self.assertEqual((first.event, first.slot.slot, first.slot.label), ("existing", old.slot, "old"))
            self.assertEqual(first.slot.fds, [])
            synced = next(events)
            self.assertEqual((synced.event, synced.slot), ("synced", None))

            new = c.acquire(label="new", persistent=True)
            new.close()
            e = next(events)
            self.assertEqual((e.event, e.slot.slot, e.slot.label), ("acquired", new.slot, "new"))
            c.release(new)
            e = next(events)
            self.assertEqual((e.event, e.slot.slot, e.reason), ("released", new.slot, "release"))
            old.close()
            e = next(events)
            self.assertEqual((e.event, e.slot.slot, e.reason), ("released", old.slot, "vmm-exited"))
        # The calls' connection was never the monitor's.
        self.assertEqual(c.list(), [])


class PythonClientLimitsTest(DaemonTestCase):
    config = {"daemon.max_slots": "2", "access.max_slots_per_user": "1"}

    def test_no_slot_available(self):
        with taplink.Client(self.d.socket) as c:
            slots = [c.acquire(), c.acquire()]
            before = open_fd_count()
            with self.assertRaises(taplink.NoSlotAvailable):
                c.acquire()
            self.assertEqual(open_fd_count(), before)
            for s in slots:
                s.close()

    def test_quota_exceeded(self):
        with as_uid(USER):
            c = taplink.Client(self.d.socket)
        with c:
            with c.acquire() as slot:
                self.assertEqual(slot.owner_uid, USER)
                with self.assertRaises(taplink.QuotaExceeded) as e:
                    c.acquire()
                self.assertEqual((e.exception.limit, e.exception.parameters), (1, {"limit": 1}))
                self.assertEqual([s.slot for s in c.list()], [slot.slot])


if __name__ == "__main__":
    unittest.main()
