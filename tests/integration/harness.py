# SPDX-License-Identifier: MIT
"""Shared harness for taplinkd's integration tests.

Every test runs as root inside a throwaway network namespace (the runner
starts it with `unshare -n`); this module refuses to run anywhere else, so a
test can never touch the host's interfaces or firewall. It starts a private
daemon (own config, socket, nft table), speaks Varlink to it (with SCM_RIGHTS
fd passing), runs clients as other uids (setpriv), and reads the kernel's
state from outside with `ip -j` and `nft -j`.
"""

import array
import fcntl
import itertools
import json
import os
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.environ.get("BUILD", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAPLINKD = os.path.join(ROOT, BUILD, "taplinkd")
TAPLINKCTL = os.path.join(ROOT, BUILD, "taplinkctl")
CLIENT_PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client_proxy.py")
# Clients run as other uids must be able to execute the interpreter: a
# per-user one under /root is not reachable for them.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
# A command every Daemon's taplinkd runs under (scripts/check-valgrind.sh
# sets valgrind here), split like a shell would; empty: none.
DAEMON_WRAPPER = shlex.split(os.environ.get("TAPLINK_DAEMON_WRAPPER", ""))
# Multiplies the daemon start/stop timeouts (a daemon under valgrind starts
# slowly).
TIMEOUT_SCALE = float(os.environ.get("TAPLINK_TIMEOUT_SCALE", "1"))


def in_private_netns():
    """True when this process is not in the network namespace the test
    runner started from (scripts/run-integration-tests.sh exports it as
    TAPLINK_HOST_NETNS before `unshare -n`), nor in PID 1's."""
    me = os.readlink("/proc/self/ns/net")
    hosts = [os.environ.get("TAPLINK_HOST_NETNS")]
    try:
        hosts.append(os.readlink("/proc/1/ns/net"))
    except OSError:
        pass
    hosts = [h for h in hosts if h]
    return bool(hosts) and me not in hosts


def require_sandbox(testcase=None):
    """Fails loudly (never skips) when the environment cannot run the tests."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root")
    if not in_private_netns():
        problems.append("must run in a private network namespace: use scripts/run-integration-tests.sh, "
                        "or TAPLINK_HOST_NETNS=$(readlink /proc/self/ns/net) unshare -n ...")
    if not os.path.exists(TAPLINKD):
        problems.append("%s is missing (run make)" % TAPLINKD)
    if problems:
        raise RuntimeError("integration tests: " + "; ".join(problems))


def run(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- kernel state

def ip_json(*args):
    out = run("ip", "-j", *args).stdout
    return json.loads(out) if out.strip() else []


def link(name):
    """`ip -j -d link show dev NAME`, or None when it does not exist."""
    r = run("ip", "-j", "-d", "link", "show", "dev", name, check=False)
    if r.returncode != 0:
        return None
    data = json.loads(r.stdout)
    return data[0] if data else None


def links_with_prefix(prefix):
    return [l["ifname"] for l in ip_json("link", "show") if l["ifname"].startswith(prefix)]


def addrs(name):
    data = ip_json("addr", "show", "dev", name)
    return data[0].get("addr_info", []) if data else []


def nft_ruleset():
    return json.loads(run("nft", "-j", "list", "ruleset").stdout)["nftables"]


def _set_element(e):
    """One element of an nft -j set: a string, or a tuple for a concatenation."""
    if isinstance(e, dict) and "concat" in e:
        return tuple(e["concat"])
    if isinstance(e, dict) and "elem" in e:
        v = e["elem"]["val"]
        return tuple(v["concat"]) if isinstance(v, dict) and "concat" in v else v
    return e


def set_elements(table, set_name):
    """The elements of a set as nft -j prints them (strings or concat lists)."""
    r = run("nft", "-j", "list", "set", "inet", table, set_name, check=False)
    if r.returncode != 0:
        return None
    for obj in json.loads(r.stdout)["nftables"]:
        if "set" in obj:
            return [_set_element(e) for e in obj["set"].get("elem", [])]
    return []


def all_elements(table):
    return {s: set_elements(table, s) for s in ("slots_v4", "slots_v6", "guests_v4", "guests_v6", "dropped_spoofed",
                                                "dropped_policy", "egress_internet")}


def current_elements(table):
    """all_elements(), each set sorted (a missing one: [])."""
    return {k: sorted(v or []) for k, v in all_elements(table).items()}


def expected_elements(slots):
    """Each slot's elements, as current_elements() returns them: the six
    its number gives, and its mode's with the default egress policy."""
    return {
        "slots_v4": sorted(s["ipv4"]["subnet"] for s in slots),
        "slots_v6": sorted(s["ipv6"]["subnet"] for s in slots),
        "guests_v4": sorted((s["ifname"], s["ipv4"]["guest"]) for s in slots),
        "guests_v6": sorted((s["ifname"], s["ipv6"]["guest"]) for s in slots),
        "dropped_spoofed": sorted(s["ifname"] for s in slots),
        "dropped_policy": sorted(s["ifname"] for s in slots),
        "egress_internet": sorted(s["ifname"] for s in slots),
    }


# How long wait_for() waits by default: a ceiling for something that must
# happen, not a measure of how fast it does (that is `make bench`'s job), so
# it is long; a passing test never waits for it.
WAIT_TIMEOUT = 10.0 * TIMEOUT_SCALE


CLONE_NEWNS = 0x00020000


def private_run():
    """Moves this process into a mount namespace of its own with a tmpfs on
    /run: the daemon's /run/netns bind mounts (clone slots) are seen by
    nobody else, and vanish with the last process in it."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    run("mount", "--make-rprivate", "/")
    run("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "taplink-test-run", "/run")


def netns_mounts():
    """Mount points below /run/netns in this mount namespace (the clone
    slots' bind mounts), in mount order; /run/netns itself is not one."""
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith("/run/netns/")]


def netns_ids():
    """{nsid: name or None}: every namespace with an id in this one, named
    when a /run/netns file is a bind mount of it (`ip netns list-id`)."""
    out = json.loads(run("ip", "-j", "netns", "list-id").stdout or "[]")
    return {x["nsid"]: x.get("name") for x in out}


def wait_for(predicate, timeout=None, interval=0.02, what="condition"):
    """Returns predicate()'s first true value, polled until timeout seconds
    (default WAIT_TIMEOUT) have passed; then fails."""
    if timeout is None:
        timeout = WAIT_TIMEOUT
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def link_events_handled(client):
    """Returns once the daemon has handled every link event the kernel sent
    it before this call, so that "X still exists" means something: whatever
    could have removed X (the kernel at an fd's close, the daemon reacting
    to a link event) has had its turn. A marker slot is acquired and its fds
    closed: the kernel deletes its device, and the RTM_DELLINK reaches the
    daemon's link monitor behind every earlier event, so the marker leaving
    List means those were handled too. (The marker's Acquire also comes
    after the daemon closed its copies of any fds it handed out before.)"""
    label = "marker-%d" % next(_markers)
    slot, fds = client.acquire(label=label)
    for fd in fds:
        os.close(fd)
    wait_for(lambda: link(slot["ifname"]) is None and
             not any(s["label"] == label for s in client.call("io.taplinkd.List")[0]["slots"]),
             what="the daemon to handle the marker slot's RTM_DELLINK")


_markers = itertools.count(1)


class Namespace:
    """A network namespace of a test's own (test_routed.py's second host and
    world, egress_net.py's world), held by a sleeping process of its own."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        path = "/proc/%d/ns/net" % self.proc.pid
        me = os.readlink("/proc/self/ns/net")
        tries = 500
        while os.readlink(path) == me and tries:
            tries -= 1
            subprocess.run(["sleep", "0.01"])
        self.netns = path

    def cmd(self, *argv):
        return ["nsenter", "--net=" + self.netns, "--"] + list(argv)

    def run(self, *argv, check=True):
        return run(*self.cmd(*argv), check=check)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------- varlink

class VarlinkError(Exception):
    def __init__(self, name, parameters):
        super().__init__("%s %s" % (name, json.dumps(parameters)))
        self.name = name
        self.parameters = parameters


class FrameReader:
    """NUL-framed messages with their SCM_RIGHTS fds.

    One recvmsg may return the tail of one reply, whole replies and the
    start of a reply that carries fds: the kernel stops a read right after
    the chunk that carried fds, and the server starts every reply with fds
    in a sendmsg of its own, so the fds belong to the last message that
    starts in that read."""

    def __init__(self, sock):
        self.sock = sock
        self.partial = b""
        self.partial_fds = []
        self.ready = []

    def close(self):
        for _, fds in self.ready:
            for fd in fds:
                os.close(fd)
        for fd in self.partial_fds:
            os.close(fd)
        self.ready, self.partial_fds = [], []

    def _feed(self, data, fds):
        starts = [i + 1 for i, b in enumerate(data) if b == 0 and i + 1 < len(data)]
        if not self.partial:
            starts.insert(0, 0)
        owner = starts[-1] if starts else None
        pos = 0
        while pos < len(data):
            if fds and (pos == owner or owner is None):
                self.partial_fds.extend(fds)
                fds = []
            end = data.find(b"\0", pos)
            if end < 0:
                self.partial += data[pos:]
                break
            self.ready.append((self.partial + data[pos:end], self.partial_fds))
            self.partial, self.partial_fds = b"", []
            pos = end + 1

    def next(self):
        while not self.ready:
            msg, anc, flags, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(253 * 4))
            fds = []
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(data[: len(data) - (len(data) % a.itemsize)])
                    fds.extend(a)
            if not msg:
                for fd in fds:
                    os.close(fd)
                raise ConnectionResetError("daemon closed the connection")
            self._feed(msg, fds)
        return self.ready.pop(0)


class Varlink:
    """A minimal blocking Varlink client with SCM_RIGHTS."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.reader = FrameReader(self.sock)
        self.fds = []

    def close(self):
        self.sock.close()
        self.reader.close()

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\0")

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self):
        """One reply: (dict, [fds that came with its first byte])."""
        raw, fds = self.reader.next()
        return json.loads(raw), fds

    def call_raw(self, method, parameters=None, **extra):
        req = {"method": method}
        if parameters is not None:
            req["parameters"] = parameters
        req.update(extra)
        self.send(req)
        return self.recv()

    def call(self, method, parameters=None):
        reply, fds = self.call_raw(method, parameters)
        if "error" in reply:
            for fd in fds:
                os.close(fd)
            raise VarlinkError(reply["error"], reply.get("parameters", {}))
        return reply.get("parameters", {}), fds

    def acquire(self, **params):
        p, fds = self.call("io.taplinkd.Acquire", params)
        assert p["fileDescriptors"] == list(range(len(fds))), (p, fds)
        return p["slot"], fds


