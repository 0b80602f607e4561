# SPDX-License-Identifier: MIT
"""The network test_egress.py runs in (docs/DESIGN.md, "Egress policy"):
this namespace is the host; a "world" namespace, joined by a veth, holds
destinations of every kind on its lo, and the host routes to them:

    guest --tl0-- host 192.0.2.1 / 2001:db8:ffff::1 --veth-- world 192.0.2.2
                                                         lo: 203.0.113.7  2001:db8::7      public
                                                             10.99.0.7 192.168.99.7 fd00::7 private
                                                             169.254.169.254 168.63.129.16  metadata

Servers (SERVER) answer TCP with an echo and UDP with the datagram, each
bound to its own address (so a UDP answer leaves from the address that was
asked, and masquerade can map it back). The guests are stand-in guests
(guest_link.StandInGuest), configured statically from their slot."""

import json
import os
import subprocess

from harness import PYTHON, TIMEOUT_SCALE, Namespace, run
from guest_link import StandInGuest

HOST_V4, WORLD_V4 = "192.0.2.1", "192.0.2.2"
HOST_V6, WORLD_V6 = "2001:db8:ffff::1", "2001:db8:ffff::2"
PUBLIC = ["203.0.113.7", "2001:db8::7"]
PRIVATE = ["10.99.0.7", "192.168.99.7", "fd00::7"]
METADATA = ["169.254.169.254", "168.63.129.16"]
WORLD_ADDRESSES = PUBLIC + PRIVATE + METADATA
PORTS = (443, 7000)
GUEST_PORT = 9000
POOLS = ("10.213.0.0/16", "fd74:6c00::/48")  # the daemon's default pools

# Seconds a probe waits for an answer: an answer comes in milliseconds; a
# dropped probe (silently: no ICMP, no RST) always waits all of it.
PROBE_TIMEOUT = 3.0 * TIMEOUT_SCALE

# argv[1]: {"tcp": [[address, port]...], "udp": [...]}; echoes on each.
SERVER = r"""
import json, socket, sys, threading
cfg = json.loads(sys.argv[1])
def family(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET
def bound(kind, addr, port):
    s = socket.socket(family(addr), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family(addr) == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    return s
def echo(c):
    with c:
        try:
            while True:
                data = c.recv(4096)
                if not data:
                    return
                c.sendall(data)
        except OSError:
            return  # a connection the test dropped
def tcp(s):
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
def udp(s):
    while True:
        data, peer = s.recvfrom(4096)
        s.sendto(data, peer)
threads = [threading.Thread(target=tcp, args=(bound(socket.SOCK_STREAM, a, p),), daemon=True)
           for a, p in cfg.get("tcp", [])]
threads += [threading.Thread(target=udp, args=(bound(socket.SOCK_DGRAM, a, p),), daemon=True)
            for a, p in cfg.get("udp", [])]
for t in threads:
    t.start()
print("ready", flush=True)
sys.stdin.read()
"""

# argv[1]: [[proto, address, port]...], argv[2]: timeout. Prints one
# result per probe: "open" (echoed), "refused", "timeout" or an error; or
# what the server answered when it was not the echo (test_publish.py's
# servers answer with the client's address as they see it).
PROBE = r"""
import json, socket, sys, threading, time
probes, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
out = [None] * len(probes)
def family(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET
def tcp(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=timeout) as s:
            s.sendall(b"probe")
            data = s.recv(64)
            return "open" if data == b"probe" else data.decode(errors="replace")
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error: %s" % e
def udp(addr, port):
    with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
        s.connect((addr, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.sendall(b"probe")
            s.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                data = s.recv(64)
                return "open" if data == b"probe" else data.decode(errors="replace")
            except socket.timeout:
                pass
            except ConnectionRefusedError:
                return "refused"
        return "timeout"
def one(i, proto, addr, port):
    out[i] = (tcp if proto == "tcp" else udp)(addr, port)
threads = [threading.Thread(target=one, args=(i, *p)) for i, p in enumerate(probes)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
"""

# One TCP connection and one UDP socket, kept open; on each line of stdin,
# sends a segment on the connection and a datagram on the socket, both at
# once, and prints what came of each: "open open", "timeout timeout"...
# (so that two drops cost one timeout, not two). argv: tcp address, tcp
# port, udp address, udp port, timeout.
FLOW = r"""
import socket, sys, threading
timeout = float(sys.argv[5])
def family(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET
t = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=timeout)
u = socket.socket(family(sys.argv[3]), socket.SOCK_DGRAM)
u.connect((sys.argv[3], int(sys.argv[4])))
u.settimeout(0.5)
print("connected", flush=True)
def tcp(data, out):
    t.sendall(data)
    try:
        out[0] = "open" if t.recv(64) == data else "no echo"
    except socket.timeout:
        out[0] = "timeout"
def udp(data, out):
    out[1] = "timeout"
    for _ in range(int(timeout / 0.5)):
        u.send(data)
        try:
            if u.recv(64) == data:
                out[1] = "open"
                return
        except socket.timeout:
            pass
for n, line in enumerate(sys.stdin):
    out = [None, None]
    threads = [threading.Thread(target=f, args=(b"flow %d" % n, out)) for f in (tcp, udp)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(" ".join(out), flush=True)
"""


