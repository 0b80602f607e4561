# SPDX-License-Identifier: MIT
"""Reproducers found by the chaos test: a persistent Acquire whose reply is
never delivered must not leave its slot behind (taplinkd(8), "Lifetime": a
reply that cannot be delivered because the client went away is cleaned up
by the same path; docs/DESIGN.md, "The kernel is the state": a kill -9 of
the daemon at any moment, then a restart, leaks no device, element or
slot).

The reply is held back deterministically: the client pipelines enough
Status calls, without reading, to fill its socket, so the daemon queues the
Acquire's reply (and its fds) behind them. The slot is LIVE at that point
(List shows it), TUNSETPERSIST is already set, and nothing of the reply
has left the daemon. Then the client goes away / the daemon is stopped /
killed: the queued fds are closed unsent, the persistent device stays, and
nobody was ever told about the slot.

Run alone:
  TAPLINK_HOST_NETNS=$(readlink /proc/self/ns/net) unshare -n \
      python3 -m unittest -v tests/integration/test_undelivered_reply.py
"""

import json
import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WAIT_TIMEOUT, DaemonTestCase, link, table_elements, wait_for  # noqa: E402

STATUS = json.dumps({"method": "io.taplinkd.Status"}).encode() + b"\0"
# Status replies are ~67 bytes: 1800 of them overflow the client's socket
# (~18 KiB of small messages fit) yet stay well below the daemon's 256 KiB
# output high-water mark, so it keeps reading and dispatches the Acquire.
N_STATUS = 1800


class UndeliveredPersistentReplyTest(DaemonTestCase):

    def stuck_acquire(self, persistent, label):
        """Returns (client socket, slot) with the slot LIVE and its reply
        queued in the daemon behind replies the client does not read."""
        c = self.client()
        c.sock.setblocking(False)
        data = STATUS * N_STATUS + json.dumps({"method": "io.taplinkd.Acquire", "parameters": {
            "label": label, "persistent": persistent}}).encode() + b"\0"
        sent = 0
        # The daemon reads as fast as the machine lets it: only a long
        # stretch without any progress means it stopped.
        deadline = time.monotonic() + WAIT_TIMEOUT
        while sent < len(data):
            try:
                sent += c.sock.send(data[sent:])
                deadline = time.monotonic() + WAIT_TIMEOUT
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fail("the daemon stopped reading before the Acquire (precondition)")
                time.sleep(0.005)
        observer = self.client()
        slot = wait_for(lambda: [s for s in observer.call("io.taplinkd.List")[0]["slots"]
                                 if s["label"] == label], what="the slot to be LIVE")[0]
        observer.close()
        self.assertIsNotNone(link(slot["ifname"]))
        return c, slot

    def drained_replies(self, c):
        """Every reply that reached the client, fds closed."""
        c.sock.settimeout(2.0)
        out = []
        while True:
            try:
                raw, fds = c.reader.next()
            except (ConnectionResetError, OSError):
                break
            for fd in fds:
                os.close(fd)
            out.append(json.loads(raw))
        return out

    def assertNoAcquireReply(self, replies):
        self.assertTrue(all("slot" not in r.get("parameters", {}) for r in replies),
                        "precondition: the Acquire reply must not have reached the client")

    def assertSlotGone(self, slot, why):
        d = self.d
        c = self.client()
        try:
            wait_for(lambda: link(slot["ifname"]) is None, what="device gone")
            wait_for(lambda: not c.call("io.taplinkd.List")[0]["slots"], what="slot gone")
            wait_for(lambda: not any((table_elements(d.table) or {}).values()), what="elements gone")
        except AssertionError as e:
            self.fail("%s: slot %d (%s) leaked: device %s, List %s, elements %s (%s)" % (
                why, slot["slot"], slot["label"], "present" if link(slot["ifname"]) else "gone",
                c.call("io.taplinkd.List")[0]["slots"], table_elements(d.table), e))

    def test_control_not_persistent_client_gone(self):
        c, slot = self.stuck_acquire(False, "ctl")
        c.sock.shutdown(socket.SHUT_RDWR)
        self.assertNoAcquireReply(self.drained_replies(c))
        self.assertSlotGone(slot, "client gone")

    def test_persistent_client_gone_before_reply_leaves_no_slot(self):
        c, slot = self.stuck_acquire(True, "pers-gone")
        c.sock.shutdown(socket.SHUT_RDWR)
        self.assertNoAcquireReply(self.drained_replies(c))
        self.assertSlotGone(slot, "persistent Acquire, client gone before the reply")

    def test_persistent_reply_queued_at_sigterm_leaves_no_slot(self):
        c, slot = self.stuck_acquire(True, "pers-term")
        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        self.assertNoAcquireReply(self.drained_replies(c))
        self.d.start()
        self.assertSlotGone(slot, "persistent Acquire, reply queued at SIGTERM")

    def test_persistent_reply_queued_at_sigkill_leaves_no_slot(self):
        c, slot = self.stuck_acquire(True, "pers-kill")
        self.d.kill9()
        self.assertNoAcquireReply(self.drained_replies(c))
        self.d.start()
        self.assertSlotGone(slot, "persistent Acquire, reply queued at SIGKILL")


if __name__ == "__main__":
    unittest.main()
