# SPDX-License-Identifier: MIT
"""The daemon does its whole job with only what systemd/taplinkd.service
grants it, emulated without systemd:

  User=, AmbientCapabilities=CAP_NET_ADMIN    setpriv: a uid of its own with
  CAP_NET_RAW, CapabilityBoundingSet= same,   CAP_NET_ADMIN and CAP_NET_RAW
                                              (the guest services' packet
                                              sockets) and nothing else,
  NoNewPrivileges=, SecureBits=noroot-locked  no_new_privs, noroot securebits
  ProtectKernelTunables=                      /proc/sys read-only (a private
                                              mount namespace)
  PrivateDevices= + BindPaths=/dev/net/tun    a 0666 /dev/net/tun, as udev
                                              makes it (this machine's is
                                              0600: a private copy, never
                                              the real node)
  SystemCallFilter=@system-service            a seccomp filter made from
  SystemCallFilter=~@privileged @resources    `systemd-analyze syscall-filter`
  SystemCallErrorNumber=EPERM                 (libseccomp via ctypes)
  RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_PACKET
  MemoryDenyWriteExecute=
  ProcSubset=pid, ProtectProc=invisible       a procfs with subset=pid

with net.ipv4.ip_forward already 1 in the test's namespace, as the shipped
sysctl.d file sets it. Run as root in a throwaway network namespace
(scripts/run-integration-tests.sh).
"""

import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    CAP_NET_ADMIN, CAP_NET_RAW, DAEMON_WRAPPER, PYTHON, ROOT, TAPLINKD, ClientProcess, Daemon, addrs, all_elements, arp_probe,
    current_elements, expected_elements, link, links_with_prefix, ping_gateway, private_mount_ns, proc_status,
    require_sandbox, run, set_elements, setpriv_net_admin, wait_for)

DAEMON_UID = 977  # stands for the taplinkd system user (taplinkd.sysusers.conf)
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def set_forwarding(value):
    with open(IP_FORWARD, "w") as f:
        f.write("%d\n" % value)


def get_forwarding():
    with open(IP_FORWARD) as f:
        return int(f.read())


# ---------------------------------------------------------------- seccomp

def syscall_groups():
    """{"@group": [entries]} from `systemd-analyze syscall-filter`."""
    groups, current = {}, None
    for line in run("systemd-analyze", "syscall-filter").stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(groups, names):
    out = set()
    for name in names:
        if name.startswith("@"):
            out |= expand(groups, groups[name])
        else:
            out.add(name)
    return out


# LeakSanitizer needs ptrace-like access to the process, which the
# confinement (no-new-privs, no capability but CAP_NET_ADMIN) takes away: in
# a sanitizer build ASan/UBSan still run here, and every other suite checks
# leaks.
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0"} if "/sanitize" in TAPLINKD else None


def unit_path():
    return os.path.join(ROOT, "systemd", "taplinkd.service")


def unit_setting(key):
    """The last value of key= in taplinkd.service, or None."""
    value = None
    with open(unit_path()) as f:
        for line in f:
            if line.startswith(key + "="):
                value = line.split("=", 1)[1].strip()
    return value


def unit_syscall_allow_list():
    """SystemCallFilter=@system-service, then =~@privileged @resources: the
    allowed set, as systemd computes it from the unit's lines."""
    allow, groups = None, syscall_groups()
    with open(unit_path()) as f:
        for line in f:
            if not line.startswith("SystemCallFilter="):
                continue
            value = line.split("=", 1)[1].strip()
            deny = value.startswith("~")
            names = expand(groups, value.lstrip("~").split())
            if deny:
                allow = (allow or set()) - names
            else:
                allow = (allow or set()) | names
    return sorted(allow or ())