# ---------------------------------------------------------------- daemon

class Daemon:
    """A private taplinkd in this namespace: its own config, socket, table."""

    counter = 0

    def __init__(self, workdir, config=None, args=(), env=None, wrapper=()):
        """wrapper: a command prefix the daemon runs under (after
        TAPLINK_DAEMON_WRAPPER), e.g. private_mount_ns() + setpriv_net_admin()."""
        Daemon.counter += 1
        self.wrapper = list(wrapper)
        self.workdir = workdir
        self.table = "tltest%d_%d" % (os.getpid(), Daemon.counter)
        self.socket = os.path.join(workdir, "io.taplinkd")
        self.conf = os.path.join(workdir, "taplinkd.conf")
        self.log = os.path.join(workdir, "taplinkd.log")
        self.args = list(args)
        self.env = env
        self.proc = None
        sections = {
            "daemon": {"nft_table": self.table},
            "network": {},
            "access": {"allow_groups": "", "allow_users": "1000"},
        }
        for key, value in (config or {}).items():
            section, k = key.split(".", 1)
            # a section the defaults above do not name ([guest]) is added
            sections.setdefault(section, {})[k] = value
        with open(self.conf, "w") as f:
            for section, kv in sections.items():
                f.write("[%s]\n" % section)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
        self.prefix = sections["daemon"].get("ifname_prefix", "tl")

    def start(self, wait_ready=True, timeout=10.0, notify=None):
        """Starts the daemon and waits for its READY=1 on a notify socket of
        its own, closed once READY=1 came; or on notify, a bound AF_UNIX
        datagram socket of the caller's: it stays open, and whatever the
        daemon sends after READY=1 is the caller's to read (or not)."""
        own_notify = notify is None
        if own_notify:
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify_path = os.path.join(self.workdir, "notify-%d" % time.monotonic_ns())
            notify.bind(notify_path)
        else:
            notify_path = notify.getsockname()
        if self.wrapper:
            # the daemon may run as another uid
            os.chmod(notify_path, 0o666)
        timeout *= TIMEOUT_SCALE
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = notify_path
        env.pop("LISTEN_FDS", None)
        if self.env:
            env.update(self.env)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.wrapper + DAEMON_WRAPPER +
            [TAPLINKD, "--config", self.conf, "--socket", self.socket, "--verbose"] + self.args,
            stdout=logf, stderr=logf, env=env)
        logf.close()
        self.notifications = []
        try:
            if wait_ready:
                deadline = time.monotonic() + timeout
                while not any(n.startswith("READY=1") or "\nREADY=1" in n for n in self.notifications):
                    left = deadline - time.monotonic()
                    if self.proc.poll() is not None:
                        raise AssertionError("taplinkd exited with %d:\n%s" % (self.proc.returncode, self.log_text()))
                    if left <= 0:
                        raise AssertionError("taplinkd sent no READY=1 in %.0fs:\n%s" % (timeout, self.log_text()))
                    r, _, _ = select.select([notify], [], [], min(left, 0.1))
                    if r:
                        self.notifications.append(notify.recv(4096).decode())
        finally:
            if own_notify:
                notify.close()
                os.unlink(notify_path)
        return self

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def client(self):
        return Varlink(self.socket)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        timeout *= TIMEOUT_SCALE
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("taplinkd did not stop on signal %d" % sig)
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "SUMMARY: UndefinedBehaviorSanitizer")

    def sanitizer_reports(self):
        """Lines of the daemon's log where ASan/LSan/UBSan reported."""
        return [l for l in self.log_text().splitlines() if any(m in l for m in self.SANITIZER_MARKS)]

    def cleanup(self):
        """Removes every trace: the process, devices, table. The daemon gets
        SIGTERM first, so that a sanitizer build reports its leaks and a
        wrapper (valgrind) writes its summary."""
        if self.proc and self.proc.poll() is None:
            try:
                self.stop(signal.SIGTERM, timeout=60 if DAEMON_WRAPPER else 10)
            except AssertionError:
                pass
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        run(TAPLINKD, "--config", self.conf, "--cleanup", check=False)
        for name in links_with_prefix(self.prefix):
            run("ip", "link", "del", name, check=False)
        run("nft", "delete", "table", "inet", self.table, check=False)


