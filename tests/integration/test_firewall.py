# SPDX-License-Identifier: MIT
"""The firewall heals itself (docs/DESIGN.md, "The firewall heals itself"):
the real daemon with two live slots, its table broken from outside with
`nft`, comes back (rules and both slots' elements) with no client call,
logs one line naming what was missing, and the slots pass traffic again.
Prints how long each restore took from the tampering command's return: an
upper bound, as the table is looked at with `nft -j list`, which takes a
few milliseconds itself."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DaemonTestCase, ping_gateway, run, wait_for  # noqa: E402

RESTORE_CEILING = 5.0  # seconds; the target is well under 0.1 s


def table_snapshot(table):
    """`nft -j list table inet TABLE` without handles and counter values,
    every element list and the objects sorted: equal snapshots are the same
    sets, elements, chains and rules. None when the table does not exist.
    (dropped_spoofed's counters count what assertTraffic() sends.)"""
    r = run("nft", "-j", "list", "table", "inet", table, check=False)
    if r.returncode != 0:
        return None
    objects = []
    for obj in json.loads(r.stdout)["nftables"]:
        if "metainfo" in obj:
            continue
        for inner in obj.values():
            inner.pop("handle", None)
            if "elem" in inner:
                for e in inner["elem"]:
                    if isinstance(e, dict) and "counter" in e.get("elem", {}):
                        e["elem"]["counter"] = "counted"
                inner["elem"] = sorted(inner["elem"], key=lambda e: json.dumps(e, sort_keys=True))
        objects.append(json.dumps(obj, sort_keys=True))
    return sorted(objects)


class FirewallTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.client()
        self.slots = []
        for label in ("vm-a", "vm-b"):
            slot, fds = self.c.acquire(label=label)
            self.slots.append((slot, fds))
            self.addCleanup(lambda fds=fds: [os.close(fd) for fd in fds])
        self.healthy = table_snapshot(self.d.table)
        # Both slots' five elements are in it.
        text = "\n".join(self.healthy)
        for slot, _ in self.slots:
            self.assertIn(slot["ipv4"]["guest"], text)
            self.assertIn(slot["ipv6"]["subnet"], text)

    def restore_lines(self):
        return [l for l in self.d.log_text().splitlines() if "nftables:" in l and "; restored " in l]

    def assertTraffic(self):
        """Each slot reaches its gateway, and a spoofed source is dropped:
        the elements and the anti-spoofing rules are both back."""
        for slot, fds in self.slots:
            self.assertTrue(ping_gateway(fds[0], slot), "no echo reply through %s" % slot["ifname"])
        a, b = self.slots[0][0], self.slots[1][0]
        self.assertFalse(ping_gateway(self.slots[0][1][0], a, src_ip=b["ipv4"]["guest"], timeout=1.0),
                         "a spoofed source got through")

    def check_heals(self, what, *cmd, names):
        before = len(self.restore_lines())
        run(*cmd)
        t0 = time.monotonic()
        # Often restored before the first look: the log line is what shows
        # that something was missing.
        wait_for(lambda: table_snapshot(self.d.table) == self.healthy, RESTORE_CEILING, interval=0.002,
                 what="the table restored after %s" % what)
        latency = time.monotonic() - t0
        sys.stderr.write("\n    %s: restored in %.1f ms (polled) " % (what, latency * 1000))
        wait_for(lambda: len(self.restore_lines()) > before, RESTORE_CEILING, what="the restore's log line")
        time.sleep(0.3)
        lines = self.restore_lines()[before:]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(names, lines[0])
        self.assertEqual(table_snapshot(self.d.table), self.healthy)
        self.assertTraffic()

    def test_flush_ruleset(self):
        self.assertTraffic()
        self.check_heals("nft flush ruleset", "nft", "flush", "ruleset",
                         names="table inet %s deleted" % self.d.table)

    def test_delete_table(self):
        self.check_heals("nft delete table", "nft", "delete", "table", "inet", self.d.table,
                         names="table inet %s deleted" % self.d.table)

    def test_delete_one_slots_element(self):
        slot = self.slots[1][0]
        self.check_heals("one element deleted", "nft", "delete", "element", "inet", self.d.table, "guests_v4",
                         '{ "%s" . %s }' % (slot["ifname"], slot["ipv4"]["guest"]),
                         names="element deleted from set guests_v4")

    def test_flush_set(self):
        self.check_heals("nft flush set", "nft", "flush", "set", "inet", self.d.table, "slots_v4",
                         names="2 elements deleted from set slots_v4")

    def test_delete_rule_and_chain(self):
        listing = run("nft", "-a", "list", "chain", "inet", self.d.table, "input").stdout
        handle = [l for l in listing.splitlines() if "drop" in l][0].split("# handle ")[1]
        self.check_heals("one rule deleted", "nft", "delete", "rule", "inet", self.d.table, "input",
                         "handle", handle, names="rule deleted from chain input")
        self.check_heals("chain forward deleted", "nft", "delete", "chain", "inet", self.d.table, "forward",
                         names="chain forward deleted")

    def test_restart_nftables_twice(self):
        # What `systemctl restart nftables` does on Debian, with the
        # administrator's own table loaded back; twice in a row.
        for _ in range(2):
            before = len(self.restore_lines())
            run("sh", "-c", "nft flush ruleset && nft add table inet filter && "
                "nft add chain inet filter input '{ type filter hook input priority 0; policy accept; }'")
            wait_for(lambda: table_snapshot(self.d.table) == self.healthy, RESTORE_CEILING,
                     what="the table restored")
            wait_for(lambda: len(self.restore_lines()) == before + 1, RESTORE_CEILING, what="one log line")
        self.assertIsNotNone(table_snapshot("filter"))
        self.assertTraffic()


if __name__ == "__main__":
    unittest.main()
