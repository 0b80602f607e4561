#!/bin/sh
# busybox udhcpc's script in the end-to-end test guest (/bin/e2e-udhcpc;
# tests/e2e/guest-init.sh runs udhcpc with it). $1 is the event, the lease
# is in the environment: ip, mask (prefix length), router, mtu, dns,
# domain, serverid, lease. It configures the interface as a distribution's
# script would, and records the lease for the init to report.
case $1 in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set dev "$interface" up
        ;;
    bound | renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
        for r in $router; do
            ip route replace default via "$r" dev "$interface"
            break
        done
        : > /etc/resolv.conf
        [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
        for d in $dns; do
            echo "nameserver $d" >> /etc/resolv.conf
        done
        {
            echo "ip='$ip'"
            echo "mask='$mask'"
            echo "router='$router'"
            echo "mtu='$mtu'"
            echo "dns='$dns'"
            echo "domain='$domain'"
            echo "serverid='$serverid'"
            echo "lease='$lease'"
        } > /tmp/udhcpc.lease
        ;;
esac
exit 0
