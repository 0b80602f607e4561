# SPDX-License-Identifier: MIT
"""io.taplinkd.Monitor against the real daemon: the snapshot, the events and
their reasons on every path a slot ends by, who sees what, a restart, a
monitor that never reads, and `taplinkctl monitor`.

Run as root in a throwaway network namespace (scripts/run-integration-tests.sh).
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    TAPLINKCTL, DaemonTestCase, Varlink, VarlinkError, connect_as, link, link_events_handled, round_trip, run,
    wait_for)

USER = 1000  # in the harness's allow_users


class Monitor:
    """A Monitor stream on a connection of its own."""

    def __init__(self, conn):
        self.conn = conn
        conn.send({"method": "io.taplinkd.Monitor", "more": True})

    def next(self):
        """The next reply's parameters; every one must continue."""
        reply, fds = self.conn.recv()
        assert not fds, reply
        assert "error" not in reply, reply
        assert reply.get("continues") is True, reply
        return reply["parameters"]

    def snapshot(self):
        """The "existing" slots up to "synced"."""
        slots = []
        while True:
            p = self.next()
            if p["event"] == "synced":
                assert p == {"event": "synced"}, p
                return slots
            assert p["event"] == "existing", p
            assert "reason" not in p, p
            slots.append(p["slot"])

    def expect(self, event, slot, reason=None):
        p = self.next()
        assert p["event"] == event and p["slot"]["slot"] == slot, (p, event, slot)
        if reason is None:
            assert "reason" not in p, p
        else:
            assert p["reason"] == reason, (p, reason)
        return p

    def expect_quiet(self, client):
        """Nothing more is queued for this stream once the daemon has handled
        every link event so far (a marker slot, seen by root streams only,
        is skipped)."""
        link_events_handled(client)
        self.conn.sock.setblocking(False)
        try:
            while True:
                try:
                    p = self.next()
                except (BlockingIOError, socket.timeout):
                    return
                assert p["slot"]["label"].startswith("marker-"), p
        finally:
            self.conn.sock.settimeout(10.0)