# Loads a seccomp filter as systemd would for the unit, then execs argv[2:].
# argv[1]: JSON {"allow": [system calls], "mdwe": bool}. Everything else
# fails with EPERM (SystemCallErrorNumber=EPERM); socket() only for AF_UNIX
# AF_NETLINK and AF_PACKET (RestrictAddressFamilies=); with mdwe, no writable and
# executable mapping and no PROT_EXEC mprotect (MemoryDenyWriteExecute=).
SECCOMP_EXEC = r'''
import ctypes, errno, json, os, sys

lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                       ctypes.c_void_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]


class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


ALLOW = 0x7fff0000
EQ, MASKED_EQ = 4, 7
PROT_WRITE, PROT_EXEC = 2, 4
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)
conditional = {"socket", "mmap", "mprotect", "pkey_mprotect"}


def add(name, *cmps):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr < 0:
        return  # not a system call on this architecture
    arr = (Cmp * len(cmps))(*cmps) if cmps else None
    r = lib.seccomp_rule_add_array(ctypes.c_void_p(ctx), ALLOW, nr, len(cmps), arr)
    if r < 0:
        sys.exit("seccomp_rule_add %s: %s" % (name, os.strerror(-r)))


conf = json.loads(sys.argv[1])
allowed = set(conf["allow"])
if not conf["mdwe"]:
    conditional -= {"mmap", "mprotect", "pkey_mprotect"}
for name in sorted(allowed - conditional):
    add(name)
if "socket" in allowed:
    for family in (1, 16, 17):  # AF_UNIX, AF_NETLINK, AF_PACKET
        add("socket", Cmp(0, EQ, family, 0))
if "mmap" in conditional and "mmap" in allowed:
    for prot in (0, PROT_WRITE, PROT_EXEC):
        add("mmap", Cmp(2, MASKED_EQ, PROT_WRITE | PROT_EXEC, prot))
for name in ("mprotect", "pkey_mprotect"):
    if name in conditional and name in allowed:
        add(name, Cmp(2, MASKED_EQ, PROT_EXEC, 0))
r = lib.seccomp_load(ctypes.c_void_p(ctx))
if r < 0:
    sys.exit("seccomp_load: %s" % os.strerror(-r))
os.execvp(sys.argv[2], sys.argv[2:])
'''


