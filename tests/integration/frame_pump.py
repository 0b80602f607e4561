# SPDX-License-Identifier: MIT
"""A stand-in guest for test_guest_clients.py: a network, mount and UTS
namespace of its own, where a TAP device plays the guest's NIC and this
process pumps its frames to and from a slot's TAP fd (acquired with
vnetHeader false), as a VMM would.

  unshare --net --mount --uts --propagation private \\
      python3 frame_pump.py FD IFNAME MAC SCRATCH

FD is the slot's fd (inherited), IFNAME/MAC the guest NIC to make here.
Inside the namespaces: /run, /var/lib/dhcpcd and /var/lib/dhcp are empty
tmpfs, and /etc is copy-on-write (overlayfs) with an empty resolv.conf, so
a DHCP client run here (`nsenter -t PID -n -m -u`) writes nothing outside.
Prints "ready" once the NIC is up, then pumps until its stdin closes, then
prints "frames to-slot=N to-guest=M". Every frame is logged (direction,
length, the first 64 bytes in hex) to SCRATCH/pump.log, for a failing
test's report.
"""

import fcntl
import os
import select
import struct
import subprocess
import sys

IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
TUNSETIFF = 0x400454CA


def sh(*args):
    subprocess.run(list(args), check=True)


def private_files(scratch):
    """/run and the DHCP clients' state directories empty, /etc
    copy-on-write (an overlay whose writable half is a tmpfs of this
    namespace) with an empty resolv.conf: whatever a client writes, and
    the temporary files it writes first, stay here."""
    sh("mount", "--make-rprivate", "/")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=4m", "pump-run", "/run")
    for d in ("/var/lib/dhcpcd", "/var/lib/dhcp"):
        if os.path.isdir(d):
            sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "pump-lib", d)
    rw = os.path.join(scratch, "etc-rw")
    os.makedirs(rw)
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "pump-etc", rw)
    os.makedirs(os.path.join(rw, "upper"))
    os.makedirs(os.path.join(rw, "work"))
    sh("mount", "-t", "overlay", "-o", "lowerdir=/etc,upperdir=%s/upper,workdir=%s/work" % (rw, rw),
       "pump-etc", "/etc")
    if os.path.lexists("/etc/resolv.conf"):
        os.unlink("/etc/resolv.conf")  # a symlink into the host's /run, say
    open("/etc/resolv.conf", "w").close()


def make_nic(ifname, mac):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI))
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "set", "dev", ifname, "address", mac)
    sh("ip", "link", "set", "dev", ifname, "up")
    return fd


def pump(slot_fd, nic_fd, log):
    counts = {slot_fd: 0, nic_fd: 0}
    other = {slot_fd: nic_fd, nic_fd: slot_fd}
    name = {slot_fd: "to-guest", nic_fd: "to-slot"}
    for fd in (slot_fd, nic_fd):
        os.set_blocking(fd, False)
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([slot_fd, nic_fd, stdin], [], [])
        if stdin in ready and not os.read(stdin, 4096):
            return counts[nic_fd], counts[slot_fd]
        for fd in (slot_fd, nic_fd):
            if fd not in ready:
                continue
            # A burst at a time, so that one side cannot starve the other.
            for _ in range(64):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                counts[fd] += 1
                log.write("%s %d %s\n" % (name[fd], len(frame), frame[:64].hex()))
                try:
                    os.write(other[fd], frame)
                except OSError as e:
                    # A device that is down or a full queue drops the
                    # frame, as a real link would.
                    log.write("%s dropped: %s\n" % (name[fd], e))
        log.flush()


def refuse_shared_namespaces():
    """Everything here mounts over /run and /etc/resolv.conf and makes a
    device: never in the namespaces of the process that started it (the
    test runs it under unshare), nor PID 1's where they can be read."""
    for ns in ("mnt", "net", "uts"):
        mine = os.readlink("/proc/self/ns/" + ns)
        for pid in (os.getppid(), 1):
            try:
                theirs = os.readlink("/proc/%d/ns/%s" % (pid, ns))
            except OSError:
                if pid == 1:
                    continue
                raise
            if mine == theirs:
                sys.exit("frame_pump: refusing to run in PID %d's %s namespace (use unshare)" % (pid, ns))


def main():
    slot_fd, ifname, mac, scratch = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    refuse_shared_namespaces()
    private_files(scratch)
    nic_fd = make_nic(ifname, mac)
    with open(os.path.join(scratch, "pump.log"), "w") as log:
        print("ready", flush=True)
        to_slot, to_guest = pump(slot_fd, nic_fd, log)
    print("frames to-slot=%d to-guest=%d" % (to_slot, to_guest), flush=True)


if __name__ == "__main__":
    main()
