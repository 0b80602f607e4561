# SPDX-License-Identifier: MIT
"""The io.taplinkd calls (docs/io.taplinkd.varlink) over one connection, one
call at a time, and Monitor's stream over a connection of its own."""

import os

from .errors import ProtocolError, camel_case, error_from_reply
from .objects import Event, Info, Slot, Status, _get
from .wire import Connection, close_fds

DEFAULT_SOCKET = "/run/taplinkd/io.taplinkd"
SOCKET_ENV = "TAPLINK_SOCKET"


def socket_path(path=None):
    """The socket as libtaplink picks it: path, else $TAPLINK_SOCKET, else
    /run/taplinkd/io.taplinkd."""
    if path:
        return os.fspath(path)
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def _connection_name(path, sock):
    """The path a connection is known by: with a socket handed over, path
    or the socket's peer, else the path to connect to."""
    if sock is None:
        return socket_path(path)
    try:
        return path or sock.getpeername()
    except OSError:
        return ""


def _reply_parameters(reply, more=False):
    """A reply's parameters (a dict), or its error raised as TaplinkError."""
    error = reply.get("error")
    parameters = reply.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ProtocolError("malformed reply: \"parameters\" is not an object")
    if error is not None:
        if not isinstance(error, str) or not error:
            raise ProtocolError("malformed reply: \"error\" is not a name")
        raise error_from_reply(error, parameters)
    continues = reply.get("continues", False)
    if not isinstance(continues, bool) or (continues and not more):
        raise ProtocolError("malformed reply: unexpected \"continues\"")
    return parameters


def _take_queue_fds(indexes, fds, queues):
    """The fds fileDescriptors names, in queue order; the others are closed.
    Raises (and closes nothing) unless every index names a distinct
    received fd, one per queue."""
    if not isinstance(indexes, list) or len(indexes) != queues:
        raise ProtocolError("malformed reply: fileDescriptors is not one index per queue (%d)" % queues)
    for i, index in enumerate(indexes):
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(fds):
            raise ProtocolError("malformed reply: fileDescriptors[%d] = %r but %d file descriptors came"
                                % (i, index, len(fds)))
    if len(set(indexes)) != len(indexes):
        raise ProtocolError("malformed reply: fileDescriptors names one descriptor twice")
    close_fds(fd for i, fd in enumerate(fds) if i not in indexes)
    return [fds[i] for i in indexes]


class Client:
    """A connection to taplinkd. Calls block (timeout: seconds, None for
    ever). A Varlink error raises its TaplinkError subclass and leaves the
    connection usable. After an OSError (daemon gone, timeout, a reply that
    is not a reply) further calls raise ENOTCONN; only a ProtocolError about
    a reply's content (a Slot's field, fileDescriptors) leaves it usable."""

    def __init__(self, path=None, timeout=None, sock=None):
        """sock: a connected socket to use (and own) instead of path."""
        self.path = _connection_name(path, sock)
        self.timeout = timeout
        self._conn = Connection(self.path, timeout, sock=sock)

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, method, parameters=None):
        """Any method by its full name, for what this class has no wrapper
        for yet: returns (reply parameters, fds). The fds are the caller's."""
        self._conn.send({"method": method, "parameters": parameters or {}})
        reply, fds = self._conn.receive()
        try:
            if self._conn.parser.pending():
                raise ProtocolError("malformed reply: data after the reply")
            return _reply_parameters(reply), fds
        except BaseException as e:
            close_fds(fds)
            if isinstance(e, ProtocolError):
                # Something came that was not asked for, or more is coming:
                # later replies could not be matched to their calls.
                self._conn.broken = True
            raise

    def _call_no_fds(self, method, parameters=None):
        reply, fds = self.call(method, parameters)
        close_fds(fds)
        return reply

    def acquire(self, label=None, mtu=None, queues=None, vnet_header=None, persistent=None, **future):
        """A new slot, with its queue fds in Slot.fds. Parameters left None
        take the daemon's defaults; further keyword arguments pass on as
        Varlink parameters of the same name in camelCase (egress="none",
        clone=True)."""
        options = dict(label=label, mtu=mtu, queues=queues, vnet_header=vnet_header,
                       persistent=persistent, **future)
        parameters = {camel_case(k): v for k, v in options.items() if v is not None}
        reply, fds = self.call("io.taplinkd.Acquire", parameters)
        try:
            slot = Slot.from_json(_get(reply, "slot", dict, "Acquire"))
            slot.fds = _take_queue_fds(reply.get("fileDescriptors"), fds, slot.queues)
        except BaseException:
            close_fds(fds)
            raise
        return slot

    def release(self, slot):
        """Ends a slot (a Slot or its number), even while its fds are open."""
        number = slot.slot if isinstance(slot, Slot) else slot
        self._call_no_fds("io.taplinkd.Release", {"slot": number})

    def list(self, counters=False):
        """Every live slot the caller may see, as Slots without fds; with
        counters=True each carries its Counters."""
        reply = self._call_no_fds("io.taplinkd.List", {"counters": True} if counters else None)
        slots = _get(reply, "slots", list, "List")
        return [Slot.from_json(s, "slots[%d]" % i) for i, s in enumerate(slots)]

    def status(self):
        return Status.from_json(self._call_no_fds("io.taplinkd.Status"))

    def get_info(self):
        return Info.from_json(self._call_no_fds("org.varlink.service.GetInfo"))

    def get_interface_description(self, interface="io.taplinkd"):
        """The interface's IDL text."""
        reply = self._call_no_fds("org.varlink.service.GetInterfaceDescription", {"interface": interface})
        return _get(reply, "description", str, "GetInterfaceDescription")

    def monitor(self, timeout=None):
        """A Monitor on a connection of its own (this one stays free for
        calls)."""
        return Monitor(self.path, timeout)


class Monitor:
    """Iterates over Monitor events (Event): an "existing" event per slot,
    one "synced", then "acquired", "changed" and "released" as they happen.
    Iteration blocks; with a timeout, next() raises TimeoutError and may be
    called again. An error reply ends the stream and is raised."""

    def __init__(self, path=None, timeout=None, sock=None):
        self._conn = Connection(_connection_name(path, sock), timeout, sock=sock)
        self._done = False
        try:
            self._conn.send({"method": "io.taplinkd.Monitor", "parameters": {}, "more": True})
        except BaseException:
            self._conn.close()
            raise

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        reply, fds = self._conn.receive(resumable=True)
        if fds:
            close_fds(fds)
            self._conn.broken = True
            raise ProtocolError("malformed reply: file descriptors with a Monitor event")
        try:
            parameters = _reply_parameters(reply, more=True)
        except BaseException:
            self._done = True
            raise
        self._done = not reply.get("continues", False)
        return Event.from_json(parameters)

    def close(self):
        self._done = True
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
