#!/usr/bin/env python3
"""Host-side peers for the end-to-end test (tests/e2e/run.sh).

  helper.py http DIR PORT                 serve DIR over HTTP (threads, quiet)
  helper.py together DIR PORT N LOG        serve DIR over HTTP, each answer held
                                          until N requests are in (all N
                                          connections open at once); LOG gets
                                          "<source-ip> <port> <path> <status>" per
                                          request, after its answer
  helper.py sink PORT OUT                 accept one TCP connection, write it to OUT,
                                          then OUT.done holds "<md5> <bytes>"
  helper.py udplog PORT LOG               append "<source-ip> <payload>" per datagram
  helper.py udpsend HOST PORT TEXT        send TEXT as one UDP datagram
  helper.py peer PORT LOG                 per TCP connection: log the source
                                          address, answer "peer=<source>"
  helper.py send HOST PORT FILE [TIMEOUT] connect (retrying while refused), send
                                          FILE (or "-" = stdin), close
  helper.py fetch URL [TIMEOUT]           GET URL, print "<bytes> <seconds> <md5>"
  helper.py mkfile PATH MIB               write MIB MiB of pseudo-random bytes
  helper.py linklocal MAC                 the fe80:: address the kernel derives
                                          from MAC (modified EUI-64), as ip prints it
  helper.py tap NAME QUEUES VNET -- CMD   open TAP NAME (as root), put its queue
                                          fds at 3, 4, ... and exec CMD (the
                                          manual stand-in for taplinkctl run)
  helper.py ctl --socket PATH [--json] list|status
  helper.py ctl --socket PATH run [--queues N] [--no-vnet-hdr] [--clone] -- CMD...
                                          a stand-in for taplinkctl (the same
                                          Varlink calls and TAPLINK_* environment)
                                          for testing the daemon before it exists
  helper.py state TABLE IFNAME SLOT GUEST4/P GUEST6/P -- [CTL...]
                                          what the kernel and the daemon hold for
                                          a slot: "list=0|1 link=0|1 slots_v4=..
                                          guests_v4=.. slots_v6=.. guests_v6=..
                                          vnet_hdr=.. numqueues=.." (CTL... is the
                                          taplinkctl command line up to "list";
                                          TABLE "-" and no CTL: the device only)
Every wait is bounded; every listener binds to all addresses of the namespace
it runs in.
"""
import fcntl
import hashlib
import http.server
import os
import socket
import socketserver
import struct
import sys
import time


def cmd_http(directory, port):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=directory, **kw)

        def log_message(self, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    Server(("0.0.0.0", int(port)), Quiet).serve_forever()


def cmd_together(directory, port, n, log):
    import threading

    barrier = threading.Barrier(int(n))
    lock = threading.Lock()

    class Together(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=directory, **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            try:
                barrier.wait(timeout=120)
                together = "together"
            except threading.BrokenBarrierError:
                together = "alone"
            if together == "together":
                super().do_GET()
            else:
                self.send_error(503, "the other requests did not come")
            with lock, open(log, "a") as f:
                f.write("%s %d %s %s\n" % (self.client_address[0], self.client_address[1], self.path, together))

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    Server(("0.0.0.0", int(port)), Together).serve_forever()


def listen(port, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    return s


def cmd_sink(port, out):
    s = listen(port)
    c, _ = s.accept()
    h = hashlib.md5()
    n = 0
    with open(out, "wb") as f:
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            f.write(b)
            h.update(b)
            n += len(b)
    c.close()
    with open(out + ".done.tmp", "w") as f:
        f.write("%s %d\n" % (h.hexdigest(), n))
    os.rename(out + ".done.tmp", out + ".done")


def cmd_udplog(port, log):
    s = listen(port, socket.SOCK_DGRAM)
    while True:
        data, addr = s.recvfrom(4096)
        text = "".join(chr(b) if 32 < b < 127 else " " for b in data).split()
        with open(log, "a") as f:
            f.write("%s %s\n" % (addr[0], " ".join(text)))


def cmd_udpsend(host, port, text):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), (host, int(port)))


def cmd_peer(port, log):
    s = listen(port)
    while True:
        c, addr = s.accept()
        c.settimeout(5)
        with open(log, "a") as f:
            f.write("%s\n" % addr[0])
        try:
            c.sendall(("peer=%s\n" % addr[0]).encode())
            c.shutdown(socket.SHUT_WR)
            while c.recv(4096):
                pass
        except OSError:
            pass
        c.close()


def cmd_send(host, port, path, timeout="60"):
    deadline = time.monotonic() + float(timeout)
    while True:
        try:
            c = socket.create_connection((host, int(port)), timeout=5)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                sys.exit("send: %s:%s: %s" % (host, port, e))
            time.sleep(0.2)
    c.settimeout(float(timeout))
    data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    while c.recv(1 << 16):
        pass
    c.close()


def cmd_fetch(url, timeout="120"):
    import urllib.request

    h = hashlib.md5()
    n = 0
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=float(timeout)) as r:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    dt = time.monotonic() - t0
    print("%d %.6f %s" % (n, dt, h.hexdigest()))


