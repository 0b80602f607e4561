# SPDX-License-Identifier: MIT
"""The objects replies carry (docs/io.taplinkd.varlink), checked and named
in snake_case. Each keeps the reply's dict as raw, so that members a newer
daemon adds are reachable before this package names them."""

import dataclasses
from typing import List, Optional

from .errors import ProtocolError
from .wire import close_fds


def _get(obj, key, kind, where, optional=False):
    """obj[key], which must be of kind (an int is never a bool here)."""
    if not isinstance(obj, dict):
        raise ProtocolError("malformed reply: %s is not an object" % where)
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError("malformed reply: %s.%s missing or not %s" % (where, key, kind.__name__))
    return value


@dataclasses.dataclass
class Net:
    """One side of a slot's point-to-point network."""
    subnet: str
    gateway: str
    guest: str
    prefix_length: int

    @classmethod
    def from_json(cls, obj, where):
        return cls(subnet=_get(obj, "subnet", str, where),
                   gateway=_get(obj, "gateway", str, where),
                   guest=_get(obj, "guest", str, where),
                   prefix_length=_get(obj, "prefixLength", int, where))


@dataclasses.dataclass
class Counters:
    """A slot's traffic, as List(counters=True) reports it."""
    guest_sent_bytes: int
    guest_sent_packets: int
    guest_received_bytes: int
    guest_received_packets: int
    dropped_spoofed: int
    dropped_policy: int

    KEYS = ("guestSentBytes", "guestSentPackets", "guestReceivedBytes", "guestReceivedPackets",
            "droppedSpoofed", "droppedPolicy")

    @classmethod
    def from_json(cls, obj, where):
        return cls(*(_get(obj, key, int, where) for key in cls.KEYS))


@dataclasses.dataclass
class Clone:
    """A clone slot's namespace (docs/io.taplinkd.varlink, Clone): the TAP
    tap_name inside netns (a path), its guest's fixed address."""
    netns: str
    tap_name: str
    guest: str
    gateway: str
    prefix_length: int

    @classmethod
    def from_json(cls, obj, where):
        return cls(netns=_get(obj, "netns", str, where),
                   tap_name=_get(obj, "tapName", str, where),
                   guest=_get(obj, "guest", str, where),
                   gateway=_get(obj, "gateway", str, where),
                   prefix_length=_get(obj, "prefixLength", int, where))


@dataclasses.dataclass
class Slot:
    """A slot. fds are the TAP's queue fds (plain ints, one per queue, not
    inheritable) when this Slot came from acquire(), else empty; they are
    the caller's to close (close(), or use the Slot as a context manager).
    A non-persistent slot lives as long as any of its fds is open."""
    slot: int
    ifname: str
    label: str
    owner_uid: int
    mac: str
    mtu: int
    queues: int
    vnet_header: bool
    persistent: bool
    ipv4: Net
    ipv6: Optional[Net]
    kernel_ip_arg: str
    counters: Optional[Counters] = None
    clone: Optional[Clone] = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False)
    fds: List[int] = dataclasses.field(default_factory=list)

    @classmethod
    def from_json(cls, obj, where="slot"):
        ipv6 = _get(obj, "ipv6", dict, where, optional=True)
        counters = _get(obj, "counters", dict, where, optional=True)
        clone = _get(obj, "clone", dict, where, optional=True)
        return cls(slot=_get(obj, "slot", int, where),
                   ifname=_get(obj, "ifname", str, where),
                   label=_get(obj, "label", str, where),
                   owner_uid=_get(obj, "ownerUid", int, where),
                   mac=_get(obj, "mac", str, where),
                   mtu=_get(obj, "mtu", int, where),
                   queues=_get(obj, "queues", int, where),
                   vnet_header=_get(obj, "vnetHeader", bool, where),
                   persistent=_get(obj, "persistent", bool, where),
                   ipv4=Net.from_json(_get(obj, "ipv4", dict, where), where + ".ipv4"),
                   ipv6=Net.from_json(ipv6, where + ".ipv6") if ipv6 is not None else None,
                   kernel_ip_arg=_get(obj, "kernelIpArg", str, where),
                   counters=(Counters.from_json(counters, where + ".counters")
                             if counters is not None else None),
                   clone=Clone.from_json(clone, where + ".clone") if clone is not None else None,
                   raw=obj)

    def close(self):
        """Closes the slot's fds (a non-persistent slot then ends)."""
        fds, self.fds = self.fds, []
        close_fds(fds)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclasses.dataclass
class Status:
    version: str
    slots_in_use: int
    max_slots: int
    guest_services_dropped: int
    raw: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj):
        return cls(version=_get(obj, "version", str, "Status"),
                   slots_in_use=_get(obj, "slotsInUse", int, "Status"),
                   max_slots=_get(obj, "maxSlots", int, "Status"),
                   guest_services_dropped=_get(obj, "guestServicesDropped", int, "Status"),
                   raw=obj)


@dataclasses.dataclass
class Info:
    """org.varlink.service.GetInfo's answer."""
    vendor: str
    product: str
    version: str
    url: str
    interfaces: List[str]
    raw: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj):
        interfaces = _get(obj, "interfaces", list, "GetInfo")
        if not all(isinstance(i, str) for i in interfaces):
            raise ProtocolError("malformed reply: GetInfo.interfaces holds a non-string")
        return cls(vendor=_get(obj, "vendor", str, "GetInfo"),
                   product=_get(obj, "product", str, "GetInfo"),
                   version=_get(obj, "version", str, "GetInfo"),
                   url=_get(obj, "url", str, "GetInfo"),
                   interfaces=interfaces, raw=obj)


@dataclasses.dataclass
class Event:
    """One Monitor reply. event is "existing", "synced" (the marker after
    the existing slots; slot is None), "acquired", "changed" or "released";
    reason says why a slot was released ("release", "vmm-exited",
    "gone-at-start"), else None."""
    event: str
    slot: Optional[Slot]
    reason: Optional[str] = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj):
        slot = _get(obj, "slot", dict, "Monitor", optional=True)
        return cls(event=_get(obj, "event", str, "Monitor"),
                   slot=Slot.from_json(slot, "Monitor.slot") if slot is not None else None,
                   reason=_get(obj, "reason", str, "Monitor", optional=True),
                   raw=obj)
