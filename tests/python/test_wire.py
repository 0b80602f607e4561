# SPDX-License-Identifier: MIT
"""python/taplink's framing and reply handling, without a daemon: the
parser fed odd splits of odd input, and the client against a fake server on
a socketpair (canned replies, fds, malformed and oversized replies). Run by
`make check-python`, or: python3 -m unittest -v tests/python/test_wire.py"""

import array
import errno
import json
import os
import pickle
import resource
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "python"))
import taplink  # noqa: E402
from taplink.wire import FrameParser, decode_message  # noqa: E402

SLOT = {"slot": 7, "ifname": "tl7", "label": "vm-42", "ownerUid": 1000, "mac": "02:74:6c:00:00:07",
        "mtu": 1500, "queues": 1, "vnetHeader": True, "persistent": False,
        "ipv4": {"subnet": "10.213.0.28", "gateway": "10.213.0.29", "guest": "10.213.0.30", "prefixLength": 30},
        "ipv6": {"subnet": "fd74:6c00:0:7::", "gateway": "fd74:6c00:0:7::1", "guest": "fd74:6c00:0:7::2",
                 "prefixLength": 64},
        "kernelIpArg": "ip=10.213.0.30::10.213.0.29:255.255.255.252::eth0:off"}


def frame(obj):
    return json.dumps(obj).encode() + b"\0"


def open_fds():
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def pipe_fds(n):
    """n fresh fds (read ends of pipes; the write ends are closed)."""
    fds = []
    for _ in range(n):
        r, w = os.pipe()
        os.close(w)
        fds.append(r)
    return fds


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


class FrameParserTest(unittest.TestCase):
    def drain(self, parser):
        out = []
        while (f := parser.next()) is not None:
            out.append(f)
        return out

    def test_a_reply_split_at_every_byte(self):
        data = frame({"parameters": {"a": 1}}) + frame({"parameters": {"b": 2}})
        for cut in range(1, len(data)):
            p = FrameParser()
            p.feed(data[:cut])
            p.feed(data[cut:])
            self.assertEqual([decode_message(m) for m, _ in self.drain(p)],
                             [{"parameters": {"a": 1}}, {"parameters": {"b": 2}}], cut)
            self.assertFalse(p.pending())

    def test_byte_by_byte(self):
        p = FrameParser()
        for b in frame({"x": "y"}):
            self.assertIsNone(p.next())
            p.feed(bytes([b]))
        self.assertEqual(self.drain(p), [(b'{"x": "y"}', [])])

    def test_two_replies_and_a_start_in_one_read(self):
        p = FrameParser()
        p.feed(b'{"a":1}\0{"b":2}\0{"c"')
        self.assertEqual(self.drain(p), [(b'{"a":1}', []), (b'{"b":2}', [])])
        self.assertTrue(p.pending())
        p.feed(b':3}\0')
        self.assertEqual(self.drain(p), [(b'{"c":3}', [])])

    def test_fds_belong_to_the_last_reply_that_starts_in_the_read(self):
        p = FrameParser()
        p.feed(b'{"a"')
        p.feed(b':1}\0{"b":2}\0{"c":', [10, 11])
        p.feed(b'3}\0')
        self.assertEqual(self.drain(p), [(b'{"a":1}', []), (b'{"b":2}', []), (b'{"c":3}', [10, 11])])

    def test_fds_with_a_whole_reply(self):
        p = FrameParser()
        p.feed(b'{"a":1}\0', [5])
        p.feed(b'{"b":2}\0')
        self.assertEqual(self.drain(p), [(b'{"a":1}', [5]), (b'{"b":2}', [])])

    def test_fds_in_the_middle_of_a_reply_are_closed(self):
        fds = pipe_fds(2)
        held = pipe_fds(1)
        p = FrameParser()
        p.feed(b'{"a":1}\0{"b"', held)
        with self.assertRaises(taplink.ProtocolError) as e:
            p.feed(b':2}\0', fds)
        self.assertEqual(e.exception.errno, errno.EBADMSG)
        self.assertFalse(any(is_open(fd) for fd in fds + held))

    def test_too_many_fds(self):
        fds = pipe_fds(3)
        p = FrameParser(max_fds=2)
        with self.assertRaises(taplink.ProtocolError):
            p.feed(b'{}\0', fds)
        self.assertFalse(any(is_open(fd) for fd in fds))

    def test_a_reply_too_large(self):
        p = FrameParser(max_message=100)
        p.feed(b"x" * 100)
        with self.assertRaises(taplink.ProtocolError) as e:
            p.feed(b"x")
        self.assertEqual(e.exception.errno, errno.EMSGSIZE)
        # exactly at the bound is fine
        p = FrameParser(max_message=100)
        p.feed(b"{" + b" " * 98 + b"}\0")
        self.assertEqual(len(p.next()[0]), 100)

    def test_a_reply_too_large_with_fds_closes_them(self):
        fds = pipe_fds(1)
        p = FrameParser(max_message=10)
        with self.assertRaises(taplink.ProtocolError):
            p.feed(b"{" * 20, fds)
        self.assertFalse(is_open(fds[0]))

    def test_close_closes_what_is_held(self):
        a, b = pipe_fds(2)
        p = FrameParser()
        p.feed(b'{}\0', [a])
        p.feed(b'{', [b])
        p.close()
        self.assertFalse(is_open(a) or is_open(b))
        self.assertFalse(p.pending())


