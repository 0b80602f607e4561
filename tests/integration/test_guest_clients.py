# SPDX-License-Identifier: MIT
"""Guest services (SPEC section 9; docs/DESIGN.md, "Guest services") with
real clients: dhcpcd (DHCPv4, RA, DHCPv6) and dhclient -6 in a stand-in
guest, a namespace of its own whose NIC is a TAP device pumped to and
from the slot's fd (frame_pump.py, driven by guest_link.StandInGuest), as
a VMM would. The frames themselves: test_guest.py; what the suites share:
guest_case.py.
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TIMEOUT_SCALE, current_elements, expected_elements, wait_for  # noqa: E402
from guest_link import REPLY_WITHIN, StandInGuest, require_tool, stop_process  # noqa: E402
from guest_case import DNS4, DNS6, DOMAIN, SLOT_MTU, SlotTestCase  # noqa: E402

# A real client (dhcpcd) configures everything in about 3-5 s (it delays
# its first DISCOVER by up to 2 s and DHCPv6 until it has a link-local
# address, as the RFCs ask): 10x that.
CLIENT_CONFIGURED_WITHIN = 60.0 * TIMEOUT_SCALE

DHCPCD_CONF = """\
# test_guest_clients.py: the stand-in guest's dhcpcd (DHCPv4, RA, DHCPv6)
allowinterfaces eth0
option domain_name_servers, domain_name, domain_search, interface_mtu
option rapid_commit
require dhcp_server_identifier
nohook hostname, ntp-common.conf, chrony.conf, timesyncd.conf, openntpd.conf
# the resolv.conf hook writes the file itself, not through a resolvconf
env resolvconf=/nonexistent
noipv4ll
noarp
interface eth0
  ipv6rs
  ia_na 1
"""


class RealClientTest(SlotTestCase):

    def stand_in_guest(self):
        scratch = os.path.join(self.tmp.name, "guest")
        os.makedirs(scratch)
        g = StandInGuest(self.slot, self.link.fd, scratch)
        self.addCleanup(g.stop)
        return g

    def wait_configured(self, guest, want, client, log):
        last = [None]

        def done():
            last[0] = guest.state()
            return all(last[0][k] == v for k, v in want.items())
        try:
            wait_for(done, timeout=CLIENT_CONFIGURED_WITHIN, interval=0.25, what="%s to configure the guest" % client)
        except AssertionError as e:
            diff = {k: (v, last[0][k]) for k, v in want.items() if last[0][k] != v}
            raise AssertionError("%s\nwanted vs got: %s\n--- %s\n%s--- pump.log (last lines)\n%s--- daemon log\n%s" % (
                e, diff, log, guest.log_tail(log), guest.log_tail("pump.log", 15), self.d.log_text()[-3000:]))
        return last[0]

    def assertGuestReaches(self, guest):
        """The handed-out addresses pass the anti-spoofing rules: the guest
        pings both gateways."""
        for fam, gw in (("-4", self.slot["ipv4"]["gateway"]), ("-6", self.slot["ipv6"]["gateway"])):
            r = guest.run("ping", fam, "-c", "1", "-W", str(int(REPLY_WITHIN)), gw)
            self.assertEqual(r.returncode, 0, "the guest cannot ping %s: %s%s" % (gw, r.stdout, r.stderr))

    def test_dhcpcd(self):
        dhcpcd = require_tool("dhcpcd", "dhcpcd-base")
        guest = self.stand_in_guest()
        conf = os.path.join(guest.scratch, "dhcpcd.conf")
        with open(conf, "w") as f:
            f.write(DHCPCD_CONF)
        log = os.path.join(guest.scratch, "dhcpcd.log")
        with open(log, "w") as logf:
            p = subprocess.Popen(guest.cmd(dhcpcd, "-f", conf, "-B", "-d", "eth0"), stdout=logf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(stop_process, p)
        v4, v6 = self.slot["ipv4"], self.slot["ipv6"]
        self.wait_configured(guest, {
            "ipv4": ["%s/%d" % (v4["guest"], v4["prefixLength"])],
            "default4": ["%s dev eth0" % v4["gateway"]],
            "ipv6": [v6["guest"]],
            "default6": ["%s dev eth0" % self.link.router_ll],
            # dhcpcd (since 7.0) sets the MTU of option 26 and of the RA on
            # the routes it adds, not on the interface
            "route_mtu4": [SLOT_MTU],
            "route_mtu6": [SLOT_MTU],
            "nameservers": sorted(DNS4 + DNS6),
            "search": [DOMAIN],
        }, "dhcpcd", "dhcpcd.log")
        self.assertIsNone(p.poll(), "dhcpcd exited")
        self.assertGuestReaches(guest)
        self.assertEqual(current_elements(self.d.table), expected_elements([self.slot]))

    def test_dhclient6(self):
        dhclient = require_tool("dhclient", "isc-dhcp-client")
        guest = self.stand_in_guest()
        # dhclient -6 binds to the link-local address: only once DAD is done
        wait_for(lambda: any(a["family"] == "inet6" and a.get("scope") == "link" and not a.get("tentative")
                             for x in guest.ip_json("addr", "show", "dev", "eth0") for a in x.get("addr_info", [])),
                 what="the guest's link-local address")
        log = os.path.join(guest.scratch, "dhclient6.log")
        with open(log, "w") as logf:
            p = subprocess.Popen(guest.cmd(dhclient, "-6", "-d", "-v", "-lf", os.path.join(guest.scratch, "leases6"),
                                           "-pf", os.path.join(guest.scratch, "dhclient6.pid"), "eth0"),
                                 stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(stop_process, p)
        v6 = self.slot["ipv6"]
        # the default route and the MTU from the RA, as the guest's kernel
        # takes them
        self.wait_configured(guest, {
            "ipv6": [v6["guest"]],
            "default6": ["%s dev eth0" % self.link.router_ll],
            "ipv6_mtu": SLOT_MTU,
            "nameservers": sorted(DNS6),
            "search": [DOMAIN],
        }, "dhclient -6", "dhclient6.log")
        r = guest.run("ping", "-6", "-c", "1", "-W", str(int(REPLY_WITHIN)), v6["gateway"])
        self.assertEqual(r.returncode, 0, "the guest cannot ping %s: %s" % (v6["gateway"], r.stdout))



if __name__ == "__main__":
    unittest.main()