def build_world():
    """The world namespace, its veth and its routes (see the module's doc)."""
    world = Namespace()
    run("ip", "link", "set", "lo", "up")
    world.run("ip", "link", "set", "lo", "up")
    run("ip", "link", "add", "to-world", "type", "veth", "peer", "name", "to-host", "netns", world.netns)
    run("ip", "addr", "add", HOST_V4 + "/24", "dev", "to-world")
    run("ip", "addr", "add", HOST_V6 + "/64", "dev", "to-world", "nodad")
    run("ip", "link", "set", "to-world", "up")
    world.run("ip", "addr", "add", WORLD_V4 + "/24", "dev", "to-host")
    world.run("ip", "addr", "add", WORLD_V6 + "/64", "dev", "to-host", "nodad")
    world.run("ip", "link", "set", "to-host", "up")
    for a in WORLD_ADDRESSES:
        v6 = ":" in a
        world.run("ip", "addr", "add", a + ("/128" if v6 else "/32"), "dev", "lo")
        run("ip", "route", "add", a, "via", WORLD_V6 if v6 else WORLD_V4)
    world.run("ip", "route", "add", POOLS[0], "via", HOST_V4)
    world.run("ip", "route", "add", POOLS[1], "via", HOST_V6)
    return world


def serve(cmd, tcp=(), udp=()):
    """Starts SERVER under cmd (a namespace's command prefix)."""
    p = subprocess.Popen(cmd + [PYTHON, "-c", SERVER, json.dumps({"tcp": tcp, "udp": udp})],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        p.kill()
        p.wait()
        raise AssertionError("the echo server did not start")
    return p


def stop_server(p):
    p.kill()
    p.wait()
    p.stdin.close()
    p.stdout.close()


def world_server(world):
    both = [[a, port] for a in WORLD_ADDRESSES + [WORLD_V4, WORLD_V6] for port in PORTS]
    return serve(world.cmd(), tcp=both, udp=both)


def guest_for(slot, fd, scratch):
    """A stand-in guest on the slot's fd, with the slot's addresses and
    default routes through its gateways."""
    os.makedirs(scratch, exist_ok=True)
    g = StandInGuest(slot, fd, scratch)
    g.slot = slot
    v4, v6 = slot["ipv4"], slot["ipv6"]
    # Static, as the slot says: nothing from the daemon's RA.
    g.run("sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0", "net.ipv6.conf.eth0.autoconf=0", check=True)
    g.run("ip", "-6", "addr", "flush", "dev", "eth0", "scope", "global", check=True)
    g.run("ip", "addr", "add", "%s/%d" % (v4["guest"], v4["prefixLength"]), "dev", "eth0", check=True)
    g.run("ip", "route", "add", "default", "via", v4["gateway"], check=True)
    if v6:  # null with ipv6 = no
        g.run("ip", "addr", "add", "%s/%d" % (v6["guest"], v6["prefixLength"]), "dev", "eth0", "nodad", check=True)
        g.run("ip", "-6", "route", "replace", "default", "via", v6["gateway"], check=True)
    return g


def probe(cmd, probes):
    """Runs PROBE under cmd: {(proto, address, port): result}."""
    return probe_at_once([(cmd, probes)])[0]


def probe_at_once(batches):
    """Runs PROBE under each batch's cmd, all at once, so that the dropped
    probes of every batch wait out one PROBE_TIMEOUT together. batches:
    [(cmd, probes)...]; returns one {(proto, address, port): result} each."""
    started = []
    try:
        for cmd, probes in batches:
            probes = [list(p) for p in probes]
            p = subprocess.Popen(cmd + [PYTHON, "-c", PROBE, json.dumps(probes), str(PROBE_TIMEOUT)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            started.append((p, probes))
        results = []
        for p, probes in started:
            out, err = p.communicate()
            if p.returncode != 0:
                raise AssertionError("the probe failed (exit status %d): %s" % (p.returncode, err))
            results.append({tuple(q): r for q, r in zip(probes, json.loads(out))})
        return results
    finally:
        for p, _ in started:
            if p.poll() is None:
                p.kill()
                p.communicate()


class Flow:
    """FLOW in a guest: a TCP connection and a UDP flow that stay open."""

    def __init__(self, guest, tcp, udp):
        self.proc = subprocess.Popen(
            guest.cmd(PYTHON, "-c", FLOW, tcp[0], str(tcp[1]), udp[0], str(udp[1]), str(PROBE_TIMEOUT)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "connected":
            self.close()
            raise AssertionError("the flow did not connect: %r" % line)

    def send(self):
        """A segment and a datagram at once: (TCP's result, UDP's)."""
        self.proc.stdin.write("send\n")
        self.proc.stdin.flush()
        return tuple(self.proc.stdout.readline().split())

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
