#!/bin/sh
# Runs QEMU on the TAP fds that `taplinkctl run` hands over (tests/e2e/run.sh):
#   taplinkctl run [--queues N] [--no-vnet-hdr] -- tests/e2e/qemu-wrap.sh
# From taplinkctl: TAPLINK_FDS (comma-separated), TAPLINK_MAC,
# TAPLINK_KERNEL_IP_ARG and the rest of TAPLINK_* (echoed first, so that the
# runner learns the slot from the console log).
# From the runner: E2E_ACCEL (kvm|tcg), E2E_KERNEL, E2E_INITRD, E2E_MEM (MiB),
# E2E_SMP, E2E_APPEND (the e2e.* guest arguments), E2E_DHCP=1 (no ip= and no
# IPv6 address: the guest asks the daemon's DHCP server and takes its RA),
# E2E_MAC (the guest's MAC instead of the slot's: restored clones share one).
set -eu

: "${TAPLINK_FDS:?not run by taplinkctl run}"
: "${TAPLINK_MAC:?}" "${TAPLINK_KERNEL_IP_ARG:?}"
: "${E2E_KERNEL:?}" "${E2E_INITRD:?}"

env | grep '^TAPLINK_' | sort | sed 's/^/E2E-HOST /'

fds=$(echo "$TAPLINK_FDS" | tr , :)
nq=$(echo "$TAPLINK_FDS" | tr , '\n' | grep -c .)
if [ "$nq" -gt 1 ]; then
    # One fd per queue; vhost off (no /dev/vhost-net for an unprivileged
    # user); MSI-X vectors: 2 per queue pair + config + control.
    netdev="tap,id=n0,fds=$fds,vhost=off"
    device="virtio-net-pci,netdev=n0,mac=${E2E_MAC:-$TAPLINK_MAC},mq=on,vectors=$((2 * nq + 2)),romfile="
else
    netdev="tap,id=n0,fd=$fds,vhost=off"
    device="virtio-net-pci,netdev=n0,mac=${E2E_MAC:-$TAPLINK_MAC},romfile="
fi

# TCG: the richest CPU model (its TSC/HPET calibration is quicker); KVM: the host's.
cpu=max
[ "${E2E_ACCEL:-tcg}" = kvm ] && cpu=host
# Kernel arguments that only save boot time: no crypto self-tests, no PS/2 probing.
fast="cryptomgr.notests i8042.nokbd i8042.noaux"

# IPv6 (when the daemon has it on): the guest sets it up itself (ip= is IPv4 only).
v6=""
[ -n "${TAPLINK_IPV6_GUEST:-}" ] && v6="e2e.ip6=$TAPLINK_IPV6_GUEST/64 e2e.gw6=${TAPLINK_IPV6_GATEWAY:-}"
ip_arg=$TAPLINK_KERNEL_IP_ARG
if [ "${E2E_DHCP:-0}" = 1 ]; then
    ip_arg=e2e.dhcp=1
    v6=""
fi

echo "E2E-HOST qemu-exec ms=$(date +%s%3N) uid=$(id -u) accel=${E2E_ACCEL:-tcg} queues=$nq"
exec qemu-system-x86_64 \
    -accel "${E2E_ACCEL:-tcg}" -cpu "$cpu" \
    -m "${E2E_MEM:-256}" -smp "${E2E_SMP:-1}" \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$E2E_KERNEL" -initrd "$E2E_INITRD" \
    -append "console=ttyS0 quiet panic=-1 $fast $ip_arg $v6 ${E2E_APPEND:-}" \
    -netdev "$netdev" -device "$device"