class ClientProcess:
    """A Varlink client running as another uid (setpriv), driven over pipes.

    It keeps the fds it receives, so slots it acquired stay alive until
    close_fds() or stop(): the same as a VMM holding its TAP."""

    def __init__(self, socket_path, uid, gid=None, groups=()):
        gid = uid if gid is None else gid
        cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
        if groups:
            cmd.append("--groups=" + ",".join(str(g) for g in groups))
        else:
            cmd.append("--clear-groups")
        cmd += [PYTHON, CLIENT_PROXY, socket_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def request(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("client proxy died")
        return json.loads(line)

    def call(self, method, parameters=None):
        """(reply dict, number of fds received)"""
        r = self.request(op="call", method=method, parameters=parameters)
        return r["reply"], r["nfds"]

    def close_fds(self, slot):
        return self.request(op="close", slot=slot)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.proc.stdout.close()


# ---------------------------------------------------------------- traffic

ETH_P_ARP = 0x0806
VNET_HDR_LEN = 10
TUNGETIFF = 0x800454D2  # _IOR('T', 210, unsigned int)
TUNGETDEVNETNS = 0x54E3  # _IO('T', 227)
IFF_MULTI_QUEUE = 0x0100
IFF_PERSIST = 0x0800
IFF_VNET_HDR = 0x4000


def tun_info(fd):
    """(ifname, flags) of a TAP fd, as the kernel reports them (TUNGETIFF)."""
    ifr = fcntl.ioctl(fd, TUNGETIFF, bytes(40))
    return ifr[:16].split(b"\0")[0].decode(), struct.unpack("H", ifr[16:18])[0]


def tun_netns_inode(fd):
    """The inode of the network namespace a TAP fd's device is in."""
    ns = fcntl.ioctl(fd, TUNGETDEVNETNS)
    try:
        return os.fstat(ns).st_ino
    finally:
        os.close(ns)


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def _read_frames(fds, prefix_len, deadline):
    """Yields frames arriving on any of fds until deadline. A multi-queue
    TAP puts each packet on one queue of its choosing, so all are read."""
    for fd in fds:
        os.set_blocking(fd, False)
    while time.monotonic() < deadline:
        ready, _, _ = select.select(fds, [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return
        for fd in ready:
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                continue
            yield pkt[prefix_len:]


def arp_probe(fd, slot_obj, vnet_header=True, timeout=WAIT_TIMEOUT, read_fds=None):
    """Writes an ARP request for the slot's gateway into the TAP fd, as the
    guest, and returns True when the kernel's ARP reply comes back (on fd,
    or on any of read_fds)."""
    guest_mac = mac_bytes(slot_obj["mac"])
    guest_ip = socket.inet_aton(slot_obj["ipv4"]["guest"])
    gw_ip = socket.inet_aton(slot_obj["ipv4"]["gateway"])
    eth = b"\xff" * 6 + guest_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + guest_mac + guest_ip + b"\0" * 6 + gw_ip
    prefix = b"\0" * VNET_HDR_LEN if vnet_header else b""
    os.write(fd, prefix + eth + arp)
    for pkt in _read_frames(read_fds or [fd], len(prefix), time.monotonic() + timeout):
        if len(pkt) >= 42 and struct.unpack("!H", pkt[12:14])[0] == ETH_P_ARP:
            op = struct.unpack("!H", pkt[20:22])[0]
            if op == 2 and pkt[28:32] == gw_ip and pkt[0:6] == guest_mac:
                return True
    return False


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping_gateway(fd, slot_obj, src_ip=None, vnet_header=True, timeout=WAIT_TIMEOUT):
    """Sends an ICMP echo request from the guest (or from src_ip, to test
    anti-spoofing) to the gateway, resolving the gateway's MAC by ARP first.
    Returns True when the echo reply arrives."""
    guest_mac = mac_bytes(slot_obj["mac"])
    # the host side answers with its own MAC: 06:74:6c:SS:SS:SS
    gw_mac = b"\x06" + guest_mac[1:]
    src = socket.inet_aton(src_ip or slot_obj["ipv4"]["guest"])
    dst = socket.inet_aton(slot_obj["ipv4"]["gateway"])
    ident = os.getpid() & 0xFFFF
    payload = b"taplinkd-test"
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + payload
    icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0x4000, 64, 1, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    frame = gw_mac + guest_mac + struct.pack("!H", 0x0800) + ip + icmp
    prefix = b"\0" * VNET_HDR_LEN if vnet_header else b""
    # The kernel needs the guest's MAC for the reply: ARP first (the reply
    # to our probe is read and discarded).
    arp_probe(fd, slot_obj, vnet_header, timeout)
    os.write(fd, prefix + frame)
    for pkt in _read_frames([fd], len(prefix), time.monotonic() + timeout):
        if len(pkt) >= 42 and struct.unpack("!H", pkt[12:14])[0] == 0x0800:
            if pkt[23] == 1 and pkt[34] == 0 and struct.unpack("!H", pkt[38:40])[0] == ident:
                return True
    return False


class DaemonTestCase(unittest.TestCase):
    """Gives each test a fresh private daemon (self.d) and cleans up."""

    config = None
    args = ()

    def daemon_wrapper(self):
        """A command prefix the daemon runs under (Daemon's wrapper); none
        unless a test case says otherwise. self.tmp exists by then."""
        return ()

    def setUp(self):
        require_sandbox()
        run("ip", "link", "set", "lo", "up")
        self.tmp = tempfile.TemporaryDirectory(prefix="taplinkd-test-")
        os.chmod(self.tmp.name, 0o755)
        self.d = Daemon(self.tmp.name, config=self.config, args=self.args, wrapper=self.daemon_wrapper())
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self.assertNoSanitizerReport)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def assertNoSanitizerReport(self):
        reports = self.d.sanitizer_reports()
        if reports:
            self.fail("the daemon's sanitizers reported:\n" + self.d.log_text())

    def client(self):
        """A Varlink connection to this test's daemon, closed at the end."""
        c = self.d.client()
        self.addCleanup(c.close)
        return c

    def assertNoLeak(self, timeout=None):
        """No device with the prefix, no element in any set (waits for it,
        up to timeout, default WAIT_TIMEOUT)."""
        def clean():
            if links_with_prefix(self.d.prefix):
                return False
            return all(not v for v in all_elements(self.d.table).values())
        wait_for(clean, timeout, what="no leaked device or element")


# ---------------------------------------------------------------- helpers for
# test_hostile.py and test_privileges.py

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13


def raise_nofile(wanted):
    """Lifts this process's soft fd limit to wanted (at most the hard limit)
    and returns the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def open_fds(pid):
    """How many fds process pid holds."""
    return len(os.listdir("/proc/%d/fd" % pid))


def round_trip(client, method="io.taplinkd.Status"):
    """Seconds one call takes on client (an open Varlink)."""
    t0 = time.monotonic()
    client.call(method)
    return time.monotonic() - t0


_MOUNT_NS_SCRIPT = r'''
set -eu
dir=$1 tun_mode=$2 ro_sys=$3 proc_pid=$4
shift 4
mount -t tmpfs -o mode=0755,size=64k taplink-test "$dir"
if [ "$tun_mode" != - ]; then
    # a copy of the node with other permissions, only in this namespace
    mknod -m "$tun_mode" "$dir/tun" c 10 200
    mount --bind "$dir/tun" /dev/net/tun
fi
if [ "$ro_sys" = 1 ]; then
    # as ProtectKernelTunables= leaves it
    mount --bind /proc/sys /proc/sys
    mount -o remount,bind,ro /proc/sys
fi
if [ "$proc_pid" = 1 ]; then
    # as ProcSubset=pid and ProtectProc=invisible leave it
    mount -t proc -o subset=pid,hidepid=invisible proc /proc
fi
exec "$@"
'''


def private_mount_ns(scratch_dir, tun_mode=0o666, ro_proc_sys=False, proc_subset_pid=False):
    """A command prefix that runs the rest of the command in a private mount
    namespace (same network namespace) where /dev/net/tun is a copy with
    mode tun_mode (None: the real node), /proc/sys is read-only when
    ro_proc_sys, and /proc is a procfs with subset=pid,hidepid=invisible
    (no /proc/sys at all) when proc_subset_pid. scratch_dir (an empty
    directory this test owns) gets a tmpfs inside that namespace only.
    Nothing outside the namespace sees any of it."""
    os.makedirs(scratch_dir, exist_ok=True)
    mode = "-" if tun_mode is None else "%o" % tun_mode
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT_NS_SCRIPT, "sh",
            scratch_dir, mode, "1" if ro_proc_sys else "0", "1" if proc_subset_pid else "0"]


def setpriv_net_admin(uid, gid=None):
    """A command prefix that runs the rest as uid with CAP_NET_ADMIN and
    CAP_NET_RAW (the guest services' packet sockets) and nothing else, as
    taplinkd.service grants it (User=, AmbientCapabilities=,
    CapabilityBoundingSet=, NoNewPrivileges=, SecureBits=noroot-locked)."""
    gid = uid if gid is None else gid
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
            "--inh-caps=-all,+net_admin,+net_raw", "--ambient-caps=-all,+net_admin,+net_raw",
            "--bounding-set=-all,+net_admin,+net_raw", "--securebits=+noroot,+noroot_locked",
            "--no-new-privs"]


def proc_status(pid):
    """/proc/PID/status as a dict of strings."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


# ---------------------------------------------------------------- helpers for tests/chaos and test_limits

def connect_as(path, uid, gid=None, timeout=10.0):
    """A Varlink connection whose SO_PEERCRED names uid/gid.

    The kernel records the connecting process's effective ids (and its
    supplementary groups) at connect(), so switching the effective ids
    around connect() is enough; this root process switches straight back.
    Much cheaper than a setpriv'd ClientProcess, and the fds then arrive in
    this process (to probe traffic)."""
    gid = uid if gid is None else gid
    os.setegid(gid)
    try:
        os.seteuid(uid)
        try:
            return Varlink(path, timeout)
        finally:
            os.seteuid(0)
    finally:
        os.setegid(0)


def table_elements(table):
    """Every set's and map's elements of `inet table` in one `nft -j` call:
    {name: [elements as set_elements() returns them]} (a map's element is
    (key, value), each a tuple for a concatenation), or None when the table
    does not exist."""
    r = run("nft", "-j", "list", "table", "inet", table, check=False)
    if r.returncode != 0:
        return None
    out = {}
    for obj in json.loads(r.stdout)["nftables"]:
        if "set" in obj:
            out[obj["set"]["name"]] = [_set_element(e) for e in obj["set"].get("elem", [])]
        elif "map" in obj:
            out[obj["map"]["name"]] = [tuple(_set_element(x) for x in e) for e in obj["map"].get("elem", [])]
    return out


def fd_count(pid):
    """How many fds process pid has open."""
    return len(os.listdir("/proc/%d/fd" % pid))