class MonitorTest(DaemonTestCase):

    def monitor(self, conn=None):
        conn = conn or self.client()
        return Monitor(conn)

    def test_snapshot_then_events_in_order(self):
        c = self.client()
        a, a_fds = c.acquire(label="a")
        b, b_fds = c.acquire(label="b")
        m = self.monitor()
        existing = m.snapshot()
        self.assertEqual([s["slot"] for s in existing], sorted([a["slot"], b["slot"]]))
        self.assertEqual(existing[[s["slot"] for s in existing].index(a["slot"])], a)

        p_, p_fds = c.acquire(label="p", persistent=True)
        self.assertEqual(m.expect("acquired", p_["slot"])["slot"], p_)
        c.call("io.taplinkd.Release", {"slot": a["slot"]})
        self.assertEqual(m.expect("released", a["slot"], "release")["slot"]["label"], "a")
        # The VMM exits: its fds close.
        for fd in b_fds:
            os.close(fd)
        m.expect("released", b["slot"], "vmm-exited")
        # An administrator deletes a persistent slot's device.
        for fd in p_fds:
            os.close(fd)
        run("ip", "link", "del", p_["ifname"])
        m.expect("released", p_["slot"], "vmm-exited")
        for fd in a_fds:
            os.close(fd)
        m.expect_quiet(c)

    def test_acquire_and_release_each_announced_once(self):
        c = self.client()
        m = self.monitor()
        self.assertEqual(m.snapshot(), [])
        slots = []
        for i in range(5):
            s, fds = c.acquire(label="n%d" % i)
            slots.append((s, fds))
        for s, fds in slots:
            c.call("io.taplinkd.Release", {"slot": s["slot"]})
            for fd in fds:
                os.close(fd)
        for s, _ in slots:
            self.assertEqual(m.expect("acquired", s["slot"])["slot"], s)
        for s, _ in slots:
            m.expect("released", s["slot"], "release")
        m.expect_quiet(c)

    def test_without_more(self):
        c = self.client()
        reply, _ = c.call_raw("io.taplinkd.Monitor")
        self.assertEqual(reply["error"], "org.varlink.service.ExpectedMore")
        # The connection goes on.
        self.assertIn("version", c.call("io.taplinkd.Status")[0])
        with self.assertRaises(VarlinkError) as e:
            c.call("io.taplinkd.Monitor", {"x": 1})
        self.assertEqual(e.exception.name, "org.varlink.service.InvalidParameter")

    def test_stream_holds_the_connection(self):
        c = self.client()
        m = self.monitor()
        m.snapshot()
        # Pipelined behind the stream: never answered while it lasts.
        m.conn.send({"method": "io.taplinkd.Status"})
        s, fds = c.acquire()
        self.assertEqual(m.next()["event"], "acquired")
        c.call("io.taplinkd.Release", {"slot": s["slot"]})
        self.assertEqual(m.next()["event"], "released")
        for fd in fds:
            os.close(fd)

    def test_not_allowed(self):
        other = connect_as(self.d.socket, 1001)
        self.addCleanup(other.close)
        reply, _ = other.call_raw("io.taplinkd.Monitor", more=True)
        self.assertEqual(reply["error"], "io.taplinkd.PermissionDenied")

    def test_non_root_sees_its_own_slots(self):
        root = self.client()
        user = connect_as(self.d.socket, USER)
        self.addCleanup(user.close)
        mine_before, mine_fds = user.acquire(label="mine")
        theirs_before, theirs_fds = root.acquire(label="theirs")

        um = self.monitor(connect_as(self.d.socket, USER))
        self.addCleanup(um.conn.close)
        rm = self.monitor()
        self.assertEqual([s["slot"] for s in um.snapshot()], [mine_before["slot"]])
        self.assertEqual(sorted(s["slot"] for s in rm.snapshot()),
                         sorted([mine_before["slot"], theirs_before["slot"]]))

        theirs, t_fds = root.acquire(label="theirs2")
        mine, m_fds = user.acquire(label="mine2")
        root.call("io.taplinkd.Release", {"slot": theirs["slot"]})
        user.call("io.taplinkd.Release", {"slot": mine["slot"]})

        um.expect("acquired", mine["slot"])
        um.expect("released", mine["slot"], "release")
        rm.expect("acquired", theirs["slot"])
        rm.expect("acquired", mine["slot"])
        rm.expect("released", theirs["slot"], "release")
        rm.expect("released", mine["slot"], "release")
        for fd in t_fds + m_fds + mine_fds + theirs_fds:
            os.close(fd)
        rm.expect("released", mine_before["slot"], "vmm-exited")
        rm.expect("released", theirs_before["slot"], "vmm-exited")
        um.expect("released", mine_before["slot"], "vmm-exited")
        um.expect_quiet(root)
        self.assertEqual(self.d.proc.poll(), None)

    def test_restart(self):
        """A restart closes every stream. A slot whose device went while no
        daemon ran leaves no record to report: the new daemon's monitors
        see "existing" for the slots that survived and nothing for the
        others. "gone-at-start" is only for a device the new daemon adopted
        and saw go before it served, which no stream can watch (the socket
        is served only after start-up; DESIGN.md, "Events")."""
        c = self.client()
        keep, keep_fds = c.acquire(label="keep", persistent=True)
        lose, lose_fds = c.acquire(label="lose", persistent=True)
        for fd in keep_fds + lose_fds:
            os.close(fd)
        m = self.monitor()
        self.assertEqual(len(m.snapshot()), 2)

        self.assertEqual(self.d.stop(), 0)
        # The stream ends with the connection, without a final reply.
        with self.assertRaises(ConnectionResetError):
            m.next()
        run("ip", "link", "del", lose["ifname"])
        self.d.start()

        m2 = self.monitor()
        existing = m2.snapshot()
        self.assertEqual([s["slot"] for s in existing], [keep["slot"]])
        self.assertEqual(existing[0]["label"], "keep")
        m2.expect_quiet(self.client())

    def test_monitor_that_never_reads(self):
        """200 slots churn while a monitor reads nothing: the churn is not
        held up, another client is served meanwhile, and the daemon drops
        the monitor (its unread output passes the high-water mark, or it
        reads nothing for the write timeout, 10 s)."""
        stuck = self.client()
        stuck.send({"method": "io.taplinkd.Monitor", "more": True})
        round_trip(self.client())  # the Monitor call has been read
        c = self.client()
        other = self.client()
        label = "x" * 64
        deadline = time.monotonic() + 120
        for i in range(200):
            s, fds = c.acquire(label=label)
            c.call("io.taplinkd.Release", {"slot": s["slot"]})
            for fd in fds:
                os.close(fd)
            if i % 50 == 0:
                round_trip(other)
            self.assertLess(time.monotonic(), deadline, "the churn stalled")

        # Dropped: the daemon's end closes. Watched without reading, since
        # reading is what would keep the monitor alive.
        poller = select.poll()
        poller.register(stuck.sock, select.POLLRDHUP)
        wait_for(lambda: poller.poll(0), timeout=60, interval=0.1,
                 what="the daemon to drop the monitor that never read")
        # What was queued before can still be read; then the stream ends
        # without a final reply.
        n = 0
        with self.assertRaises(ConnectionResetError):
            while True:
                reply, _ = stuck.recv()
                self.assertTrue(reply.get("continues"), reply)
                n += 1
        self.assertGreater(n, 0)
        round_trip(other)
        self.assertEqual(self.d.proc.poll(), None)


