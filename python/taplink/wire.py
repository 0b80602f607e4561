# SPDX-License-Identifier: MIT
"""Varlink framing with fd passing: one JSON object, then a NUL
(docs/DESIGN.md "The wire protocol"). Knows nothing of methods.

A reply's fds arrive as SCM_RIGHTS on the recvmsg that returns the reply's
first byte, and the kernel ends a read right after the bytes that came with
fds. So one read may hold the tail of one reply, whole replies, and the
start of the reply the fds belong to: the last reply that starts in that
read. Fds in a read where no reply starts match nothing, and break the
stream."""

import array
import errno
import json
import os
import socket

from .errors import ProtocolError

# A List of 10,000 slots is a few MB of JSON; anything past this is not a
# reply taplinkd would send, and must not make the client eat memory (the
# bound libtaplink has, src/lib/taplink-private.h).
MAX_MESSAGE = 64 * 1024 * 1024
# SCM_MAX_FD: the kernel never passes more in one message.
MAX_FDS = 253
READ_CHUNK = 64 * 1024


def close_fds(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class FrameParser:
    """Splits a byte stream into (message bytes, fds) frames. Pure: fed by
    feed(), so that tests can hand it any split of any input. A feed() that
    raises has closed what it was given, and the parser is of no further use."""

    def __init__(self, max_message=MAX_MESSAGE, max_fds=MAX_FDS):
        self.max_message = max_message
        self.max_fds = max_fds
        self._partial = bytearray()
        self._partial_fds = []
        self._frames = []

    def feed(self, data, fds=()):
        fds = list(fds)
        try:
            self._feed(data, fds)
        except ProtocolError:
            close_fds(fds)
            self.close()
            raise

    def _feed(self, data, fds):
        # Where messages start in data; the fds belong to the last of them.
        starts = [] if self._partial else [0]
        pos = data.find(b"\0")
        while 0 <= pos < len(data) - 1:
            starts.append(pos + 1)
            pos = data.find(b"\0", pos + 1)
        owner = starts[-1] if starts else None
        if fds and owner is None:
            raise ProtocolError("file descriptors in the middle of a message")
        if len(fds) > self.max_fds:
            raise ProtocolError("%d file descriptors with one message" % len(fds))

        pos = 0
        while pos < len(data):
            if pos == owner and fds:
                # Moved, not copied: feed() closes what is left in fds.
                self._partial_fds = fds[:]
                fds.clear()
            end = data.find(b"\0", pos)
            if end < 0:
                self._append(data[pos:])
                break
            self._append(data[pos:end])
            self._frames.append((bytes(self._partial), self._partial_fds))
            self._partial, self._partial_fds = bytearray(), []
            pos = end + 1

    def _append(self, chunk):
        if len(self._partial) + len(chunk) > self.max_message:
            raise ProtocolError("reply larger than %d bytes" % self.max_message, errno.EMSGSIZE)
        self._partial += chunk

    def next(self):
        """The oldest complete frame, or None. Its fds are the caller's."""
        return self._frames.pop(0) if self._frames else None

    def pending(self):
        """True when bytes or frames are buffered."""
        return bool(self._frames or self._partial)

    def close(self):
        """Closes every fd still held, of complete frames and of the partial one."""
        for _, fds in self._frames:
            close_fds(fds)
        close_fds(self._partial_fds)
        self._frames, self._partial, self._partial_fds = [], bytearray(), []


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def decode_message(raw):
    """A frame's bytes as a dict: strict UTF-8, strict JSON (no NaN or
    Infinity), an object. Anything else is a ProtocolError."""
    try:
        message = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProtocolError("malformed reply: not JSON (%s)" % e) from None
    if not isinstance(message, dict):
        raise ProtocolError("malformed reply: not a JSON object")
    return message


def _fds_of(ancdata):
    fds = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[: len(data) - len(data) % a.itemsize])
            fds.extend(a)
    return fds


class Connection:
    """One Unix stream socket to the daemon. send() a message, receive() the
    next one with its fds. Any OSError leaves it broken: every further call
    fails with ENOTCONN, as the stream can no longer be matched to calls."""

    def __init__(self, path, timeout=None, max_message=MAX_MESSAGE, sock=None):
        """sock: a connected stream socket to take over instead of
        connecting to path (which then only names it in messages)."""
        self.path = path
        self.sock = sock or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.settimeout(timeout)
            if sock is None:
                self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.parser = FrameParser(max_message)
        self.broken = False

    def close(self):
        self.broken = True
        self.parser.close()
        self.sock.close()

    def _check(self):
        if self.broken:
            raise OSError(errno.ENOTCONN, "connection to taplinkd %s is no longer usable" % self.path)

    def send(self, message):
        self._check()
        data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\0"
        try:
            # Python ignores SIGPIPE: a daemon gone is a BrokenPipeError.
            self.sock.sendall(data)
        except OSError:
            self.broken = True
            raise

    def receive(self, resumable=False):
        """The next message (a dict) and its fds, which are the caller's.
        resumable: a timeout leaves the connection usable (what arrived
        stays buffered); for a stream of replies, not for a call, whose
        late reply would be taken for the next call's."""
        self._check()
        try:
            frame = self.parser.next()
            while frame is None:
                self._read()
                frame = self.parser.next()
        except TimeoutError:
            if not resumable:
                self.broken = True
            raise
        except OSError:
            self.broken = True
            raise
        raw, fds = frame
        try:
            return decode_message(raw), fds
        except ProtocolError:
            close_fds(fds)
            self.broken = True
            raise

    def _read(self):
        data, ancdata, flags, _ = self.sock.recvmsg(
            READ_CHUNK, socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize), socket.MSG_CMSG_CLOEXEC)
        fds = _fds_of(ancdata)
        if flags & socket.MSG_CTRUNC:
            # Some fds were lost (RLIMIT_NOFILE): the reply cannot be what it says.
            close_fds(fds)
            raise ProtocolError("file descriptors lost in transit (MSG_CTRUNC)")
        if not data:
            close_fds(fds)
            raise ConnectionResetError(errno.ECONNRESET, "taplinkd closed the connection %s" % self.path)
        self.parser.feed(data, fds)
