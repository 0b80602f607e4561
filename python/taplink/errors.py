# SPDX-License-Identifier: MIT
"""The daemon's Varlink errors as exceptions (docs/io.taplinkd.varlink,
docs/DESIGN.md "Errors"), and the one transport error this package adds.

A Varlink error reply raises a TaplinkError subclass named after the error;
the connection stays usable. Anything wrong with the transport is an
OSError: the daemon closing the connection (ConnectionResetError), a
timeout (TimeoutError), or a reply that breaks the protocol (ProtocolError).
After an OSError the connection may be unusable (ENOTCONN)."""

import errno
import os
import re


class ProtocolError(OSError):
    """A reply that breaks the protocol: not JSON, too large, fds that do not
    match it. errno is EBADMSG, or EMSGSIZE for a reply over the bound."""

    def __init__(self, message, code=errno.EBADMSG):
        super().__init__(code, message)


class TaplinkError(Exception):
    """A Varlink error reply. name is the full error name
    ("io.taplinkd.QuotaExceeded"), parameters its parameters (a dict).
    Subclasses also offer each documented parameter as an attribute, in
    snake_case (QuotaExceeded.limit, KernelError.operation)."""

    # The error's parameters as the IDL names them; each becomes an
    # attribute (None when the reply left it out).
    fields = ()

    def __init__(self, name, parameters=None):
        self.name = name
        self.parameters = dict(parameters or {})
        for key in self.fields:
            setattr(self, snake_case(key), self.parameters.get(key))
        details = " ".join("%s=%s" % (k, v) for k, v in self.parameters.items())
        super().__init__("%s (%s)" % (name, details) if details else name)

    def __reduce__(self):
        # Survives pickling (multiprocessing), which would otherwise call
        # the class with the message alone.
        return type(self), (self.name, self.parameters)


class PermissionDenied(TaplinkError):
    pass


class QuotaExceeded(TaplinkError):
    fields = ("limit",)


class NoSlotAvailable(TaplinkError):
    pass


class NoSuchSlot(TaplinkError):
    fields = ("slot",)


class KernelError(TaplinkError):
    fields = ("operation", "errno")

    def __str__(self):
        text = super().__str__()
        if isinstance(self.errno, int) and 0 < self.errno < 4096:
            text += ": " + os.strerror(self.errno)
        return text


class PortInUse(TaplinkError):
    fields = ("protocol", "hostPort")


class InvalidParameter(TaplinkError):
    fields = ("parameter",)


class MethodNotFound(TaplinkError):
    fields = ("method",)


class MethodNotImplemented(TaplinkError):
    fields = ("method",)


class InterfaceNotFound(TaplinkError):
    fields = ("interface",)


class ExpectedMore(TaplinkError):
    pass


_BY_NAME = {
    "io.taplinkd.PermissionDenied": PermissionDenied,
    "io.taplinkd.QuotaExceeded": QuotaExceeded,
    "io.taplinkd.NoSlotAvailable": NoSlotAvailable,
    "io.taplinkd.NoSuchSlot": NoSuchSlot,
    "io.taplinkd.KernelError": KernelError,
    "io.taplinkd.PortInUse": PortInUse,
    "org.varlink.service.InvalidParameter": InvalidParameter,
    "org.varlink.service.MethodNotFound": MethodNotFound,
    "org.varlink.service.MethodNotImplemented": MethodNotImplemented,
    "org.varlink.service.InterfaceNotFound": InterfaceNotFound,
    "org.varlink.service.ExpectedMore": ExpectedMore,
    "org.varlink.service.PermissionDenied": PermissionDenied,
}


def error_from_reply(name, parameters):
    """The exception for an error reply; an error this package does not know
    is a plain TaplinkError, so a newer daemon's errors still arrive."""
    return _BY_NAME.get(name, TaplinkError)(name, parameters)


def snake_case(name):
    """"hostPort" -> "host_port", "kernelIpArg" -> "kernel_ip_arg"."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel_case(name):
    """"vnet_header" -> "vnetHeader"."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
