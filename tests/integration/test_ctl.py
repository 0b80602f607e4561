# SPDX-License-Identifier: MIT
"""taplinkctl against the real daemon.

Run as root inside a throwaway network namespace (scripts/run-integration-
tests.sh runs this file under `unshare -n`), with BUILD naming the build
directory. Each test starts its own taplinkd in the foreground with its own
config, socket, nftables table and interface prefix, and removes what it
made afterwards (taplinkd --cleanup).
"""

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import WAIT_TIMEOUT, Varlink, link_events_handled, wait_for  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
TAPLINKD = os.path.join(BUILD, "taplinkd")
TAPLINKCTL = os.path.join(BUILD, "taplinkctl")
# The child runs as uid 1000 too: an interpreter under /root would not do.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
UNPRIVILEGED = 1000  # in allow_users
STRANGER = 1001  # allowed nothing

# The command `taplinkctl run` executes: it reports what it was given (its
# pid, uid, environment, open fds, and what the kernel says about each queue
# fd) as one JSON line.
CHILD = r'''
import fcntl, json, os, struct, subprocess, sys

TUNGETIFF = 0x800454D2  # _IOR('T', 210, unsigned int)
out = {
    "pid": os.getpid(),
    "uid": os.getuid(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("TAPLINK_")},
    "fds": {},
    "tun": {},
}
for name in os.listdir("/proc/self/fd"):
    try:
        out["fds"][name] = os.readlink("/proc/self/fd/" + name)
    except OSError:
        pass  # the directory's own fd, closed by now
for fd in [int(x) for x in os.environ.get("TAPLINK_FDS", "").split(",") if x]:
    ifr = fcntl.ioctl(fd, TUNGETIFF, bytes(40))
    out["tun"][str(fd)] = {
        "name": ifr[:16].split(b"\0")[0].decode(),
        "flags": struct.unpack("H", ifr[16:18])[0],
        "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
    }
if os.environ.get("CHILD_LIST"):
    r = subprocess.run([os.environ["CHILD_LIST"], "--json", "list"], capture_output=True, check=True)
    out["list"] = json.loads(r.stdout)
print(json.dumps(out))
sys.exit(int(os.environ.get("CHILD_EXIT", "0")))
'''

IFF_TAP = 0x0002
IFF_MULTI_QUEUE = 0x0100
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000

_counter = 0


def link_exists(ifname):
    try:
        socket.if_nametoindex(ifname)
        return True
    except OSError:
        return False


