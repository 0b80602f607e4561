# SPDX-License-Identifier: MIT
"""taplinkctl's egress policy and published ports against the real daemon.

Run as root inside a throwaway network namespace (scripts/run-integration-
tests.sh runs this file under `unshare -n`). Each test gets a private daemon
from harness.DaemonTestCase. What is checked here is the client's side: the
options of run and acquire, the commands egress, publish and unpublish, what
list prints, and the daemon's refusals as taplinkctl reports them. That the
kernel enforces the policy is the daemon's tests' business.
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TAPLINKCTL, DaemonTestCase  # noqa: E402

USER = 1000  # in the harness's allow_users


def plain(entries):
    """Entries as the daemon sent them, without null members (an optional
    member may come as null or not at all)."""
    return [{k: v for k, v in e.items() if v is not None} for e in entries]


class CtlPolicyTest(DaemonTestCase):
    def ctl(self, *args, check=0, uid=None):
        """Runs taplinkctl against this test's daemon; check is the exit
        status expected."""
        cmd = [TAPLINKCTL, "--socket", self.d.socket, *args]
        if uid is not None:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check is not None and r.returncode != check:
            self.fail(f"{' '.join(args)}: exit {r.returncode}, expected {check}\n"
                      f"stdout: {r.stdout}\nstderr: {r.stderr}\ndaemon:\n{self.d.log_text()[-4000:]}")
        return r

    def acquire(self, *args, uid=None):
        slot = json.loads(self.ctl("--json", "acquire", "--persistent", *args, uid=uid).stdout)
        self.addCleanup(self.ctl, "release", str(slot["slot"]), check=None)
        return slot

    def listed(self, number):
        slots = json.loads(self.ctl("--json", "list").stdout)
        return next(s for s in slots if s["slot"] == number)

    def test_acquire_with_policy_and_list(self):
        slot = self.acquire("--egress", "none", "--allow", "203.0.113.7,443/tcp",
                            "--allow", "2001:db8::/32,udp")
        # The daemon shows a bare address with its length.
        want_allow = [{"destination": "203.0.113.7/32", "protocol": "tcp", "port": 443},
                      {"destination": "2001:db8::/32", "protocol": "udp"}]
        for s in (slot, self.listed(slot["slot"])):
            self.assertEqual(s["egress"], "none")
            self.assertEqual(plain(s["allow"]), want_allow)

        # The table: the policy on a line under the slot's row.
        out = self.ctl("list").stdout
        self.assertIn("  egress none  allow 203.0.113.7/32,443/tcp 2001:db8::/32,udp\n", out)
        # acquire's block.
        out = self.ctl("acquire", "--persistent", "--egress", "host").stdout
        number = int(out.split("\n")[0].split()[-1])
        self.addCleanup(self.ctl, "release", str(number), check=None)
        self.assertIn("egress:        host\n", out)

    def test_egress_replaces_the_policy(self):
        slot = self.acquire("--egress", "none", "--allow", "203.0.113.7,443/tcp")
        n = str(slot["slot"])

        self.assertEqual(self.ctl("egress", n, "public", "--allow", "198.51.100.0/24,53/udp",
                                  "--allow", "2001:db8::1").stdout, "")
        s = self.listed(slot["slot"])
        self.assertEqual(s["egress"], "public")
        self.assertEqual(plain(s["allow"]), [
            {"destination": "198.51.100.0/24", "protocol": "udp", "port": 53},
            {"destination": "2001:db8::1/128"}])

        # Without --allow the list is emptied, not kept.
        self.ctl("egress", n, "internet")
        s = self.listed(slot["slot"])
        self.assertEqual(s["egress"], "internet")
        self.assertEqual(s["allow"], [])

    def test_publish_and_unpublish(self):
        slot = self.acquire("--publish", "20080:80", "--publish", "[2001:db8::1]:20053:53/udp")
        self.assertEqual(plain(slot["published"]), [
            {"protocol": "tcp", "hostPort": 20080, "guestPort": 80},
            {"protocol": "udp", "hostPort": 20053, "guestPort": 53, "hostAddress": "2001:db8::1"}])
        n = str(slot["slot"])
        self.ctl("publish", n, "198.51.100.1:20081:81")
        self.assertEqual(plain(self.listed(slot["slot"])["published"])[1],
                         {"protocol": "tcp", "hostPort": 20081, "guestPort": 81, "hostAddress": "198.51.100.1"})
        self.ctl("unpublish", n, "20080:80")
        self.assertEqual([p["hostPort"] for p in self.listed(slot["slot"])["published"]], [20081, 20053])
        # Text output: one line per port, in the syntax of the options.
        out = self.ctl("list").stdout
        self.assertIn("198.51.100.1:20081:81/tcp", out)

        # The daemon's refusals reach the user, and a refused Acquire
        # leaves no slot behind.
        r = self.ctl("publish", n, "20081:9", check=1)
        self.assertIn("io.taplinkd.PortInUse", r.stderr)
        r = self.ctl("acquire", "--persistent", "--publish", "20053:1/udp", check=1)
        self.assertIn("io.taplinkd.PortInUse", r.stderr)
        r = self.ctl("unpublish", n, "20099:1", check=1)
        self.assertIn("org.varlink.service.InvalidParameter (parameter=port)", r.stderr)
        r = self.ctl("acquire", "--persistent", "--publish", "8080:80", uid=USER, check=1)
        self.assertIn("io.taplinkd.PermissionDenied", r.stderr)
        slots = json.loads(self.ctl("--json", "list").stdout)
        self.assertEqual([s["slot"] for s in slots], [slot["slot"]])

    def test_refusals(self):
        slot = self.acquire()
        r = self.ctl("egress", str(slot["slot"] + 1), "none", check=1)
        self.assertIn("io.taplinkd.NoSuchSlot", r.stderr)
        r = self.ctl("egress", str(slot["slot"]), "none", uid=USER, check=1)
        self.assertIn("io.taplinkd.NoSuchSlot", r.stderr)

    def test_run_with_policy(self):
        script = f'exec "{TAPLINKCTL}" --socket "{self.d.socket}" --json list'
        r = self.ctl("run", "--egress", "host", "--allow", "192.0.2.0/24,tcp", "--", "sh", "-c", script)
        slots = json.loads(r.stdout)
        self.assertEqual(len(slots), 1)
        self.assertEqual(slots[0]["egress"], "host")
        self.assertEqual(plain(slots[0]["allow"]), [{"destination": "192.0.2.0/24", "protocol": "tcp"}])

    def test_usage_errors(self):
        """Bad values never reach the daemon: exit 2, the option and the
        value named, and no slot taken."""
        cases = [
            (["acquire", "--persistent", "--egress", "open"], "--egress 'open'"),
            (["acquire", "--persistent", "--allow", "203.0.113.7,443"], "--allow '203.0.113.7,443'"),
            (["acquire", "--persistent", "--allow", "203.0.113.0/33"], "--allow '203.0.113.0/33'"),
            (["acquire", "--persistent", "--publish", "2001:db8::1:80:80"], "--publish '2001:db8::1:80:80'"),
            (["run", "--publish", "80:0", "--", "true"], "--publish '80:0'"),
            (["egress", "0", "wide"], "mode 'wide'"),
            (["egress", "0", "none", "--allow", "nowhere"], "--allow 'nowhere'"),
            (["publish", "0", "80/tcp"], "SPEC '80/tcp'"),
            (["unpublish", "x", "80:80"], "'x' is not a slot number"),
        ]
        for args, named in cases:
            r = self.ctl(*args, check=2)
            self.assertIn(named, r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertEqual(json.loads(self.ctl("--json", "list").stdout), [])


if __name__ == "__main__":
    unittest.main()