class UnitPrivilegesTest(unittest.TestCase):
    """A daemon with exactly the unit's privileges (see the module doc)."""

    def setUp(self):
        require_sandbox()
        run("ip", "link", "set", "lo", "up")
        old = get_forwarding()
        self.addCleanup(set_forwarding, old)
        set_forwarding(1)  # what /usr/lib/sysctl.d/50-taplinkd.conf does
        self.tmp = tempfile.TemporaryDirectory(prefix="taplinkd-priv-")
        self.addCleanup(self.tmp.cleanup)
        os.chmod(self.tmp.name, 0o755)
        # RuntimeDirectory=: the daemon's own
        os.chown(self.tmp.name, DAEMON_UID, DAEMON_UID)
        self.n_mounts = 0

    def confined(self, uid=DAEMON_UID, ro_proc_sys=True, proc_subset_pid=False, tun_mode=0o666,
                 seccomp=True, caps=True):
        """The command prefix for a daemon with the unit's privileges."""
        self.n_mounts += 1
        cmd = private_mount_ns(os.path.join(self.tmp.name, "mnt%d" % self.n_mounts), tun_mode=tun_mode,
                               ro_proc_sys=ro_proc_sys, proc_subset_pid=proc_subset_pid)
        if caps:
            cmd += setpriv_net_admin(uid)
        else:
            cmd += ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        if seccomp:
            # valgrind (scripts/check-valgrind.sh) translates code into
            # writable+executable memory: MemoryDenyWriteExecute= only
            # without it.
            conf = {"allow": unit_syscall_allow_list(), "mdwe": not DAEMON_WRAPPER}
            cmd += [PYTHON, "-c", SECCOMP_EXEC, json.dumps(conf)]
        return cmd

    def daemon(self, **kw):
        d = Daemon(self.tmp.name, wrapper=self.confined(**kw), env=SANITIZER_ENV)
        self.addCleanup(d.cleanup)
        return d

    def client(self, d):
        c = d.client()
        self.addCleanup(c.close)
        return c

    def assertNoLeak(self, d, timeout=None):
        def clean():
            if links_with_prefix(d.prefix):
                return False
            return all(not v for v in all_elements(d.table).values())
        wait_for(clean, timeout, what="no leaked device or element")

    def assertConfined(self, d):
        st = proc_status(d.proc.pid)
        self.assertEqual(st["Uid"].split(), [str(DAEMON_UID)] * 4)
        self.assertEqual(st["Gid"].split(), [str(DAEMON_UID)] * 4)
        self.assertEqual(st["Groups"], "")
        for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            self.assertEqual(int(st[k], 16), 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW, k)
        self.assertEqual(int(st["CapInh"], 16), 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        # Its view: a 0666 tun node and a read-only /proc/sys; ours is
        # untouched.
        root = "/proc/%d/root" % d.proc.pid
        self.assertEqual(os.stat(root + "/dev/net/tun").st_mode & 0o777, 0o666)
        self.assertEqual(os.stat("/dev/net/tun").st_mode & 0o777, 0o600)
        with open("/proc/%d/mountinfo" % d.proc.pid) as f:
            ro = [line.split()[5] for line in f if line.split()[4] == "/proc/sys"]
        self.assertTrue(ro and "ro" in ro[-1].split(","), ro)

    # ------------------------------------------------------------ the job

    def test_acquire_traffic_release_as_unit(self):
        d = self.daemon().start()
        self.assertConfined(d)
        c = self.client(d)
        mq, mq_fds = c.acquire(queues=2, vnetHeader=False)
        self.assertEqual(len(mq_fds), 2)
        self.assertTrue(link(mq["ifname"])["linkinfo"]["info_data"]["multi_queue"])
        self.assertTrue(arp_probe(mq_fds[0], mq, vnet_header=False, read_fds=mq_fds))
        for fd in mq_fds:
            os.close(fd)
        slot, fds = c.acquire(label="vm-1")
        l = link(slot["ifname"])
        self.assertEqual(l["mtu"], 1500)
        self.assertEqual(l["address"], "06" + slot["mac"][2:])
        self.assertEqual(l.get("ifalias"), "vm-1")
        self.assertIn("UP", l["flags"])
        a = {(x["family"], x["local"], x["prefixlen"]) for x in addrs(slot["ifname"])}
        self.assertIn(("inet", slot["ipv4"]["gateway"], 30), a)
        self.assertIn(("inet6", slot["ipv6"]["gateway"], 64), a)
        self.assertEqual(current_elements(d.table), expected_elements([slot]))
        self.assertTrue(arp_probe(fds[0], slot), "no ARP reply through the TAP")
        self.assertTrue(ping_gateway(fds[0], slot), "no echo reply from the gateway")

        # An unprivileged client: TUNSETOWNER to its uid; a persistent slot.
        u = ClientProcess(d.socket, 1000)
        self.addCleanup(u.stop)
        reply, nfds = u.call("io.taplinkd.Acquire", {"label": "fc", "persistent": True})
        self.assertIn("parameters", reply, reply)
        pers = reply["parameters"]["slot"]
        info = link(pers["ifname"])["linkinfo"]["info_data"]
        self.assertTrue(info["persist"])
        try:
            owner = pwd.getpwuid(1000).pw_name
        except KeyError:
            owner = "1000"
        self.assertEqual(info.get("user"), owner)
        u.close_fds(pers["slot"])
        self.assertIsNotNone(link(pers["ifname"]))
        reply, _ = u.call("io.taplinkd.Release", {"slot": pers["slot"]})
        self.assertEqual(reply, {"parameters": {}})
        self.assertIsNone(link(pers["ifname"]))

        c.call("io.taplinkd.Release", {"slot": slot["slot"]})
        self.assertIsNone(link(slot["ifname"]))
        for fd in fds:
            os.close(fd)
        self.assertNoLeak(d)
        self.assertEqual(d.stop(), 0, d.log_text())

    def test_fd_close_tears_down_as_unit(self):
        d = self.daemon().start()
        c = self.client(d)
        slot, fds = c.acquire()
        for fd in fds:
            os.close(fd)
        wait_for(lambda: link(slot["ifname"]) is None, what="device gone")
        self.assertNoLeak(d)
        wait_for(lambda: c.call("io.taplinkd.List")[0]["slots"] == [], what="slot freed")

    def test_restart_reconcile_and_cleanup_as_unit(self):
        d = self.daemon().start()
        c = self.client(d)
        live, live_fds = c.acquire(label="keep")
        pers, pers_fds = c.acquire(label="pers", persistent=True)
        for fd in pers_fds:
            os.close(fd)
        dying, dying_fds = c.acquire(label="dies")
        c.close()
        d.kill9()
        for fd in dying_fds:
            os.close(fd)
        wait_for(lambda: link(dying["ifname"]) is None, what="dying device gone")
        self.assertIn(dying["ipv4"]["subnet"], set_elements(d.table, "slots_v4"))

        d.wrapper = self.confined()
        d.start()
        self.assertConfined(d)
        c = self.client(d)
        slots = {s["slot"]: s for s in c.call("io.taplinkd.List")[0]["slots"]}
        self.assertEqual(sorted(slots), sorted([live["slot"], pers["slot"]]))
        self.assertEqual(slots[pers["slot"]]["label"], "pers")
        self.assertEqual(current_elements(d.table), expected_elements(slots.values()))
        self.assertTrue(arp_probe(live_fds[0], live), "a live fd must pass traffic after the restart")
        for fd in live_fds:
            os.close(fd)
        wait_for(lambda: link(live["ifname"]) is None, what="adopted device gone")
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log_text())
        self.assertIsNotNone(link(pers["ifname"]), "SIGTERM leaves live slots alone")

        # --cleanup (uninstall) with the same privileges.
        r = subprocess.run(self.confined() + [TAPLINKD, "--config", d.conf, "--cleanup"],
                           capture_output=True, text=True, env=dict(os.environ, **(SANITIZER_ENV or {})))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(links_with_prefix(d.prefix), [])
        tables = [o["table"]["name"] for o in json.loads(run("nft", "-j", "list", "tables").stdout)["nftables"]
                  if "table" in o]
        self.assertNotIn(d.table, tables)

    def test_unit_proc_view(self):
        """/proc as the unit leaves it: ProcSubset=pid (when the unit sets
        it) leaves no /proc/sys at all. With forwarding on (sysctl.d), the
        daemon must start."""
        subset = unit_setting("ProcSubset") == "pid"
        d = self.daemon(proc_subset_pid=subset)
        try:
            d.start()
        except AssertionError as e:
            self.fail("does not start with the unit's /proc (ProcSubset=%s): %s"
                      % (unit_setting("ProcSubset"), e))
        c = self.client(d)
        slot, fds = c.acquire()
        self.assertTrue(arp_probe(fds[0], slot))
        for fd in fds:
            os.close(fd)
        self.assertNoLeak(d)

    # ------------------------------------------------------------ refusals

    def start_fails(self, d):
        """Starts d, expects it to exit non-zero; returns its log."""
        with self.assertRaises(AssertionError) as e:
            d.start(timeout=10)
        self.assertIn("taplinkd exited with 1", str(e.exception))
        return d.log_text()

    def test_forwarding_off_and_proc_sys_read_only(self):
        set_forwarding(0)
        log = self.start_fails(self.daemon())
        self.assertIn(IP_FORWARD, log)
        self.assertIn("Read-only file system", log)
        self.assertIn("sysctl.d", log)
        self.assertEqual(get_forwarding(), 0)

    def test_forwarding_off_and_proc_sys_writable(self):
        """CAP_NET_ADMIN lets a non-root uid write net.* sysctls of its own
        namespace: the daemon turns forwarding on itself."""
        set_forwarding(0)
        d = self.daemon(ro_proc_sys=False).start()
        self.assertEqual(get_forwarding(), 1)
        d.stop()

    def test_without_net_admin(self):
        """CAP_NET_ADMIN is needed: the first thing to refuse is nftables."""
        log = self.start_fails(self.daemon(caps=False))
        self.assertIn("nftables", log)
        self.assertIn("Operation not permitted", log)

    def test_without_tun_access(self):
        """This machine's /dev/net/tun is 0600: without udev's 0666 the
        daemon's uid cannot open it, and must say that it is the open that
        failed (not blame TUNGETFEATURES, which suggests a kernel without
        TAP support)."""
        log = self.start_fails(self.daemon(tun_mode=None))
        last = log.strip().splitlines()[-1]
        self.assertIn("/dev/net/tun", last)
        self.assertIn("Permission denied", last)
        self.assertIn("open", last)
        self.assertNotIn("TUNGETFEATURES", last)


if __name__ == "__main__":
    unittest.main()