@unittest.skipUnless(os.geteuid() == 0, "needs root (TAP devices, nftables)")
class CtlTest(unittest.TestCase):
    def setUp(self):
        global _counter
        _counter += 1
        for binary in (TAPLINKD, TAPLINKCTL):
            self.assertTrue(os.access(binary, os.X_OK), f"{binary} missing: build first")
        self.dir = tempfile.mkdtemp(prefix="test-ctl-")
        # uid 1000 must reach the socket and the child script.
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "io.taplinkd")
        self.table = f"tlctl{os.getpid()}_{_counter}"
        self.prefix = f"c{_counter}t"
        self.child = os.path.join(self.dir, "child.py")
        with open(self.child, "w") as f:
            f.write(CHILD)
        os.chmod(self.child, 0o644)
        self.daemon = None
        self.start_daemon()

    def tearDown(self):
        self.stop_daemon()
        subprocess.run([TAPLINKD, "--config", self.config, "--cleanup"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the daemon -----------------------------------------------------------

    def start_daemon(self, ipv6=True):
        self.config = os.path.join(self.dir, "taplinkd.conf")
        with open(self.config, "w") as f:
            f.write(f"[daemon]\nnft_table = {self.table}\nifname_prefix = {self.prefix}\n"
                    f"[network]\nipv6 = {'yes' if ipv6 else 'no'}\n"
                    f"[access]\nallow_groups =\nallow_users = {UNPRIVILEGED}\n")
        self.log_path = os.path.join(self.dir, "taplinkd.log")
        log = open(self.log_path, "ab")
        self.daemon = subprocess.Popen([TAPLINKD, "--config", self.config, "--socket", self.socket],
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                self.fail(f"taplinkd exited with {self.daemon.returncode}:\n{self.daemon_log()}")
            if os.path.exists(self.socket) and self.ctl("status", check=None).returncode == 0:
                return
            time.sleep(0.05)
        self.fail(f"taplinkd did not start serving:\n{self.daemon_log()}")

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def daemon_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return "(no log)"

    # --- running taplinkctl --------------------------------------------------------

    def ctl(self, *args, check=0, uid=None, env=None, socket_path=None):
        """Runs taplinkctl; check is the exit status expected (None: any)."""
        e = dict(os.environ)
        e["TAPLINK_SOCKET"] = socket_path or self.socket
        e.update(env or {})
        cmd = [TAPLINKCTL, *args]
        if uid is not None:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=30)
        if check is not None and r.returncode != check:
            self.fail(f"{' '.join(args)}: exit {r.returncode}, expected {check}\n"
                      f"stdout: {r.stdout}\nstderr: {r.stderr}\ndaemon:\n{self.daemon_log()}")
        return r

    def run_child(self, *run_args, uid=None, env=None, check=0):
        r = self.ctl("run", *run_args, "--", PYTHON, self.child, uid=uid, env=env, check=check)
        return json.loads(r.stdout)

    def list_slots(self, uid=None):
        slots = json.loads(self.ctl("--json", "list", uid=uid).stdout)
        self.assertIsInstance(slots, list)
        return slots

    def assert_slot_gone(self, ifname, within=WAIT_TIMEOUT):
        deadline = time.monotonic() + within
        while True:
            names = [s["ifname"] for s in self.list_slots()]
            if ifname not in names and not link_exists(ifname):
                return
            if time.monotonic() > deadline:
                self.fail(f"{ifname} still there {within:.0f} s after its fds closed: {names}\n"
                          f"{self.daemon_log()}")
            time.sleep(0.05)

    def assert_stderr_line(self, r, pattern):
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"expected one line on stderr, got: {r.stderr!r}")
        self.assertRegex(lines[0], pattern)

    # --- run ------------------------------------------------------------------------------

    def test_run_hands_fd_and_environment(self):
        p = subprocess.Popen([TAPLINKCTL, "run", "--label", "vm-1", "--", PYTHON, self.child],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TAPLINK_SOCKET": self.socket, "CHILD_LIST": TAPLINKCTL})
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err + self.daemon_log())
        child = json.loads(out)

        # taplinkctl became the command: same process, nothing left behind.
        self.assertEqual(child["pid"], p.pid)

        env = child["env"]
        slot = int(env["TAPLINK_SLOT"])
        ifname = env["TAPLINK_IFNAME"]
        self.assertEqual(ifname, f"{self.prefix}{slot}")
        self.assertEqual(env["TAPLINK_FDS"], "3")
        self.assertEqual(env["TAPLINK_MAC"], "02:74:6c:%02x:%02x:%02x" % (
            slot >> 16 & 0xff, slot >> 8 & 0xff, slot & 0xff))
        # The default pools (docs/DESIGN.md, "Slots and addresses"): /30 and /64 subnets.
        base4 = ipaddress.IPv4Address("10.213.0.0") + 4 * slot
        base6 = ipaddress.IPv6Address("fd74:6c00::") + (slot << 64)
        gw, guest = str(base4 + 1), str(base4 + 2)
        self.assertEqual(env["TAPLINK_IPV4_GATEWAY"], gw)
        self.assertEqual(env["TAPLINK_IPV4_GUEST"], guest)
        self.assertEqual(env["TAPLINK_IPV4_PREFIX"], "30")
        self.assertEqual(env["TAPLINK_IPV6_GATEWAY"], str(base6 + 1))
        self.assertEqual(env["TAPLINK_IPV6_GUEST"], str(base6 + 2))
        self.assertEqual(env["TAPLINK_KERNEL_IP_ARG"], f"ip={guest}::{gw}:255.255.255.252::eth0:off")

        # Exactly stdio and the TAP fd; the daemon connection did not leak.
        self.assertEqual(sorted(child["fds"]), ["0", "1", "2", "3"])
        self.assertEqual(child["fds"]["3"], "/dev/net/tun")
        tun = child["tun"]["3"]
        self.assertEqual(tun["name"], ifname)
        self.assertEqual(tun["flags"] & (IFF_TAP | IFF_NO_PI), IFF_TAP | IFF_NO_PI)
        self.assertTrue(tun["flags"] & IFF_VNET_HDR)
        self.assertFalse(tun["flags"] & IFF_MULTI_QUEUE)
        self.assertFalse(tun["cloexec"])

        # While the child ran, the daemon listed the slot with its label.
        listed = [s for s in child["list"] if s["slot"] == slot]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0]["label"], "vm-1")
        self.assertEqual(listed[0]["ifname"], ifname)
        self.assertFalse(listed[0]["persistent"])

        # The child exited, its fd closed: the slot is gone.
        self.assert_slot_gone(ifname)

    def test_run_two_queues_at_fd_5(self):
        child = self.run_child("--queues", "2", "--fd", "5", "--no-vnet-hdr")
        env = child["env"]
        self.assertEqual(env["TAPLINK_FDS"], "5,6")
        self.assertEqual(sorted(child["fds"]), ["0", "1", "2", "5", "6"])
        for fd in ("5", "6"):
            self.assertEqual(child["fds"][fd], "/dev/net/tun")
            tun = child["tun"][fd]
            self.assertEqual(tun["name"], env["TAPLINK_IFNAME"])
            self.assertTrue(tun["flags"] & IFF_MULTI_QUEUE)
            self.assertFalse(tun["flags"] & IFF_VNET_HDR)
            self.assertFalse(tun["cloexec"])
        self.assert_slot_gone(env["TAPLINK_IFNAME"])

    def test_run_replaces_fds_at_targets(self):
        # The caller has fds open at 3 and 4: they are replaced by the
        # queue fds, not passed on beside them.
        r = subprocess.run(
            ["sh", "-c", f'exec 3</dev/null 4</dev/null; exec "{TAPLINKCTL}" run --queues 2 -- '
                         f'"{PYTHON}" "{self.child}"'],
            capture_output=True, text=True, timeout=30, env={**os.environ, "TAPLINK_SOCKET": self.socket})
        self.assertEqual(r.returncode, 0, r.stderr)
        child = json.loads(r.stdout)
        self.assertEqual(sorted(child["fds"]), ["0", "1", "2", "3", "4"])
        self.assertEqual(child["fds"]["3"], "/dev/net/tun")
        self.assertEqual(child["fds"]["4"], "/dev/net/tun")
        self.assert_slot_gone(child["env"]["TAPLINK_IFNAME"])

    def test_run_passes_exit_status(self):
        r = self.ctl("run", "--", PYTHON, self.child, env={"CHILD_EXIT": "7"}, check=7)
        self.assert_slot_gone(json.loads(r.stdout)["env"]["TAPLINK_IFNAME"])

    def test_run_command_not_found(self):
        r = self.ctl("run", "--", os.path.join(self.dir, "no-such-command"), check=127)
        self.assert_stderr_line(r, r"^taplinkctl: run: cannot execute .*no-such-command: No such file or directory$")
        wait_for(lambda: self.list_slots() == [], what="no slot left behind")

    def test_run_as_unprivileged_user(self):
        child = self.run_child(uid=UNPRIVILEGED, env={"CHILD_LIST": TAPLINKCTL})
        self.assertEqual(child["uid"], UNPRIVILEGED)
        self.assertEqual(child["fds"]["3"], "/dev/net/tun")
        self.assertEqual(child["tun"]["3"]["name"], child["env"]["TAPLINK_IFNAME"])
        # A user sees only their own slots, and this one is theirs.
        self.assertEqual(len(child["list"]), 1)
        self.assertEqual(child["list"][0]["ownerUid"], UNPRIVILEGED)
        self.assertEqual(child["list"][0]["ifname"], child["env"]["TAPLINK_IFNAME"])
        self.assert_slot_gone(child["env"]["TAPLINK_IFNAME"])

    def test_run_without_ipv6(self):
        self.stop_daemon()
        self.start_daemon(ipv6=False)
        # Inherited values must not survive: unset means no IPv6.
        child = self.run_child(env={"TAPLINK_IPV6_GUEST": "stale", "TAPLINK_IPV6_GATEWAY": "stale"})
        self.assertNotIn("TAPLINK_IPV6_GUEST", child["env"])
        self.assertNotIn("TAPLINK_IPV6_GATEWAY", child["env"])
        self.assertIn("TAPLINK_IPV4_GUEST", child["env"])

    # --- acquire, release, list, status ----------------------------------------------------

    def test_acquire_persistent_then_release(self):
        r = self.ctl("--json", "acquire", "--persistent", "--label", "fc-1")
        slot = json.loads(r.stdout)
        for key in ("slot", "ifname", "label", "ownerUid", "mac", "mtu", "queues", "vnetHeader",
                    "persistent", "ipv4", "ipv6", "kernelIpArg"):
            self.assertIn(key, slot)
        self.assertTrue(slot["persistent"])
        self.assertEqual(slot["label"], "fc-1")
        self.assertEqual(slot["ownerUid"], 0)

        # taplinkctl has exited and closed its fds: the device stays, also
        # once the daemon has seen whatever that close did to the link.
        c = Varlink(self.socket)
        self.addCleanup(c.close)
        link_events_handled(c)
        self.assertTrue(link_exists(slot["ifname"]))
        listed = self.list_slots()
        self.assertEqual([s["slot"] for s in listed], [slot["slot"]])
        self.assertEqual(listed[0], slot)

        table = self.ctl("list").stdout.splitlines()
        self.assertEqual(table[0].split(), ["SLOT", "IFNAME", "LABEL", "OWNER", "IPV4", "IPV6", "QUEUES"])
        self.assertEqual(table[1].split()[:3], [str(slot["slot"]), slot["ifname"], "fc-1"])
        # Columns are aligned: every row starts its IFNAME where the header does.
        col = table[0].index("IFNAME")
        self.assertEqual(table[1][col:].split()[0], slot["ifname"])

        self.assertEqual(self.ctl("release", str(slot["slot"])).stdout, "")
        self.assert_slot_gone(slot["ifname"])

    def test_acquire_human_output(self):
        r = self.ctl("acquire", "--persistent", "--mtu", "9000", "--queues", "2")
        fields = dict(re.match(r"^([^:]+(?: ip=)?):\s+(.*)$", line).groups() for line in r.stdout.splitlines())
        self.assertEqual(fields["mtu"], "9000")
        self.assertEqual(fields["queues"], "2")
        self.assertEqual(fields["persistent"], "yes")
        self.assertTrue(fields["kernel ip="].startswith("ip="))
        self.ctl("release", fields["slot"])
        self.assert_slot_gone(fields["ifname"])

    def test_unprivileged_persistent_slot(self):
        slot = json.loads(self.ctl("--json", "acquire", "--persistent", uid=UNPRIVILEGED).stdout)
        self.assertEqual(slot["ownerUid"], UNPRIVILEGED)
        root_slot = json.loads(self.ctl("--json", "acquire", "--persistent").stdout)
        # The user sees only their own slot, and cannot release root's.
        self.assertEqual([s["slot"] for s in self.list_slots(uid=UNPRIVILEGED)], [slot["slot"]])
        self.assertEqual(len(self.list_slots()), 2)
        r = self.ctl("release", str(root_slot["slot"]), uid=UNPRIVILEGED, check=1)
        self.assert_stderr_line(r, r"^taplinkctl: release: io\.taplinkd\.NoSuchSlot \(slot=%d\)$" % root_slot["slot"])
        self.ctl("release", str(slot["slot"]), uid=UNPRIVILEGED)
        self.ctl("release", str(root_slot["slot"]))
        self.assert_slot_gone(slot["ifname"])
        self.assert_slot_gone(root_slot["ifname"])

    def test_list_json(self):
        self.assertEqual(self.ctl("--json", "list").stdout, "[]\n")
        self.assertEqual(self.ctl("list", "--json").stdout, "[]\n")
        a = json.loads(self.ctl("--json", "acquire", "--persistent").stdout)
        b = json.loads(self.ctl("--json", "acquire", "--persistent", "--queues", "3").stdout)
        slots = self.list_slots()
        self.assertEqual(sorted(s["slot"] for s in slots), sorted([a["slot"], b["slot"]]))
        for s in slots:
            self.assertIsInstance(s["ipv4"], dict)
            self.assertEqual(s["ipv4"]["prefixLength"], 30)
            self.assertEqual(s["ipv6"]["prefixLength"], 64)
        self.assertEqual({s["slot"]: s["queues"] for s in slots}, {a["slot"]: 1, b["slot"]: 3})
        self.ctl("release", str(a["slot"]))
        self.ctl("release", str(b["slot"]))

    def test_status(self):
        st = json.loads(self.ctl("--json", "status").stdout)
        self.assertEqual(set(st), {"version", "slotsInUse", "maxSlots"})
        self.assertEqual(st["slotsInUse"], 0)
        self.assertEqual(st["maxSlots"], 16384)
        text = self.ctl("status").stdout
        self.assertRegex(text, r"(?m)^version:\s+\S+$")
        self.assertRegex(text, r"(?m)^slots in use:\s+0$")
        # Status answers even a user allowed nothing else.
        self.ctl("status", uid=STRANGER)

    # --- exit statuses ------------------------------------------------------------------------

    def test_exit_0(self):
        self.ctl("status")
        self.ctl("--help")
        self.ctl("run", "--help")
        self.assertRegex(self.ctl("--version").stdout, r"^taplinkctl \S+\n$")

    def test_exit_1_refused(self):
        r = self.ctl("release", "4000", check=1)
        self.assert_stderr_line(r, r"^taplinkctl: release: io\.taplinkd\.NoSuchSlot \(slot=4000\)$")
        r = self.ctl("acquire", "--persistent", "--label", "no spaces", check=1)
        self.assert_stderr_line(r, r"^taplinkctl: acquire: org\.varlink\.service\.InvalidParameter "
                                   r"\(parameter=label\)$")
        r = self.ctl("run", "--", "true", uid=STRANGER, check=1)
        self.assert_stderr_line(r, r"^taplinkctl: run: io\.taplinkd\.PermissionDenied$")
        r = self.ctl("list", uid=STRANGER, check=1)
        self.assert_stderr_line(r, r"PermissionDenied")

    def test_exit_2_usage(self):
        for args in (
            [],
            ["frobnicate"],
            ["--bogus", "status"],
            ["status", "extra"],
            ["release"],
            ["release", "abc"],
            ["release", "-1"],
            ["release", "1x"],
            ["release", "99999999999"],
            ["acquire"],
            ["acquire", "--label", "x"],
            ["acquire", "--persistent", "--mtu", "abc"],
            ["acquire", "--persistent", "--mtu", "12"],
            ["acquire", "--persistent", "--queues", "0"],
            ["acquire", "--persistent", "--queues"],
            ["run"],
            ["run", "--"],
            ["run", "--fd", "1", "--", "true"],
            ["run", "--fd", "x", "--", "true"],
            ["run", "--queues", "2.0", "--", "true"],
            ["--socket", "", "status"],
        ):
            with self.subTest(args=args):
                r = self.ctl(*args, check=2)
                self.assert_stderr_line(r, r"^taplinkctl: ")
        # Nothing was acquired on the way.
        self.assertEqual(self.list_slots(), [])

    def test_exit_3_unreachable(self):
        missing = os.path.join(self.dir, "nothing-here")
        r = self.ctl("status", socket_path=missing, check=3)
        self.assert_stderr_line(r, r"^taplinkctl: cannot reach taplinkd at %s: No such file or directory$"
                                % re.escape(missing))
        r = self.ctl("--socket", missing, "list", check=3)
        self.assert_stderr_line(r, r"^taplinkctl: cannot reach taplinkd at ")
        self.ctl("run", "--", "true", socket_path=missing, check=3)
        # A file that is not a socket, and a daemon that has gone away.
        self.ctl("--socket", self.config, "status", check=3)
        self.stop_daemon()
        self.ctl("status", check=3)


if __name__ == "__main__":
    unittest.main()