class DecodeTest(unittest.TestCase):
    def test_malformed(self):
        for raw in (b"", b"{", b"[]", b"1", b'"x"', b"null", b'{"a": NaN}', b'{"a": Infinity}',
                    b'{"a": 1} x', b'{"a": "\xff"}', b'{"a": "\xc0\x80"}', b"[" * 100000 + b"]" * 100000):
            with self.subTest(raw=raw[:20]):
                with self.assertRaises(taplink.ProtocolError):
                    decode_message(raw)

    def test_good(self):
        self.assertEqual(decode_message('{"a": "\u00e9", "b": [1, 2.5, null]}'.encode()),
                         {"a": "\u00e9", "b": [1, 2.5, None]})


class FakeServer:
    """The daemon's end of a socketpair, run in a thread by a script of
    steps: ("recv",) reads one request; ("send", bytes[, fds]) is one
    sendmsg; ("sleep", s); ("close",)."""

    def __init__(self, test, script, timeout=5.0, client_class=taplink.Client):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.requests = []
        self.script = script
        self.client = client_class(timeout=timeout, sock=theirs)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def run(self):
        try:
            self.play()
        except OSError:
            pass  # the client went away first, which some tests want

    def play(self):
        buf = b""
        for step in self.script:
            if step[0] == "recv":
                while b"\0" not in buf:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                msg, buf = buf.split(b"\0", 1)
                self.requests.append(json.loads(msg))
            elif step[0] == "send":
                anc = []
                if len(step) > 2 and step[2]:
                    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", step[2]))]
                self.sock.sendmsg([step[1]], anc)
            elif step[0] == "sleep":
                time.sleep(step[1])
            elif step[0] == "close":
                self.sock.close()
                return

    def stop(self):
        self.client.close()
        self.thread.join(10)
        self.sock.close()


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.fds_before = open_fds()

    def assertNoFdLeak(self, *extra_open):
        self.assertEqual(open_fds(), sorted(self.fds_before + list(extra_open)))

    def finish(self, server, fds):
        """Ends the exchange, closes the fds the server sent (its copies),
        and checks that the client kept none."""
        server.stop()
        for fd in fds:
            os.close(fd)
        self.assertNoFdLeak()

    def serve(self, *script, **kw):
        return FakeServer(self, list(script), **kw)

    def test_status_split_across_reads(self):
        status = {"version": "0.1.0", "slotsInUse": 2, "maxSlots": 16384, "guestServicesDropped": 0}
        data = frame({"parameters": status})
        s = self.serve(("recv",), ("send", data[:9]), ("sleep", 0.05), ("send", data[9:-1]),
                       ("sleep", 0.05), ("send", b"\0"))
        got = s.client.status()
        self.assertEqual((got.version, got.slots_in_use, got.max_slots), ("0.1.0", 2, 16384))
        self.assertEqual(s.requests, [{"method": "io.taplinkd.Status", "parameters": {}}])

    def test_acquire_request_and_fds_in_queue_order(self):
        fds = pipe_fds(3)
        inodes = [os.fstat(fd).st_ino for fd in fds]
        slot = dict(SLOT, queues=2)
        # Spaces make the reply span several reads; the fds come with the first.
        reply = b'{"parameters": {"slot": %s, "fileDescriptors": [2, 0]}%s}\0' % (
            json.dumps(slot).encode(), b" " * 200000)
        s = self.serve(("recv",), ("send", reply, fds))
        got = s.client.acquire(label="vm-42", vnet_header=False, queues=2, egress="none", allow_list=[])
        s.stop()
        for fd in fds:
            os.close(fd)
        self.assertEqual(s.requests[0], {"method": "io.taplinkd.Acquire", "parameters": {
            "label": "vm-42", "vnetHeader": False, "queues": 2, "egress": "none", "allowList": []}})
        self.assertEqual([os.fstat(fd).st_ino for fd in got.fds], [inodes[2], inodes[0]])
        self.assertFalse(any(os.get_inheritable(fd) for fd in got.fds))
        self.assertEqual((got.slot, got.ifname, got.ipv4.guest, got.ipv6.gateway, got.kernel_ip_arg),
                         (7, "tl7", "10.213.0.30", "fd74:6c00:0:7::1", SLOT["kernelIpArg"]))
        # The fd fileDescriptors did not name is closed.
        self.assertNoFdLeak(*got.fds)
        got.close()
        self.assertEqual(got.fds, [])
        self.assertNoFdLeak()

    def test_clone_slot(self):
        clone = {"netns": "/run/netns/tl7", "tapName": "tap0", "guest": "169.254.0.21",
                 "gateway": "169.254.0.22", "prefixLength": 30}
        fds = pipe_fds(1)
        reply = b'{"parameters": {"slot": %s, "fileDescriptors": [0]}}\0' % json.dumps(
            dict(SLOT, ipv6=None, clone=clone)).encode()
        s = self.serve(("recv",), ("send", reply, fds))
        got = s.client.acquire(clone=True, persistent=True)
        s.stop()
        os.close(fds[0])
        self.assertEqual(s.requests[0]["parameters"], {"clone": True, "persistent": True})
        self.assertEqual(got.clone, taplink.Clone("/run/netns/tl7", "tap0", "169.254.0.21", "169.254.0.22", 30))
        self.assertIsNone(got.ipv6)
        got.close()
        self.assertIsNone(taplink.Slot.from_json(dict(SLOT, clone=None)).clone)
        self.assertIsNone(taplink.Slot.from_json(SLOT).clone)
        with self.assertRaises(taplink.ProtocolError):
            taplink.Slot.from_json(dict(SLOT, clone=dict(clone, prefixLength="30")))

    def test_acquire_with_bad_fd_indexes_closes_every_fd(self):
        cases = [([0, 0], 2), ([0], 2), ([0, 2], 2), ([0, -1], 2), ([0, True], 2), ("0", 2), (None, 1),
                 ([0, 1], 1)]
        for indexes, queues in cases:
            with self.subTest(indexes=indexes, queues=queues):
                fds = pipe_fds(2)
                reply = {"parameters": {"slot": dict(SLOT, queues=queues), "fileDescriptors": indexes}}
                s = self.serve(("recv",), ("send", frame(reply), fds))
                with self.assertRaises(taplink.ProtocolError):
                    s.client.acquire()
                self.finish(s, fds)

    def test_acquire_with_a_malformed_slot_closes_its_fds(self):
        for key, value in (("slot", "7"), ("vnetHeader", 1), ("ipv4", None), ("mtu", True), ("ifname", None)):
            with self.subTest(key=key):
                fds = pipe_fds(1)
                reply = {"parameters": {"slot": dict(SLOT, **{key: value}), "fileDescriptors": [0]}}
                s = self.serve(("recv",), ("send", frame(reply), fds))
                with self.assertRaises(taplink.ProtocolError):
                    s.client.acquire()
                self.finish(s, fds)

    def test_error_replies(self):
        cases = [
            ({"error": "io.taplinkd.QuotaExceeded", "parameters": {"limit": 64}}, taplink.QuotaExceeded,
             {"limit": 64}),
            ({"error": "io.taplinkd.KernelError", "parameters": {"operation": "TUNSETIFF", "errno": 16}},
             taplink.KernelError, {"operation": "TUNSETIFF", "errno": 16}),
            ({"error": "io.taplinkd.NoSlotAvailable"}, taplink.NoSlotAvailable, {}),
            ({"error": "io.taplinkd.PortInUse", "parameters": {"protocol": "tcp", "hostPort": 20000}},
             taplink.PortInUse, {"protocol": "tcp", "host_port": 20000}),
            ({"error": "org.varlink.service.ExpectedMore", "parameters": None}, taplink.ExpectedMore, {}),
            ({"error": "org.varlink.service.PermissionDenied"}, taplink.PermissionDenied, {}),
            ({"error": "io.taplinkd.SomethingNew", "parameters": {"x": 1}}, taplink.TaplinkError, {}),
        ]
        for reply, cls, attrs in cases:
            with self.subTest(error=reply["error"]):
                # An error reply's fds are closed.
                fds = pipe_fds(1)
                s = self.serve(("recv",), ("send", frame(reply), fds), ("recv",),
                               ("send", frame({"parameters": {"slots": []}})))
                with self.assertRaises(cls) as e:
                    s.client.acquire()
                self.assertIs(type(e.exception), cls)
                self.assertEqual(e.exception.name, reply["error"])
                self.assertEqual(e.exception.parameters, reply.get("parameters") or {})
                for attr, value in attrs.items():
                    self.assertEqual(getattr(e.exception, attr), value)
                # ... and the connection goes on.
                self.assertEqual(s.client.list(), [])
                self.finish(s, fds)
        e = pickle.loads(pickle.dumps(taplink.QuotaExceeded("io.taplinkd.QuotaExceeded", {"limit": 3})))
        self.assertEqual((type(e), e.name, e.limit), (taplink.QuotaExceeded, "io.taplinkd.QuotaExceeded", 3))
        self.assertIn("Device or resource busy",
                      str(taplink.KernelError("io.taplinkd.KernelError", {"operation": "x", "errno": 16})))

    def test_malformed_replies_break_the_connection(self):
        bad = [b"not json\0", b"[1]\0", b'{"parameters": 1}\0', b'{"error": 5}\0', b'{"error": ""}\0',
               b'{"parameters": {}, "continues": true}\0', b'{"parameters": {}, "continues": "no"}\0',
               b'{"parameters": {}}\0{"parameters": {}}\0', b'{"parameters": {"a": NaN}}\0',
               b'{"parameters": {"slots": "none"}}\0', b'{"parameters": {"slots": [{"slot": 1}]}}\0']
        for data in bad:
            with self.subTest(data=data):
                s = self.serve(("recv",), ("send", data))
                with self.assertRaises(taplink.ProtocolError):
                    s.client.list()
                s.stop()
        # A broken frame or envelope leaves the stream out of step ...
        for data in (b"{oops}\0", b'{"parameters": {}, "continues": true}\0'):
            s = self.serve(("recv",), ("send", data), ("recv",), ("send", frame({"parameters": {}})))
            with self.assertRaises(taplink.ProtocolError):
                s.client.status()
            with self.assertRaises(OSError) as e:
                s.client.status()
            self.assertEqual(e.exception.errno, errno.ENOTCONN)
            s.stop()
        # ... a wrong slot in a good reply does not.
        s = self.serve(("recv",), ("send", frame({"parameters": {"slots": [{"slot": 1}]}})), ("recv",),
                       ("send", frame({"parameters": {"slots": []}})))
        with self.assertRaises(taplink.ProtocolError):
            s.client.list()
        self.assertEqual(s.client.list(), [])

    def test_a_reply_too_large_is_an_error_not_a_hang(self):
        s = self.serve(("recv",), ("send", b"{" + b" " * 300000))
        s.client._conn.parser.max_message = 100000
        with self.assertRaises(taplink.ProtocolError) as e:
            s.client.status()
        self.assertEqual(e.exception.errno, errno.EMSGSIZE)

    def test_daemon_closes_mid_reply(self):
        fds = pipe_fds(1)
        s = self.serve(("recv",), ("send", b'{"parameters"', fds), ("close",))
        with self.assertRaises(ConnectionResetError):
            s.client.status()
        self.finish(s, fds)

    def test_a_call_timeout_breaks_the_connection(self):
        s = self.serve(("recv",), ("sleep", 1.0), ("send", frame({"parameters": {}})), timeout=0.1)
        with self.assertRaises(TimeoutError):
            s.client.status()
        with self.assertRaises(OSError) as e:
            s.client.status()
        self.assertEqual(e.exception.errno, errno.ENOTCONN)

    def test_fds_lost_to_the_fd_limit(self):
        """MSG_CTRUNC (RLIMIT_NOFILE reached on receive): an error, and the
        fds that did arrive are closed."""
        fds = pipe_fds(4)
        reply = {"parameters": {"slot": dict(SLOT, queues=4), "fileDescriptors": [0, 1, 2, 3]}}
        s = self.serve(("recv",), ("send", frame(reply), fds))
        # A limit with room for two new fds, below which every other is taken.
        taken, limit, room = set(open_fds()), 0, 0
        while room < 2:
            room += limit not in taken
            limit += 1
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        try:
            with self.assertRaisesRegex(taplink.ProtocolError, "MSG_CTRUNC"):
                s.client.acquire()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.finish(s, fds)

    def test_monitor_stream(self):
        events = [{"parameters": {"event": "existing", "slot": SLOT}, "continues": True},
                  {"parameters": {"event": "synced"}, "continues": True},
                  {"parameters": {"event": "released", "slot": SLOT, "reason": "vmm-exited"},
                   "continues": True},
                  {"parameters": {"event": "acquired", "slot": dict(SLOT, slot=8)}}]
        data = b"".join(frame(e) for e in events)
        s = self.serve(("recv",), ("send", data[:-40]), ("sleep", 1.0), ("send", data[-40:]),
                       timeout=0.1, client_class=taplink.Monitor)
        got = [next(s.client), next(s.client), next(s.client)]
        # Waiting for the rest times out, and the stream goes on after.
        with self.assertRaises(TimeoutError):
            next(s.client)
        s.client._conn.sock.settimeout(5)
        got += list(s.client)
        self.assertEqual(s.requests, [{"method": "io.taplinkd.Monitor", "parameters": {}, "more": True}])
        self.assertEqual([(e.event, e.slot and e.slot.slot, e.reason) for e in got],
                         [("existing", 7, None), ("synced", None, None), ("released", 7, "vmm-exited"),
                          ("acquired", 8, None)])
        self.assertEqual(got[0].slot.ipv4.gateway, "10.213.0.29")

    def test_monitor_error_and_fds(self):
        s = self.serve(("recv",), ("send", frame({"error": "org.varlink.service.MethodNotFound",
                                                  "parameters": {"method": "io.taplinkd.Monitor"}})),
                       client_class=taplink.Monitor)
        with self.assertRaises(taplink.MethodNotFound) as e:
            next(s.client)
        self.assertEqual(e.exception.method, "io.taplinkd.Monitor")
        self.assertEqual(list(s.client), [])
        s.stop()
        fds = pipe_fds(1)
        s = self.serve(("recv",), ("send", frame({"parameters": {"event": "synced"}, "continues": True}), fds),
                       client_class=taplink.Monitor)
        with self.assertRaises(taplink.ProtocolError):
            next(s.client)
        self.finish(s, fds)

    def test_socket_path(self):
        env = dict(os.environ)
        try:
            os.environ["TAPLINK_SOCKET"] = "/tmp/x.sock"
            self.assertEqual(taplink.socket_path(), "/tmp/x.sock")
            self.assertEqual(taplink.socket_path("/y"), "/y")
            os.environ["TAPLINK_SOCKET"] = ""
            self.assertEqual(taplink.socket_path(), "/run/taplinkd/io.taplinkd")
            del os.environ["TAPLINK_SOCKET"]
            self.assertEqual(taplink.socket_path(), "/run/taplinkd/io.taplinkd")
        finally:
            os.environ.clear()
            os.environ.update(env)


if __name__ == "__main__":
    unittest.main()