def cmd_mkfile(path, mib):
    with open(path + ".tmp", "wb") as f:
        for _ in range(int(mib)):
            f.write(os.urandom(1 << 20))
    os.rename(path + ".tmp", path)


def cmd_linklocal(mac):
    import ipaddress

    m = bytes(int(x, 16) for x in mac.split(":"))
    iid = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:6]
    print(ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + iid))


def cmd_tap(name, queues, vnet, sep, *argv):
    IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
    IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x4000, 0x0100
    TUNSETIFF = 0x400454CA
    flags = IFF_TAP | IFF_NO_PI
    if vnet == "1":
        flags |= IFF_VNET_HDR
    if int(queues) > 1:
        flags |= IFF_MULTI_QUEUE
    fds = []
    for _ in range(int(queues)):
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
        fds.append(fd)
    # Configure it as taplinkd would (E2E_TAP_HOSTMAC, E2E_TAP_GW=addr/prefix).
    import subprocess

    if os.environ.get("E2E_TAP_HOSTMAC"):
        subprocess.run(["ip", "link", "set", "dev", name, "address",
                        os.environ["E2E_TAP_HOSTMAC"]], check=True)
    subprocess.run(["ip", "link", "set", "dev", name, "up"], check=True)
    if os.environ.get("E2E_TAP_GW"):
        subprocess.run(["ip", "addr", "add", os.environ["E2E_TAP_GW"], "dev", name],
                       check=True)
    for i, fd in enumerate(fds):
        os.dup2(fd, 100 + i)
    for fd in fds:
        os.close(fd)
    for i in range(len(fds)):
        os.dup2(100 + i, 3 + i)
        os.close(100 + i)
    os.environ["TAPLINK_FDS"] = ",".join(str(3 + i) for i in range(len(fds)))
    os.execvp(argv[0], list(argv))


def _strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)


def _slots(x):
    if isinstance(x, dict):
        if "slot" in x and "ifname" in x:
            yield x
        for v in x.values():
            yield from _slots(v)
    elif isinstance(x, list):
        for v in x:
            yield from _slots(v)


def _run_json(argv):
    import json
    import subprocess

    p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


def _same_ip(a, b):
    import ipaddress

    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def cmd_state(table, ifname, slot, guest4, guest6, sep, *ctl):
    import ipaddress

    out = {}
    listing = _run_json(list(ctl) + ["list"]) if ctl else None
    if not ctl:
        pass
    elif listing is None:
        out["list"] = "?"
    else:
        out["list"] = int(any(str(s.get("slot")) == slot or s.get("ifname") == ifname
                              for s in _slots(listing)))
    links = _run_json(["ip", "-d", "-j", "link", "show"]) or []
    link = [x for x in links if x.get("ifname") == ifname]
    out["link"] = int(bool(link))
    info = link[0].get("linkinfo", {}).get("info_data", {}) if link else {}
    out["vnet_hdr"] = int(bool(info.get("vnet_hdr"))) if link else "-"
    if link:  # iproute2 prints numqueues for multi-queue devices only
        out["numqueues"] = info.get("numqueues", 0 if info.get("multi_queue") else 1)
    else:
        out["numqueues"] = "-"
    nets = {"v4": ipaddress.ip_interface(guest4).network.network_address}
    if guest6 != "-":
        nets["v6"] = ipaddress.ip_interface(guest6).network.network_address
    guests = {"v4": guest4.split("/")[0]}
    if guest6 != "-":
        guests["v6"] = guest6.split("/")[0]
    for fam in ("v4", "v6"):
        if fam not in nets or table == "-":
            continue
        for kind in ("slots", "guests"):
            name = "%s_%s" % (kind, fam)
            dump = _run_json(["nft", "-j", "list", "set", "inet", table, name])
            if dump is None:
                out[name] = "?"
                continue
            elems = []
            for obj in dump.get("nftables", []):
                if "set" in obj:
                    elems.extend(obj["set"].get("elem", []))
            hit = 0
            for e in elems:
                strs = list(_strings(e))
                if kind == "slots":
                    hit |= any(_same_ip(v, str(nets[fam])) for v in strs)
                else:
                    hit |= ifname in strs and any(_same_ip(v, guests[fam]) for v in strs)
            out[name] = int(hit)
    print(" ".join("%s=%s" % kv for kv in out.items()))