class CtlMonitorTest(DaemonTestCase):

    def ctl_monitor(self, *args):
        p = subprocess.Popen([TAPLINKCTL, "--socket", self.d.socket] + list(args) + ["monitor"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pending = getattr(self, "pending", {})
        def cleanup():
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(cleanup)
        return p

    def readline(self, p):
        """The next line taplinkctl printed, read from its pipe unbuffered
        (a buffered reader would hide lines from select)."""
        buf = self.pending.setdefault(p.pid, b"")
        while b"\n" not in buf:
            r, _, _ = select.select([p.stdout], [], [], 10)
            self.assertTrue(r, "taplinkctl monitor printed no line within 10 s")
            data = os.read(p.stdout.fileno(), 65536)
            self.assertTrue(data, "taplinkctl monitor closed its output")
            buf += data
        line, buf = buf.split(b"\n", 1)
        self.pending[p.pid] = buf
        return line.decode()

    def test_lines(self):
        c = self.client()
        old, old_fds = c.acquire(label="old")
        p = self.ctl_monitor()
        self.assertEqual(self.readline(p), "existing %s slot=%d owner=0 label=old" % (old["ifname"], old["slot"]))
        self.assertEqual(self.readline(p), "synced")
        s, fds = c.acquire(label="vm-1")
        self.assertEqual(self.readline(p), "acquired %s slot=%d owner=0 label=vm-1" % (s["ifname"], s["slot"]))
        c.call("io.taplinkd.Release", {"slot": s["slot"]})
        self.assertEqual(self.readline(p), "released %s reason=release" % s["ifname"])
        for fd in old_fds:
            os.close(fd)
        self.assertEqual(self.readline(p), "released %s reason=vmm-exited" % old["ifname"])
        for fd in fds:
            os.close(fd)
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(10), 0)
        self.assertEqual(p.stderr.read(), "")

    def test_json(self):
        c = self.client()
        p = self.ctl_monitor("--json")
        self.assertEqual(json.loads(self.readline(p)), {"event": "synced"})
        s, fds = c.acquire(label="vm-2")
        self.assertEqual(json.loads(self.readline(p)), {"event": "acquired", "slot": s})
        for fd in fds:
            os.close(fd)
        line = self.readline(p)
        self.assertEqual(json.loads(line), {"event": "released", "slot": s, "reason": "vmm-exited"})
        self.assertNotIn("\n", line)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10), 0)

    def test_daemon_stops(self):
        p = self.ctl_monitor()
        self.assertEqual(self.readline(p), "synced")
        self.assertEqual(self.d.stop(), 0)
        self.assertEqual(p.wait(10), 0)
        self.assertEqual(p.stderr.read(), "taplinkctl: monitor: taplinkd closed the stream\n")

    def test_refused(self):
        os.chmod(self.tmp.name, 0o755)
        p = subprocess.run(["setpriv", "--reuid=1001", "--regid=1001", "--clear-groups", TAPLINKCTL,
                            "--socket", self.d.socket, "monitor"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("io.taplinkd.PermissionDenied", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_help(self):
        p = subprocess.run([TAPLINKCTL, "monitor", "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("Usage: taplinkctl", p.stdout)
        self.assertIn("monitor", p.stdout)
        p = subprocess.run([TAPLINKCTL, "monitor", "extra"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
