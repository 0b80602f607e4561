# SPDX-License-Identifier: MIT
"""Hostile clients (taplinkd(8), "Access"; docs/DESIGN.md, "The wire
protocol" and "Who may do what"): each test runs one kind of abuse against
a private daemon and checks three things:

  - the abuser gets its defined answer: an error, or the end of its
    connection (and only its connection);
  - nothing leaks: no device, no set element, no slot, no daemon fd left
    behind once the abuser is gone;
  - a well-behaved client is still served while the abuse goes on (a
    Status, or an Acquire, round trip), within SERVED_WITHIN: 10x the
    100 ms the daemon promises, so that a loaded machine does not fail it
    and a daemon that waits on the abuser (seconds, or for ever) does.
    How fast it really is `make bench` reports (TAPLINK_BENCH_OUT below).

Behaviour this file defines where the documentation leaves it open:
  - slowloris: the daemon has no read timeout; a connection that sends a
    byte now and then is kept, costs nothing but its buffer, and gets its
    reply once its message is complete;
  - pipelining: any number of requests on one connection are answered, in
    order, as long as the client reads; a client that stops reading is
    dropped once its queued output has waited 10 s
    (VARLINK_DEFAULT_WRITE_TIMEOUT_USEC) without it reading;
  - duplicate keys: the last one counts (json-c; src/varlink.h);
  - numbers beyond int64 are out of range: InvalidParameter;
  - a "\\ud800" escape (valid JSON, not a character) becomes U+FFFD: the
    daemon never sends invalid UTF-8.

Run as root in a throwaway network namespace (scripts/run-integration-
tests.sh). With TAPLINK_BENCH_OUT=FILE, the well-behaved round trips each
test saw are appended to FILE as BENCH lines (bench/run.sh does that).
"""

import array
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    PYTHON, TAPLINKD, WAIT_TIMEOUT, ClientProcess, DaemonTestCase, FrameReader, Varlink, link,
    links_with_prefix, open_fds, raise_nofile, wait_for)

# Seconds, for a well-behaved client's round trip during the abuse: 10x the
# 100 ms promised (well under 1 ms undisturbed, ~0.1 s on a loaded machine).
# ASan+UBSan make the daemon ~2-3x slower: 10x 250 ms there.
SERVED_WITHIN = 2.5 if "/sanitize" in TAPLINKD else 1.0
INVALID = "org.varlink.service.InvalidParameter"
METHOD_NOT_FOUND = "org.varlink.service.MethodNotFound"
STATUS = json.dumps({"method": "io.taplinkd.Status"}).encode() + b"\0"
# Every well-behaved round trip each test saw (seconds): summed up at the
# end, and written to TAPLINK_BENCH_OUT for `make bench`.
ROUND_TRIPS = {}
BENCH_OUT = os.environ.get("TAPLINK_BENCH_OUT")
# For the bench, ten times the samples per check.
SAMPLES_SCALE = 10 if BENCH_OUT else 1
# varlink.h: VARLINK_DEFAULT_MAX_CONNECTIONS_PER_UID, _WRITE_TIMEOUT_USEC
MAX_CONNECTIONS_PER_UID = 1024
WRITE_TIMEOUT = 10.0


def frame(obj):
    return json.dumps(obj).encode() + b"\0"


def sock_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def send_fds(sock, data, fds):
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())])