def _varlink(path, method, params=None):
    """One Varlink call; returns (reply dict, [fds])."""
    import array
    import json

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    msg = {"method": method}
    if params is not None:
        msg["parameters"] = params
    s.sendall(json.dumps(msg).encode() + b"\0")
    buf, fds = b"", []
    while b"\0" not in buf:
        data, anc, _, _ = s.recvmsg(1 << 16, socket.CMSG_SPACE(64 * 4))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(payload[: len(payload) - len(payload) % 4])
                fds.extend(a)
        if not data:
            break
        buf += data
    s.close()
    return json.loads(buf.split(b"\0")[0]), fds


def cmd_ctl(*argv):
    import json

    argv = list(argv)
    sock, as_json = "/run/taplinkd/io.taplinkd", False
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--socket":
            sock = argv.pop(0)
        elif opt == "--json":
            as_json = True
        else:
            sys.exit("ctl: unknown option %s" % opt)
    cmd = argv.pop(0) if argv else ""
    if cmd in ("list", "status"):
        reply, _ = _varlink(sock, "io.taplinkd." + cmd.capitalize())
        if "error" in reply:
            sys.exit("ctl: %s" % reply["error"])
        print(json.dumps(reply.get("parameters", {})))
        return
    if cmd != "run":
        sys.exit("ctl: list, status or run")
    params = {}
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--queues":
            params["queues"] = int(argv.pop(0))
        elif opt == "--no-vnet-hdr":
            params["vnetHeader"] = False
        elif opt == "--label":
            params["label"] = argv.pop(0)
        elif opt == "--clone":
            params["clone"] = True
        else:
            sys.exit("ctl: unknown run option %s" % opt)
    argv = argv[1:]
    reply, fds = _varlink(sock, "io.taplinkd.Acquire", params)
    if "error" in reply:
        sys.exit("ctl: %s %s" % (reply["error"], json.dumps(reply.get("parameters"))))
    slot = reply["parameters"]["slot"]
    order = reply["parameters"].get("fileDescriptors", list(range(len(fds))))
    fds = [fds[i] for i in order]
    for i, fd in enumerate(fds):
        os.dup2(fd, 100 + i)
    for fd in fds:
        os.close(fd)
    for i in range(len(fds)):
        os.dup2(100 + i, 3 + i)
        os.close(100 + i)
    env = {
        "TAPLINK_SLOT": slot["slot"], "TAPLINK_IFNAME": slot["ifname"],
        "TAPLINK_FDS": ",".join(str(3 + i) for i in range(len(fds))),
        "TAPLINK_MAC": slot["mac"], "TAPLINK_IPV4_GUEST": slot["ipv4"]["guest"],
        "TAPLINK_IPV4_GATEWAY": slot["ipv4"]["gateway"],
        "TAPLINK_IPV4_PREFIX": slot["ipv4"]["prefixLength"],
        "TAPLINK_KERNEL_IP_ARG": slot["kernelIpArg"],
    }
    if slot.get("clone"):
        c = slot["clone"]
        env.update({"TAPLINK_NETNS": c["netns"], "TAPLINK_TAP_NAME": c["tapName"], "TAPLINK_IPV4_GUEST": c["guest"],
                    "TAPLINK_IPV4_GATEWAY": c["gateway"], "TAPLINK_IPV4_PREFIX": c["prefixLength"]})
    if slot.get("ipv6"):
        env["TAPLINK_IPV6_GUEST"] = slot["ipv6"]["guest"]
        env["TAPLINK_IPV6_GATEWAY"] = slot["ipv6"]["gateway"]
    for k, v in env.items():
        os.environ[k] = str(v)
    os.execvp(argv[0], argv)


def main():
    cmds = {
        "http": cmd_http, "together": cmd_together, "sink": cmd_sink, "udplog": cmd_udplog, "udpsend": cmd_udpsend, "peer": cmd_peer,
        "send": cmd_send, "fetch": cmd_fetch, "mkfile": cmd_mkfile, "linklocal": cmd_linklocal, "tap": cmd_tap,
        "state": cmd_state, "ctl": cmd_ctl,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
