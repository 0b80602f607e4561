# SPDX-License-Identifier: MIT
"""The daemon and a notify socket whose reader falls behind (docs/DESIGN.md,
"Notifications to systemd"; src/notify.c).

systemd's notify socket queues at most net.unix.max_dgram_qlen datagrams
(10 by default). A daemon that sent STATUS= with a blocking send while it
was full slept in the kernel until systemd read, answering nobody. Here the
queue is kept full by sockets of the test's own and nobody reads it: every
call must still be answered, READY=1 and STOPPING=1 wait about a second at
most, and once the queue drains the latest STATUS= (and a READY=1 that did
not fit) arrives.

Run as root in a throwaway network namespace (scripts/run-integration-
tests.sh).
"""

import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    TIMEOUT_SCALE, Daemon, links_with_prefix, require_sandbox, run, wait_for)

# Seconds for the 20 Acquires and 20 Releases together: ~0.1 s on a quiet
# machine; a daemon stuck on its notify socket never answers at all.
CALLS_WITHIN = 10.0 * TIMEOUT_SCALE
FILL = b"FILL"


def fill(path):
    """Fills the queue of the socket bound at path from sockets of our own,
    until a fresh one cannot send a single datagram: then the receiver's
    queue, not a sender's buffer, is what is full. Returns the sockets (the
    datagrams stay queued while they are open or not)."""
    socks = []
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setblocking(False)
        socks.append(s)
        sent = 0
        try:
            while True:
                s.sendto(FILL, path)
                sent += 1
        except BlockingIOError:
            pass
        if sent == 0:
            return socks


def drain(notify):
    """Everything queued on notify but fill()'s datagrams, oldest first."""
    out = []
    notify.setblocking(False)
    try:
        while True:
            data = notify.recv(4096)
            if data != FILL:
                out.append(data.decode())
    except BlockingIOError:
        pass
    finally:
        notify.setblocking(True)
    return out


class NotifyTest(unittest.TestCase):

    def setUp(self):
        require_sandbox()
        run("ip", "link", "set", "lo", "up")
        self.tmp = tempfile.TemporaryDirectory(prefix="taplinkd-test-")
        self.addCleanup(self.tmp.cleanup)
        self.notify_path = os.path.join(self.tmp.name, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.addCleanup(self.notify.close)
        self.fillers, self.pending = [], []
        self.addCleanup(lambda: [s.close() for s in self.fillers])
        self.d = Daemon(self.tmp.name, env={"WATCHDOG_USEC": "400000"})
        self.addCleanup(self.assertNoSanitizerReport)
        self.addCleanup(self.d.cleanup)

    def assertNoSanitizerReport(self):
        if self.d.sanitizer_reports():
            self.fail("the daemon's sanitizers reported:\n" + self.d.log_text())

    def fill(self):
        self.fillers += fill(self.notify_path)

    def unfill(self):
        """Empties the notify socket's queue of fill()'s datagrams (what
        the daemon sent stays queued)."""
        for s in self.fillers:
            s.close()
        self.fillers = []
        self.pending = drain(self.notify)

    def client(self):
        c = self.d.client()
        self.addCleanup(c.close)
        return c

    def wait_notification(self, predicate, what, timeout=10.0):
        """Reads notify (now draining it) until a datagram satisfies
        predicate; returns every datagram read."""
        seen, self.pending = self.pending, []

        def arrived():
            seen.extend(drain(self.notify))
            return any(predicate(n) for n in seen)
        wait_for(arrived, timeout, interval=0.05, what=what)
        return seen

    def test_calls_answered_while_nobody_reads(self):
        self.d.start(notify=self.notify)
        self.fill()
        c = self.client()
        t0 = time.monotonic()
        held = []
        for i in range(20):
            slot, fds = c.acquire(label="n%d" % i)
            held.append((slot, fds))
        for slot, fds in held:
            self.assertEqual(c.call("io.taplinkd.Release", {"slot": slot["slot"]})[0], {})
            for fd in fds:
                os.close(fd)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, CALLS_WITHIN, "20 Acquires and 20 Releases took %.1f s" % elapsed)
        # The daemon has since met the full queue (its STATUS= follows a
        # change within 250 ms, WATCHDOG=1 comes every 200 ms), and still
        # answers.
        wait_for(lambda: "receiver's queue is full" in self.d.log_text(), 10.0,
                 what="the daemon to find the notify socket full")
        self.assertEqual(c.call("io.taplinkd.Status")[0]["slotsInUse"], 0)
        self.assertIsNone(self.d.proc.poll())
        self.assertEqual(links_with_prefix(self.d.prefix), [])

        # Room again: the latest status arrives (not the ones in between).
        self.unfill()
        seen = self.wait_notification(lambda n: "STATUS=0 of " in n, "the latest STATUS=")
        statuses = [n for n in seen if "STATUS=" in n]
        self.assertIn("STATUS=0 of ", statuses[-1])

    def test_ready_and_stopping_wait_a_bounded_time(self):
        self.fill()
        t0 = time.monotonic()
        self.d.start(wait_ready=False, notify=self.notify)
        c = wait_for(self.try_status, 10.0 * TIMEOUT_SCALE, what="the daemon serving")
        wait_for(lambda: "READY=1 not sent to systemd within" in self.d.log_text(), 10.0,
                 what="the log line for READY=1")
        sys.stderr.write("\n  serving %.2f s after exec, READY=1 not delivered\n" % (time.monotonic() - t0))
        c.close()
        # READY=1 was kept: it arrives once there is room.
        self.unfill()
        self.wait_notification(lambda n: n.startswith("READY=1"), "READY=1 once the queue drained")

        self.fill()
        t0 = time.monotonic()
        self.d.proc.send_signal(signal.SIGTERM)
        self.d.proc.wait(10.0 * TIMEOUT_SCALE)
        sys.stderr.write("  stopped %.2f s after SIGTERM, STOPPING=1 not delivered\n" % (time.monotonic() - t0))
        self.assertEqual(self.d.proc.returncode, 0)
        self.assertIn("STOPPING=1 not sent to systemd", self.d.log_text())

    def try_status(self):
        """A connection whose Status was answered, or None while the
        daemon does not listen yet."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(self.d.socket)
            except OSError:
                return None
        c = self.d.client()
        c.call("io.taplinkd.Status")
        return c

    def test_watchdog(self):
        self.d.start(notify=self.notify)
        self.wait_notification(lambda n: n == "WATCHDOG=1", "WATCHDOG=1")


if __name__ == "__main__":
    unittest.main()