class HostileTest(DaemonTestCase):
    config = {"access.allow_users": "1000 1001"}

    @classmethod
    def tearDownClass(cls):
        if not ROUND_TRIPS:
            return
        sys.stderr.write("\nwell-behaved round trips per test (ms):\n")
        lines = []
        for name, samples in sorted(ROUND_TRIPS.items()):
            samples = sorted(samples)
            p50, worst = samples[len(samples) // 2] * 1000, samples[-1] * 1000
            sys.stderr.write("  %-55s n=%-4d p50 %6.1f  worst %6.1f\n" % (name, len(samples), p50, worst))
            test = name[len("test_"):] if name.startswith("test_") else name
            lines.append("BENCH name=hostile_rtt_p50_ms load=%s samples=%d value=%.2f\n" % (test, len(samples), p50))
            lines.append("BENCH name=hostile_rtt_worst_ms load=%s samples=%d value=%.2f\n"
                         % (test, len(samples), worst))
        if BENCH_OUT:
            with open(BENCH_OUT, "a") as f:
                f.writelines(lines)

    def setUp(self):
        raise_nofile(8192)
        super().setUp()
        self.good = self.client()
        self.good.call("io.taplinkd.Status")
        # With one idle connection (self.good): the fds a clean daemon holds.
        self.baseline_fds = open_fds(self.d.proc.pid)

    # ------------------------------------------------------------ checks

    def assertServed(self, samples=3, acquire=False, client=None):
        """A well-behaved client's round trips all take under SERVED_WITHIN."""
        c = client or self.good
        for _ in range(samples * SAMPLES_SCALE):
            t0 = time.monotonic()
            if acquire:
                slot, fds = c.acquire(label="good")
                elapsed = time.monotonic() - t0
                for fd in fds:
                    os.close(fd)
            else:
                c.call("io.taplinkd.Status")
                elapsed = time.monotonic() - t0
            ROUND_TRIPS.setdefault(self._testMethodName, []).append(elapsed)
            self.assertLess(elapsed, SERVED_WITHIN, "a well-behaved %s took %.0f ms" % (
                "Acquire" if acquire else "Status", elapsed * 1000))

    def assertDaemonClean(self, timeout=None):
        """No device, no element, no slot in use, no fd beyond the baseline."""
        self.assertNoLeak(timeout)
        wait_for(lambda: self.good.call("io.taplinkd.Status")[0]["slotsInUse"] == 0, timeout,
                 what="slotsInUse back to 0")
        wait_for(lambda: open_fds(self.d.proc.pid) <= self.baseline_fds, timeout,
                 what="daemon fds back to %d (now %d)" % (self.baseline_fds, open_fds(self.d.proc.pid)))
        self.assertIsNone(self.d.proc.poll(), "the daemon exited:\n" + self.d.log_text())

    def assertDisconnected(self, c, timeout=WAIT_TIMEOUT):
        """The daemon ends c's connection without answering."""
        c.sock.settimeout(timeout)
        with self.assertRaises(ConnectionError):
            reply, fds = c.recv()
            for fd in fds:
                os.close(fd)
            self.fail("answered instead of disconnected: %r" % (reply,))

    def raw_exchange(self, data):
        """Sends data on a fresh connection: the reply dict, or None when the
        daemon ended the connection instead."""
        c = Varlink(self.d.socket, timeout=WAIT_TIMEOUT)
        try:
            try:
                c.send_raw(data)
            except (BrokenPipeError, ConnectionResetError):
                return None
            try:
                raw, fds = c.reader.next()
            except ConnectionError:
                return None
            for fd in fds:
                os.close(fd)
            # The reply must be valid UTF-8 JSON whatever came in.
            return json.loads(raw.decode("utf-8"))
        finally:
            c.close()

    # ------------------------------------------------------------ connections

    def test_thousand_concurrent_connections(self):
        n = 1000
        conns = []
        for _ in range(n):
            c = Varlink(self.d.socket)
            conns.append(c)
            self.addCleanup(c.close)
        # Every connection has a call outstanding at once.
        for c in conns:
            c.send_raw(STATUS)
        self.assertServed()
        for c in conns:
            self.assertIn("slotsInUse", c.recv()[0]["parameters"])
        # A hundred of them Acquire concurrently.
        for c in conns[:100]:
            c.send({"method": "io.taplinkd.Acquire", "parameters": {"label": "many"}})
        self.assertServed(acquire=True)
        held, numbers = [], set()
        for c in conns[:100]:
            reply, fds = c.recv()
            self.assertIn("parameters", reply, reply)
            self.assertEqual(len(fds), 1)
            numbers.add(reply["parameters"]["slot"]["slot"])
            held.extend(fds)
        self.assertEqual(len(numbers), 100, "every Acquire gets a slot of its own")
        # (the good client's Acquire above may still be on its way out)
        wait_for(lambda: self.good.call("io.taplinkd.Status")[0]["slotsInUse"] == 100,
                 what="100 slots in use")
        self.assertGreaterEqual(open_fds(self.d.proc.pid), self.baseline_fds + n)
        for fd in held:
            os.close(fd)
        for c in conns:
            c.close()
        self.assertDaemonClean()
        self.assertServed()

    def test_connection_flood_from_one_uid(self):
        """A uid that may not even call Acquire opens more connections than
        the daemon takes (4096): root and allowed users must still get in."""
        hog = subprocess.Popen(
            ["setpriv", "--reuid=4000", "--regid=4000", "--clear-groups", PYTHON, "-c", FLOOD,
             self.d.socket, "4200"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (hog.kill(), hog.wait(), hog.stdin.close(), hog.stdout.close()))
        line = hog.stdout.readline()
        self.assertTrue(line.startswith("open"), line)
        # The flood is in force once the daemon holds as many of its
        # connections as one uid may have.
        wait_for(lambda: open_fds(self.d.proc.pid) >= self.baseline_fds + MAX_CONNECTIONS_PER_UID,
                 what="the daemon to hold %d of uid 4000's connections" % MAX_CONNECTIONS_PER_UID)
        fresh = Varlink(self.d.socket)
        self.addCleanup(fresh.close)
        try:
            self.assertServed(client=fresh)
        except ConnectionError as e:
            self.fail("root is locked out by uid 4000's %s connections: %r" % (line.split()[1], e))
        user = ClientProcess(self.d.socket, 1000)
        self.addCleanup(user.stop)
        reply, nfds = user.call("io.taplinkd.Acquire", {})
        self.assertIn("parameters", reply, "an allowed user is locked out by uid 4000: %r" % reply)
        hog.kill()
        hog.wait()
        user.stop()
        fresh.close()
        self.assertDaemonClean()

    def test_slowloris(self):
        """Twenty clients trickle a Status request one byte at a time: a byte
        a second for the first 5 bytes, then a byte every 50 ms. Nobody else
        waits for them, and each gets its answer when its NUL arrives."""
        slow = [sock_connect(self.d.socket) for _ in range(20)]
        for s in slow:
            self.addCleanup(s.close)
        # One that never finishes its message: kept, and harmless.
        stuck = sock_connect(self.d.socket)
        self.addCleanup(stuck.close)
        stuck.sendall(b'{"method": "io.taplinkd.Sta')
        for i in range(len(STATUS)):
            for s in slow:
                s.sendall(STATUS[i:i + 1])
            if i < 5:
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    self.assertServed(samples=1)
                    time.sleep(0.2)
            else:
                time.sleep(0.05)
                self.assertServed(samples=1)
        for s in slow:
            raw, _ = FrameReader(s).next()
            self.assertIn("slotsInUse", json.loads(raw)["parameters"])
        # The unfinished one is still connected and may yet finish.
        stuck.sendall(b'tus"}\0')
        stuck.settimeout(WAIT_TIMEOUT)
        self.assertIn(b"slotsInUse", stuck.recv(4096))
        for s in slow + [stuck]:
            s.close()
        self.assertDaemonClean()

    def test_pipelined_ten_thousand_answered_in_order(self):
        """10,000 requests written in one go on one connection (each names
        itself: MethodNotFound echoes it; every 1,000th is an Acquire whose
        fds must come with its own reply), read back by another thread."""
        n = 10000
        c = self.client()
        c.sock.settimeout(30)
        reqs = []
        for i in range(n):
            if i % 1000 == 999:
                reqs.append({"method": "io.taplinkd.Acquire", "parameters": {"label": "p%d" % i}})
            else:
                reqs.append({"method": "io.taplinkd.P%d" % i})
        payload = b"".join(frame(r) for r in reqs)
        replies, errors = [], []

        def reader():
            try:
                for _ in range(n):
                    replies.append(c.recv())
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=reader)
        t0 = time.monotonic()
        t.start()
        sender = threading.Thread(target=lambda: c.sock.sendall(payload))
        sender.start()
        while t.is_alive():
            self.assertServed(samples=1)
            time.sleep(0.02)
        t.join()
        sender.join()
        elapsed = time.monotonic() - t0
        held = [fd for _, fds in replies for fd in fds]
        self.addCleanup(lambda: [os.close(fd) for fd in held])
        self.assertEqual(errors, [])
        self.assertEqual(len(replies), n)
        for i, (reply, fds) in enumerate(replies):
            if i % 1000 == 999:
                self.assertEqual(reply["parameters"]["slot"]["label"], "p%d" % i, i)
                self.assertEqual(len(fds), 1, i)
            else:
                self.assertEqual(reply, {"error": METHOD_NOT_FOUND,
                                         "parameters": {"method": "io.taplinkd.P%d" % i}})
                self.assertEqual(fds, [], i)
        self.assertLess(elapsed, 30.0)
        sys.stderr.write("\n  10,000 pipelined requests answered in %.2f s\n" % elapsed)
        # The connection is still good.
        self.assertEqual(c.call("io.taplinkd.Status")[0]["slotsInUse"], 10)
        for fd in held:
            os.close(fd)
        held.clear()
        c.close()
        self.assertDaemonClean()

    def test_pipelining_non_reader_is_dropped(self):
        """A client that pipelines Lists and never reads: the daemon stops
        reading its calls past 256 KiB of queued output and drops it once
        that output has waited 10 s; nobody else notices."""
        # Some slots, so that every List reply is big.
        held = []
        for _ in range(8):
            held += self.good.acquire(label="x" * 64)[1]
        hog = sock_connect(self.d.socket)
        self.addCleanup(hog.close)
        hog.setblocking(False)
        req = frame({"method": "io.taplinkd.List"}) * 100
        sent = 0
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            try:
                sent += hog.send(req)
            except BlockingIOError:
                time.sleep(0.05)
        last_progress = time.monotonic()
        self.assertServed()
        # Wait for the daemon to hang up: POLLHUP, or EOF after what it sent.
        p = select.poll()
        p.register(hog, select.POLLHUP | select.POLLRDHUP)
        dropped = None
        while time.monotonic() - last_progress < WRITE_TIMEOUT + WAIT_TIMEOUT:
            if p.poll(200):
                dropped = time.monotonic() - last_progress
                break
            self.assertServed(samples=1)
        self.assertIsNotNone(dropped, "a client that never reads was never dropped")
        self.assertGreater(dropped, 5.0)
        hog.setblocking(True)
        hog.settimeout(WAIT_TIMEOUT)
        got = 0
        while True:
            try:
                data = hog.recv(1 << 20)
            except ConnectionResetError:
                break  # it left our calls unread: the close is a reset
            if not data:
                break
            got += data.count(b"\0")
        self.assertLess(got, sent // len(frame({"method": "io.taplinkd.List"})))
        sys.stderr.write("\n  non-reader dropped %.1f s after it stopped reading (%d replies sent)\n"
                         % (dropped, got))
        hog.close()
        for fd in held:
            os.close(fd)
        self.assertDaemonClean()

    # ------------------------------------------------------------ numbers

    def test_huge_negative_and_fractional_numbers(self):
        cases = [
            ('"mtu": 18446744073709551616', "mtu"),          # 2**64
            ('"mtu": 18446744073709551615', "mtu"),          # 2**64 - 1
            ('"mtu": 9223372036854775808', "mtu"),           # 2**63
            ('"mtu": 123456789012345678901234567890', "mtu"),
            ('"mtu": 1e400', "mtu"),
            ('"mtu": -1e400', "mtu"),
            ('"mtu": 1e-400', "mtu"),
            ('"mtu": 1500.0', "mtu"),
            ('"mtu": 15e2', "mtu"),
            ('"mtu": -1500', "mtu"),
            ('"mtu": -9223372036854775808', "mtu"),
            ('"mtu": -9223372036854775809', "mtu"),
            ('"mtu": -18446744073709551616', "mtu"),
            ('"queues": 4294967297', "queues"),              # 2**32 + 1: no truncation to 1
            ('"queues": 18446744073709551617', "queues"),
            ('"queues": -4294967295', "queues"),
            ('"mtu": 4294968796', "mtu"),                    # 2**32 + 1500
        ]
        for params, name in cases:
            with self.subTest(params=params):
                reply = self.raw_exchange(
                    b'{"method": "io.taplinkd.Acquire", "parameters": {' + params.encode() + b'}}\0')
                self.assertEqual(reply, {"error": INVALID, "parameters": {"parameter": name}})
        # A free slot: NoSuchSlot. An int64 outside [0, maxSlots): the same,
        # echoing the number, or InvalidParameter (out of range).
        reply = self.raw_exchange(frame({"method": "io.taplinkd.Release", "parameters": {"slot": 0}}))
        self.assertEqual(reply, {"error": "io.taplinkd.NoSuchSlot", "parameters": {"slot": 0}})
        for slot in (-1, 16384, 2 ** 31, 2 ** 63 - 1, -2 ** 63):
            with self.subTest(slot=slot):
                reply = self.raw_exchange(frame({"method": "io.taplinkd.Release", "parameters": {"slot": slot}}))
                self.assertIn(reply, [{"error": "io.taplinkd.NoSuchSlot", "parameters": {"slot": slot}},
                                      {"error": INVALID, "parameters": {"parameter": "slot"}}])
        for raw in ("1e400", "1.0", "1e0", "-0.0", "0.5"):
            with self.subTest(slot=raw):
                reply = self.raw_exchange(
                    b'{"method": "io.taplinkd.Release", "parameters": {"slot": ' + raw.encode() + b'}}\0')
                self.assertEqual(reply, {"error": INVALID, "parameters": {"parameter": "slot"}})
        self.assertServed(acquire=True)
        self.assertDaemonClean()

    def test_release_slot_beyond_int64(self):
        """Varlink's int is int64: 2**64 is out of range, so InvalidParameter.
        (A NoSuchSlot would have to echo 18446744073709551616, which an int64
        cannot hold; the daemon must not answer about a different slot, as
        json-c's clamping to INT64_MAX/INT64_MIN makes it do.)"""
        s, fds = self.good.acquire()
        self.addCleanup(lambda: [os.close(fd) for fd in fds])
        for raw in ("18446744073709551616", "18446744073709551615", "9223372036854775808",
                    "-9223372036854775809", "99999999999999999999999"):
            with self.subTest(slot=raw):
                reply = self.raw_exchange(
                    b'{"method": "io.taplinkd.Release", "parameters": {"slot": ' + raw.encode() + b'}}\0')
                self.assertEqual(reply, {"error": INVALID, "parameters": {"parameter": "slot"}})
        self.assertIsNotNone(link(s["ifname"]))
        self.assertServed()

    def test_nan_and_infinity_are_not_json(self):
        """RFC 8259 has no NaN or Infinity: such a message is not JSON, and
        ends the connection (docs/DESIGN.md, "The wire protocol")."""
        for token in ("NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", "+1", "0x10", "01"):
            with self.subTest(token=token):
                reply = self.raw_exchange(
                    b'{"method": "io.taplinkd.Acquire", "parameters": {"mtu": ' + token.encode() + b'}}\0')
                self.assertIsNone(reply, "answered %r instead of disconnecting" % (reply,))
        for token in ("NaN", "Infinity"):
            with self.subTest(where="more", token=token):
                self.assertIsNone(self.raw_exchange(
                    b'{"method": "io.taplinkd.Status", "x": ' + token.encode() + b'}\0'))
        self.assertServed()
        self.assertDaemonClean()

    # ------------------------------------------------------------ structure

    def test_deep_nesting(self):
        """Nesting deeper than 32 ends the connection (json-c refuses it
        without recursing); within 32 the call is answered."""
        # 33 levels in all, as arrays and as objects.
        for data in (b'{"method": "io.taplinkd.Status", "parameters": {"a": ' + b"[" * 31 + b"]" * 31 + b"}}\0",
                     b'{"method": "io.taplinkd.Status", "parameters": ' + b'{"a": ' * 32 + b"1" + b"}" * 32 + b"}\0",
                     b"[" * 60000 + b"\0",
                     b'{"a": ' * 10000 + b"\0",
                     b'{"method": "io.taplinkd.Status", "x": ' + b"[" * 50000 + b"\0"):
            with self.subTest(data=data[:60]):
                self.assertIsNone(self.raw_exchange(data))
                self.assertServed(samples=1)
        reply = self.raw_exchange(
            b'{"method": "io.taplinkd.Status", "parameters": {"a": ' + b"[" * 30 + b"]" * 30 + b"}}\0")
        self.assertEqual(reply, {"error": INVALID, "parameters": {"parameter": "a"}})
        self.assertDaemonClean()

    def test_duplicate_keys_last_wins(self):
        cases = [
            (b'{"method": "io.taplinkd.Acquire", "method": "io.taplinkd.Nope"}\0',
             {"error": METHOD_NOT_FOUND, "parameters": {"method": "io.taplinkd.Nope"}}),
            (b'{"method": "io.taplinkd.Acquire", "parameters": {"label": "ok", "label": "not ok"}}\0',
             {"error": INVALID, "parameters": {"parameter": "label"}}),
            (b'{"method": "io.taplinkd.Acquire", "parameters": {"mtu": "x"}, "parameters": {"mtu": 99999}}\0',
             {"error": INVALID, "parameters": {"parameter": "mtu"}}),
            (b'{"method": "io.taplinkd.Release", "parameters": {"slot": 0, "slot": "0"}}\0',
             {"error": INVALID, "parameters": {"parameter": "slot"}}),
            (b'{"method": "io.taplinkd.Status", "oneway": true, "oneway": false}\0', "status"),
        ]
        for data, want in cases:
            with self.subTest(data=data):
                reply = self.raw_exchange(data)
                if want == "status":
                    self.assertIn("slotsInUse", reply["parameters"])
                else:
                    self.assertEqual(reply, want)
        # The last of two labels is the one the device gets.
        c = self.client()
        c.send_raw(b'{"method": "io.taplinkd.Acquire", "parameters": {"label": "first", "label": "second"}}\0')
        reply, fds = c.recv()
        self.assertEqual(reply["parameters"]["slot"]["label"], "second")
        self.assertEqual(link(reply["parameters"]["slot"]["ifname"]).get("ifalias"), "second")
        for fd in fds:
            os.close(fd)
        c.close()
        self.assertServed()
        self.assertDaemonClean()

    def test_invalid_utf8_disconnects(self):
        bad = {
            "0xff": b"\xff", "0xfe": b"\xfe", "lone continuation": b"\x80",
            "overlong NUL": b"\xc0\x80", "overlong slash": b"\xe0\x80\xaf",
            "surrogate": b"\xed\xa0\x80", "beyond U+10FFFF": b"\xf4\x90\x80\x80",
            "5-byte form": b"\xf8\x88\x80\x80\x80", "truncated": b"\xe2\x82",
            "latin-1": b"caf\xe9",
        }
        for name, seq in bad.items():
            for where, data in (
                    ("method", b'{"method": "io.taplinkd.Nope' + seq + b'"}\0'),
                    ("label", b'{"method": "io.taplinkd.Acquire", "parameters": {"label": "a' + seq + b'"}}\0'),
                    ("key", b'{"method": "io.taplinkd.Status", "k' + seq + b'": 1}\0'),
                    ("outside strings", b'{"method": "io.taplinkd.Status"}' + seq + b"\0")):
                with self.subTest(seq=name, where=where):
                    self.assertIsNone(self.raw_exchange(data))
        self.assertServed()
        # Valid JSON escapes that are not characters come back as U+FFFD:
        # the reply is valid UTF-8 (raw_exchange decodes it strictly).
        reply = self.raw_exchange(b'{"method": "io.taplinkd.N\\ud800x"}\0')
        self.assertEqual(reply["error"], METHOD_NOT_FOUND)
        self.assertTrue(reply["parameters"]["method"].startswith("io.taplinkd.N"))
        reply = self.raw_exchange(b'{"method": "io.taplinkd.Acquire", "parameters": {"label": "\\udfff"}}\0')
        self.assertEqual(reply, {"error": INVALID, "parameters": {"parameter": "label"}})
        # A NUL inside the name would make it a different C string.
        self.assertIsNone(self.raw_exchange(b'{"method": "io.taplinkd.Status\\u0000x"}\0'))
        self.assertEqual(links_with_prefix(self.d.prefix), [])
        self.assertDaemonClean()

    def test_overlong_label(self):
        for label in ("x" * 65, "x" * 4096, "x" * 65000, "\u00e9" * 64):
            with self.subTest(length=len(label)):
                reply = self.raw_exchange(frame({"method": "io.taplinkd.Acquire", "parameters": {"label": label}}))
                self.assertEqual(reply, {"error": INVALID, "parameters": {"parameter": "label"}})
        # Past the 64 KiB message bound: the connection ends.
        self.assertIsNone(self.raw_exchange(frame({"method": "io.taplinkd.Acquire",
                                                   "parameters": {"label": "x" * 65536}})))
        s, fds = self.good.acquire(label="x" * 64)
        self.assertEqual(link(s["ifname"]).get("ifalias"), "x" * 64)
        for fd in fds:
            os.close(fd)
        self.assertServed()
        self.assertDaemonClean()

    def test_method_name_of_64k(self):
        """The bound is 64 KiB per message, NUL excluded: a message of
        exactly 65,536 bytes is answered, one byte more ends the
        connection, and so does a 64 KiB method name."""
        def message(total):
            head, tail = b'{"method": "io.taplinkd.', b'"}'
            return head + b"M" * (total - len(head) - len(tail)) + tail

        reply = self.raw_exchange(message(65536) + b"\0")
        self.assertEqual(reply["error"], METHOD_NOT_FOUND)
        self.assertEqual(len(reply["parameters"]["method"]), 65536 - len(b'{"method": "') - 2)
        self.assertIsNone(self.raw_exchange(message(65537) + b"\0"))
        self.assertIsNone(self.raw_exchange(frame({"method": "io.taplinkd." + "M" * 65536})))
        # Never terminated: ended as soon as it passes the bound.
        c = self.client()
        try:
            c.send_raw(b'{"method": "' + b"M" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertDisconnected(c)
        self.assertServed()
        self.assertDaemonClean()

    # ------------------------------------------------------------ fds

    def _assert_pipe_end_dropped(self, keep, timeout=WAIT_TIMEOUT):
        """keep is our end of a pipe whose other end only the daemon held:
        EOF (read end) or EPIPE (write end) once the daemon closed it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if keep[1] == "r":
                    ready, _, _ = select.select([keep[0]], [], [], 0.05)
                    if ready and os.read(keep[0], 1) == b"":
                        return
                else:
                    os.write(keep[0], b"x")
            except BrokenPipeError:
                return
            except BlockingIOError:
                pass
            self.assertLess(time.monotonic(), deadline, "the daemon still holds the fd it was sent")

    def test_fds_from_client_are_closed(self):
        cases = [
            ("write end with a Status", STATUS, "w"),
            ("read end with a Status", STATUS, "r"),
            ("write end with half a message", b'{"method": "io.t', "w"),
            ("write end with an Acquire", frame({"method": "io.taplinkd.Acquire"}), "w"),
        ]
        for name, data, send_end in cases:
            with self.subTest(case=name):
                r, w = os.pipe()
                os.set_blocking(w, False)
                c = self.client()
                send_fds(c.sock, data, [w if send_end == "w" else r])
                if send_end == "w":
                    os.close(w)
                    keep = (r, "r")
                else:
                    os.close(r)
                    keep = (w, "w")
                self.assertDisconnected(c)
                self._assert_pipe_end_dropped(keep)
                os.close(keep[0])
                c.close()
        # The most one message can carry (SCM_MAX_FD): every copy goes.
        r, w = os.pipe()
        c = self.client()
        copies = [os.dup(w) for _ in range(253)]
        send_fds(c.sock, STATUS, copies)
        for fd in copies + [w]:
            os.close(fd)
        self.assertDisconnected(c)
        self._assert_pipe_end_dropped((r, "r"))
        os.close(r)
        # fds on a second message, behind an Acquire already in progress:
        # the connection ends and the Acquire's device with it.
        r, w = os.pipe()
        c = self.client()
        c.send({"method": "io.taplinkd.Acquire", "parameters": {"label": "behind"}})
        send_fds(c.sock, STATUS, [w])
        os.close(w)
        self._assert_pipe_end_dropped((r, "r"))
        os.close(r)
        try:
            reply, fds = c.recv()
            for fd in fds:  # it may have been answered before the fds came
                os.close(fd)
            self.assertDisconnected(c)
        except ConnectionError:
            pass
        c.close()
        self.assertServed()
        self.assertDaemonClean()

    # ------------------------------------------------------------ clients that die

    def test_client_killed_with_acquire_in_flight(self):
        """A client sends Acquire and is killed (SIGKILL) at once, a little
        later, or once the reply with its fds waits unread in its socket:
        every device goes, every element goes, no slot stays in use."""
        delays = [0, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, "reply"]
        pids = []
        for rnd in range(3):
            for delay in delays:
                for queues in (1, 4):
                    pids.append(fork_killed_client(self.d.socket, delay, queues))
            self.assertServed(samples=1)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            self.assertTrue(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status)
        self.assertServed(acquire=True)
        self.assertDaemonClean()
        log = self.d.log_text()
        self.assertNotIn("out of memory", log)

    def test_client_exits_holding_quota(self):
        """An allowed user grabs its whole quota (64) and asks for more, then
        exits without releasing: QuotaExceeded, and everything goes."""
        u = ClientProcess(self.d.socket, 1000)
        self.addCleanup(u.stop)
        for i in range(64):
            reply, nfds = u.call("io.taplinkd.Acquire", {"label": "q%d" % i})
            self.assertIn("parameters", reply, reply)
        reply, _ = u.call("io.taplinkd.Acquire", {})
        self.assertEqual(reply, {"error": "io.taplinkd.QuotaExceeded", "parameters": {"limit": 64}})
        self.assertServed(acquire=True)
        self.assertEqual(len(links_with_prefix(self.d.prefix)), 64)
        u.proc.kill()
        u.proc.wait()
        u.proc.stdin.close()
        self.assertDaemonClean()

    def test_release_storm(self):
        """Fifty connections release the same slot at once, each several
        times pipelined: each call is answered, {} or NoSuchSlot, and at
        least one {} (the device is gone when it comes)."""
        s, fds = self.good.acquire()
        conns = [self.client() for _ in range(50)]
        req = frame({"method": "io.taplinkd.Release", "parameters": {"slot": s["slot"]}}) * 4
        for c in conns:
            c.send_raw(req)
        self.assertServed()
        answers = []
        for c in conns:
            for _ in range(4):
                answers.append(c.recv()[0])
        ok = [a for a in answers if a == {"parameters": {}}]
        rest = [a for a in answers if a != {"parameters": {}}]
        self.assertGreaterEqual(len(ok), 1)
        for a in rest:
            self.assertEqual(a, {"error": "io.taplinkd.NoSuchSlot", "parameters": {"slot": s["slot"]}})
        self.assertIsNone(link(s["ifname"]))
        for fd in fds:
            os.close(fd)
        for c in conns:
            c.close()
        self.assertDaemonClean()

    # ------------------------------------------------------------ other uids

    def test_other_uid_cannot_touch_or_see_slots(self):
        owner = ClientProcess(self.d.socket, 1000)
        self.addCleanup(owner.stop)
        reply, _ = owner.call("io.taplinkd.Acquire", {"label": "secret-vm"})
        mine = reply["parameters"]["slot"]
        reply, _ = owner.call("io.taplinkd.Acquire", {"label": "secret-fc", "persistent": True})
        pers = reply["parameters"]["slot"]
        root_slot, root_fds = self.good.acquire(label="root-vm")
        self.addCleanup(lambda: [os.close(fd) for fd in root_fds])

        other = ClientProcess(self.d.socket, 1001)  # allowed, owns nothing
        self.addCleanup(other.stop)
        # Another's slot answers exactly as a slot that does not exist.
        for slot in (mine["slot"], pers["slot"], root_slot["slot"], 12345):
            reply, _ = other.call("io.taplinkd.Release", {"slot": slot})
            self.assertEqual(reply, {"error": "io.taplinkd.NoSuchSlot", "parameters": {"slot": slot}})
        for s in (mine, pers, root_slot):
            self.assertIsNotNone(link(s["ifname"]), "another uid's Release must not delete it")
        reply, _ = other.call("io.taplinkd.List", {})
        self.assertEqual(reply, {"parameters": {"slots": []}})
        reply, _ = other.call("io.taplinkd.Acquire", {"label": "mine"})
        theirs = reply["parameters"]["slot"]
        reply, _ = other.call("io.taplinkd.List", {})
        self.assertEqual([s["slot"] for s in reply["parameters"]["slots"]], [theirs["slot"]])
        self.assertNotIn("secret", json.dumps(reply))
        # Status: counts, nothing about anyone's slots.
        reply, _ = other.call("io.taplinkd.Status", {})
        self.assertEqual(set(reply["parameters"]), {"version", "slotsInUse", "maxSlots", "guestServicesDropped"})
        self.assertEqual(reply["parameters"]["slotsInUse"], 4)

        stranger = ClientProcess(self.d.socket, 4000)  # not allowed at all
        self.addCleanup(stranger.stop)
        for method, params in (("io.taplinkd.Release", {"slot": mine["slot"]}), ("io.taplinkd.List", {}),
                               ("io.taplinkd.Acquire", {})):
            reply, _ = stranger.call(method, params)
            self.assertEqual(reply, {"error": "io.taplinkd.PermissionDenied", "parameters": {}}, method)
        reply, _ = stranger.call("io.taplinkd.Status", {})
        self.assertEqual(set(reply["parameters"]), {"version", "slotsInUse", "maxSlots", "guestServicesDropped"})
        reply, _ = stranger.call("org.varlink.service.GetInfo", {})
        self.assertNotIn("secret", json.dumps(reply))
        # The owner still has both, and the right to release them.
        reply, _ = owner.call("io.taplinkd.List", {})
        self.assertEqual(sorted(s["slot"] for s in reply["parameters"]["slots"]),
                         sorted([mine["slot"], pers["slot"]]))
        reply, _ = owner.call("io.taplinkd.Release", {"slot": pers["slot"]})
        self.assertEqual(reply, {"parameters": {}})
        self.assertServed()
        for p in (owner, other, stranger):
            p.stop()
        for fd in root_fds:
            os.close(fd)
        root_fds.clear()
        self.assertDaemonClean()


# Opens argv[2] connections to argv[1] and keeps them until stdin closes.
FLOOD = r'''
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
print("open %d" % len(socks), flush=True)
sys.stdin.read()
'''

def fork_killed_client(path, delay, queues):
    """A child process that sends an Acquire and is SIGKILLed: after delay
    seconds, or (delay "reply") once the reply and its fds wait unread in
    its socket. A fork, not a new interpreter: cheap enough not to disturb
    the latency being measured. Returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(frame({"method": "io.taplinkd.Acquire", "parameters": {"queues": queues, "label": "killed"}}))
        if delay == "reply":
            select.select([s], [], [], 5)
        elif delay:
            time.sleep(delay)
        os.kill(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


if __name__ == "__main__":
    unittest.main()
