# SPDX-License-Identifier: MIT
"""taplink: a client for taplinkd, the daemon that hands out TAP devices
(slots) over Varlink with their fds. Standard library only. See
python/README.md in the taplinkd sources, and docs/io.taplinkd.varlink for
the interface.

    import subprocess, taplink
    with taplink.Client() as c, c.acquire(label="vm-1") as slot:
        subprocess.run(["qemu-system-x86_64", "-netdev", "tap,id=n0,fd=%d" % slot.fds[0], ...],
                       pass_fds=slot.fds)
"""

from .client import DEFAULT_SOCKET, SOCKET_ENV, Client, Monitor, socket_path
from .errors import (ExpectedMore, InterfaceNotFound, InvalidParameter, KernelError, MethodNotFound,
                     MethodNotImplemented, NoSlotAvailable, NoSuchSlot, PermissionDenied, PortInUse,
                     ProtocolError, QuotaExceeded, TaplinkError)
from .objects import Clone, Counters, Event, Info, Net, Slot, Status

__all__ = [
    "Client", "Monitor", "socket_path", "DEFAULT_SOCKET", "SOCKET_ENV",
    "Slot", "Net", "Counters", "Clone", "Status", "Info", "Event",
    "TaplinkError", "ProtocolError", "PermissionDenied", "QuotaExceeded", "NoSlotAvailable",
    "NoSuchSlot", "KernelError", "PortInUse", "InvalidParameter", "MethodNotFound",
    "MethodNotImplemented", "InterfaceNotFound", "ExpectedMore",
]
