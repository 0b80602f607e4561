# SPDX-License-Identifier: MIT
"""Chaos test: a private taplinkd in a throwaway network namespace, hit with
random acquires (root and an allowed non-root uid; queues, vnet header, MTU,
persistent, labels), VMM exits (fd close), releases (also while the fds are
held, and refused across owners), client disconnects mid-request (after the
request, or half-way through writing it), slow readers that give up with a
reply queued, names taken by foreign devices, pipelined bursts, clone slots
(a share of every kind of Acquire, [clone] enabled; tests/chaos/clones.py),
and `kill -9`
at random points: right after a burst of Acquires at sub-millisecond delays,
after SIGSTOP under load (recording whether a device was frozen between its
creation and its elements' commit), in a burst of clone Acquires at a
delay within the burst's span (mostly SIGSTOP first, recording the step of
clone_create() it froze: "clone frozen at"), during start-up's reconcile;
and SIGTERM. Restarted each time, its state is checked from outside after every
restart, every 10 rounds and at the end: a kill -9 of the daemon at any
moment, then a restart, leaves no leaked device, element or slot, and never
disturbs a running sandbox (docs/DESIGN.md, "The kernel is the state").

Run it with tests/chaos/run.sh [ROUNDS] (it makes the namespace). The
randomness is seeded: CHAOS_SEED=N replays a run (up to kernel timing).

What the invariant check demands, once the daemon has settled:
  - every tl* device (but the foreign ones this script made) is in List,
    and every listed slot has its device, made as the slot says (MAC, MTU,
    alias, owner, vnet header, persist, multi-queue) with exactly its
    gateway addresses;
  - the nft sets hold exactly the four elements of each listed slot, and the
    published-port maps exactly the listed slots' ports (so no
    element outlives its device);
  - no two listed slots share a number, name, MAC or subnet;
  - Status.slotsInUse = len(List); a non-root List shows exactly its own;
    below the quota, the non-root uid's Acquire is not QuotaExceeded;
  - every slot this script holds (a reply it read) is listed, and its fds
    still pass traffic (ARP through the TAP); every persistent slot it
    holds is listed;
  - nothing else is listed: a slot nobody got a reply for is a leak, with
    one exception: a persistent Acquire in flight when the daemon was
    SIGKILLed may survive if the kill fell between TUNSETPERSIST and the
    sendmsg of its reply (no restart can tell whether the reply left).
    Those are counted as kill-orphans, then released;
  - foreign devices are untouched;
  - clone slots: the host end of the veth as the slot says, tap0 and the
    uplink in its namespace as well; every /run/netns entry, bind mount and
    namespace id here is a listed clone slot's (but for namespaces that the
    fds of a Release cut off by a kill still hold), and each listed clone
    slot has its own; a held clone slot's guest reaches its host gateway
    through the NAT. The script runs in a mount namespace of its own with
    a tmpfs on /run, so /run/netns is the test daemon's alone.
A client that gives up on an Acquire shuts its socket down before reading:
whatever reply had reached it by then is its slot; if none had, the reply
could not be delivered and nothing may remain (docs/DESIGN.md, "The kernel
is the state"), persistent or not.
Each Acquire's reply is checked as it arrives: its fds are its slot's
device (tap0 in the slot's namespace for a clone slot), persistent as asked.
At the end everything is given back, and then no device, element or slot
may remain.
"""

import argparse
import json
import os
import pwd
import random
import re
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import (  # noqa: E402
    IFF_PERSIST, Daemon, Varlink, arp_probe, connect_as, ip_json, run, table_elements, tun_info, tun_netns_inode)
import clones  # noqa: E402

USER = 1000            # the allowed non-root uid
MAX_SLOTS = 40
USER_QUOTA = 8
PREFIX = "tl"
OK_ACQUIRE_ERRORS = {"io.taplinkd.NoSlotAvailable", "io.taplinkd.QuotaExceeded"}
# Seconds the daemon gets to settle before the invariant must hold (a
# device's RTM_DELLINK handled, its elements deleted): a ceiling, not a
# figure; it settles in well under a second even on a loaded machine.
SETTLE_TIMEOUT = 30.0 * harness.TIMEOUT_SCALE
# The share of Acquires that ask for a clone slot (a namespace each: about
# 3 ms to make, and the invariant enters each one).
CLONE_SHARE = 0.2


class Violation(Exception):
    pass


class Held:
    """A slot this script got a reply for (and maybe still holds fds of)."""

    def __init__(self, label, uid, slot, fds):
        self.label = label
        self.uid = uid
        self.slot = slot
        self.fds = list(fds)
        self.cut_off = False  # a Release of it was in flight at a kill

    @property
    def persistent(self):
        return self.slot["persistent"]

    @property
    def clone(self):
        return self.slot.get("clone") is not None

    def close_fds(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def frame(method, parameters=None):
    req = {"method": method}
    if parameters is not None:
        req["parameters"] = parameters
    return json.dumps(req).encode() + b"\0"


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def host_mac(slot):
    return "06:74:6c:%02x:%02x:%02x" % (slot >> 16, (slot >> 8) & 255, slot & 255)


def fds_mismatch(fds, s):
    """What the kernel says of each fd an Acquire's reply brought that the
    slot does not: its device's name and IFF_PERSIST as asked, and for a
    clone slot, its namespace."""
    out = []
    name = clones.TAP if s.get("clone") else s["ifname"]
    ns = os.stat(s["clone"]["netns"]).st_ino if s.get("clone") else None
    for i, fd in enumerate(fds):
        try:
            got, flags = tun_info(fd)
            where = "" if ns is None or tun_netns_inode(fd) == ns else ", in another namespace"
        except OSError as e:
            out.append("fd %d of slot %d: %s" % (i, s["slot"], e))
            continue
        if got != name or bool(flags & IFF_PERSIST) != s["persistent"] or where:
            out.append("fd %d of slot %d (%s): device %s, persistent %s%s" % (
                i, s["slot"], name, got, bool(flags & IFF_PERSIST), where))
    return out


def busy_wait(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def drain(conn):
    """Every reply the daemon got into this connection before it went away:
    [(reply, fds)]. The caller has shut the socket down or the daemon is
    dead, so this never waits for more."""
    out = []
    conn.sock.settimeout(2.0)
    while True:
        try:
            raw, fds = conn.reader.next()
        except (ConnectionResetError, BrokenPipeError, socket.timeout, OSError):
            break
        out.append((json.loads(raw), fds))
    return out


class Chaos:

    def __init__(self, seed, rounds, workdir, clone_pool=0):
        self.seed = seed
        self.rounds = rounds
        self.rng = random.Random(seed)
        self.d = Daemon(workdir, config={
            "daemon.max_slots": str(MAX_SLOTS),
            "access.allow_users": str(USER),
            "access.allow_groups": "",
            "access.max_slots_per_user": str(USER_QUOTA),
            "clone.enabled": "yes",
            "clone.pool": str(clone_pool)})
        self.known = {}        # label -> Held
        self.uncertain = {}    # label -> why (a persistent Acquire in flight at a SIGKILL)
        self.foreign = {}      # ifname -> what it looked like when made
        self.conns = {}        # uid -> Varlink (synchronous calls)
        self.origin = {}       # label -> which action asked for it (for reports)
        self.stats = Counter()
        self.label_seq = 0
        self.round = 0
        self.leaked = 0
        self.clone_pool = clone_pool

    # ------------------------------------------------------------ plumbing

    def log(self, msg):
        print("chaos: [round %d] %s" % (self.round, msg), flush=True)

    def fail(self, what, details=()):
        lines = ["chaos: VIOLATION in round %d: %s" % (self.round, what)]
        lines += ["  " + str(x) for x in details]
        raise Violation("\n".join(lines))

    def alive(self):
        return self.d.proc is not None and self.d.proc.poll() is None

    def connect(self, uid):
        if uid == 0:
            return Varlink(self.d.socket)
        return connect_as(self.d.socket, uid)

    def conn(self, uid):
        if uid not in self.conns:
            self.conns[uid] = self.connect(uid)
        return self.conns[uid]

    def drop_conns(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}

    def call(self, uid, method, params=None):
        """(reply, fds) on the synchronous connection of uid."""
        try:
            c = self.conn(uid)
            c.send_raw(frame(method, params))
            raw, fds = c.reader.next()
        except (OSError, ConnectionError) as e:
            if not self.alive():
                self.fail("taplinkd died (exit %s) during %s" % (self.d.proc.returncode, method),
                          self.d.log_text().splitlines()[-30:])
            self.fail("%s as uid %d: %r" % (method, uid, e))
        return json.loads(raw), fds

    def new_label(self):
        self.label_seq += 1
        return "ch-%d" % self.label_seq

    def acquire_params(self, persistent=None, origin="?", clone=None):
        r = self.rng.random
        p = {"label": self.new_label()}
        self.origin[p["label"]] = "round %d, %s" % (self.round, origin)
        if clone is None:
            clone = r() < CLONE_SHARE
        if clone:
            p["clone"] = True
        if r() < 0.3:
            p["queues"] = self.rng.choice([2, 3, 4])
        if r() < 0.3:
            p["vnetHeader"] = False
        if r() < 0.25:
            p["mtu"] = self.rng.choice([1280, 1400, 9000])
        if persistent is None:
            persistent = r() < 0.15
        if persistent or r() < 0.5:
            p["persistent"] = persistent
        # A published port of its own (no two labels share one): the maps
        # must follow the slots like the sets do.
        if r() < 0.3 and self.label_seq < 10000:
            p["publish"] = [{"protocol": self.rng.choice(["tcp", "udp"]), "hostPort": 20000 + self.label_seq,
                             "guestPort": 80}]
        return p

    def pick_uid(self):
        return USER if self.rng.random() < 0.35 else 0

    def on_acquire_reply(self, uid, params, reply, fds, where):
        """Takes an Acquire's reply: a Held, or None for an allowed refusal."""
        if "error" in reply:
            for fd in fds:
                os.close(fd)
            self.stats["acquire " + reply["error"].split(".")[-1]] += 1
            if reply["error"] not in OK_ACQUIRE_ERRORS:
                self.fail("Acquire %s (%s) as uid %d answered %s" % (params, where, uid, reply))
            return None
        s = reply["parameters"]["slot"]
        want = {"label": params["label"], "ownerUid": uid, "queues": params.get("queues", 1),
                "vnetHeader": params.get("vnetHeader", True), "mtu": params.get("mtu", 1500),
                "persistent": params.get("persistent", False), "published": params.get("publish", []),
                "clone": params.get("clone", False)}
        got = {k: s[k] for k in want if k != "clone"}
        got["clone"] = s.get("clone") is not None
        if got != want or len(fds) != want["queues"] or \
                reply["parameters"]["fileDescriptors"] != list(range(len(fds))):
            h = Held(params["label"], uid, s, fds)
            h.close_fds()
            self.fail("Acquire reply does not match the request (%s)" % where,
                      ["asked %s" % want, "got %s, %d fds" % (reply["parameters"], len(fds))])
        wrong = fds_mismatch(fds, s)
        if wrong:
            h = Held(params["label"], uid, s, fds)
            h.close_fds()
            self.fail("Acquire's fds are not its slot's device as asked (%s)" % where, wrong)
        h = Held(params["label"], uid, s, fds)
        self.known[h.label] = h
        self.stats["acquired"] += 1
        if params.get("publish"):
            self.stats["acquired with a published port"] += 1
        if h.clone:
            self.stats["acquired clone slots"] += 1
        return h

    # ------------------------------------------------------------ actions (daemon alive)

    def act_acquire(self):
        uid = self.pick_uid()
        p = self.acquire_params(origin="Acquire")
        reply, fds = self.call(uid, "io.taplinkd.Acquire", p)
        self.on_acquire_reply(uid, p, reply, fds, "sync")

    def act_vmm_exit(self):
        held = [h for h in self.known.values() if h.fds]
        if not held:
            return self.act_acquire()
        h = self.rng.choice(held)
        h.close_fds()
        self.stats["vmm exits"] += 1
        if not h.persistent:
            del self.known[h.label]

    def act_release(self):
        if not self.known:
            return self.act_acquire()
        h = self.rng.choice(list(self.known.values()))
        # root may release anyone's; the owner its own
        uid = h.uid if self.rng.random() < 0.5 else 0
        reply, _ = self.call(uid, "io.taplinkd.Release", {"slot": h.slot["slot"]})
        if reply.get("parameters") != {} or "error" in reply:
            self.fail("Release of %s (slot %d, uid %d, %s) by uid %d answered %s" % (
                h.label, h.slot["slot"], h.uid, "persistent" if h.persistent else "fds held" if h.fds else "no fds",
                uid, reply))
        self.stats["releases" + (" (fd held)" if h.fds else "")] += 1
        h.close_fds()
        del self.known[h.label]

    def act_release_other(self):
        """uid 1000 may not release root's slot: NoSuchSlot, and it stays."""
        roots = [h for h in self.known.values() if h.uid == 0]
        if not roots:
            return self.act_acquire()
        h = self.rng.choice(roots)
        reply, _ = self.call(USER, "io.taplinkd.Release", {"slot": h.slot["slot"]})
        if reply.get("error") != "io.taplinkd.NoSuchSlot":
            self.fail("uid %d releasing root's slot %d got %s" % (USER, h.slot["slot"], reply))
        self.stats["foreign releases refused"] += 1

    def act_disconnect(self):
        """A client gives up mid-request: shuts its socket down at a random
        moment after (or while) sending an Acquire."""
        uid = self.pick_uid()
        p = self.acquire_params(persistent=self.rng.random() < 0.4, origin="")
        data = frame("io.taplinkd.Acquire", p)
        c = self.connect(uid)
        try:
            if self.rng.random() < 0.25:
                c.send_raw(data[:self.rng.randrange(1, len(data))])
                busy_wait(self.rng.uniform(0, 0.001))
                self.stats["disconnects half-way through a request"] += 1
                self.origin[p["label"]] += "disconnect half-way through the request"
            else:
                c.send_raw(data)
                delay = self.pick_delay()
                busy_wait(delay)
                self.stats["disconnects before the reply"] += 1
                self.origin[p["label"]] += "disconnect %.2f ms after sending the Acquire" % (delay * 1e3)
            c.sock.shutdown(socket.SHUT_RDWR)
            got = drain(c)
        finally:
            c.close()
        if got:
            reply, fds = got[0]
            h = self.on_acquire_reply(uid, p, reply, fds, "reply that arrived before the disconnect")
            if h:
                self.stats["disconnects whose reply had arrived"] += 1
                if not h.persistent and self.rng.random() < 0.5:
                    h.close_fds()
                    del self.known[h.label]
        # else: no reply could be delivered, so nothing may remain

    def act_slow_reader(self):
        """A client that pipelines calls without reading its replies, then
        gives up: its Acquire's reply (and fds) waits in the daemon behind
        the replies it never read when it goes."""
        uid = self.pick_uid()
        p = self.acquire_params(persistent=self.rng.random() < 0.5, origin="slow reader")
        data = frame("io.taplinkd.Status") * 1800 + frame("io.taplinkd.Acquire", p)
        c = self.connect(uid)
        try:
            c.sock.setblocking(False)
            sent, deadline = 0, time.monotonic() + 5
            while sent < len(data) and time.monotonic() < deadline:
                try:
                    sent += c.sock.send(data[sent:])
                except BlockingIOError:
                    time.sleep(0.002)
            # Give the daemon a moment to get to the Acquire.
            end = time.monotonic() + 0.5
            while time.monotonic() < end and not any(s["label"] == p["label"] for s in self.list_slots()):
                time.sleep(0.005)
            c.sock.shutdown(socket.SHUT_RDWR)
            got = drain(c)
        finally:
            c.close()
        self.stats["slow readers gone"] += 1
        answered = False
        for reply, fds in got:
            if "slot" in reply.get("parameters", {}) or "error" in reply:
                answered = True
                self.on_acquire_reply(uid, p, reply, fds, "slow reader")
            else:
                for fd in fds:
                    os.close(fd)
        if answered:
            return
        # The reply never left the daemon: the slot must go (docs/DESIGN.md,
        # "The kernel is the state").
        end = time.monotonic() + SETTLE_TIMEOUT
        while True:
            left = [s for s in self.list_slots() if s["label"] == p["label"]]
            if not left or time.monotonic() > end:
                break
            time.sleep(0.01)
        if left:
            self.leaked += 1
            s = left[0]
            self.fail("leak: slot %d (%s, uid %d, %s) stays after its client went with the Acquire's reply "
                      "still queued in the daemon (never delivered)" % (
                          s["slot"], s["label"], uid, "persistent" if s["persistent"] else "not persistent"),
                      ["device %s: %s" % (s["ifname"], "present" if harness.link(s["ifname"]) else "gone"),
                       "reproducer: tests/chaos/test_undelivered_reply.py"])

    def act_burst(self):
        """Pipelined Acquires on a few connections, all answered."""
        conns = self.send_burst()
        for c, reqs in conns:
            try:
                for uid, p in reqs:
                    raw, fds = c.reader.next()
                    self.on_acquire_reply(uid, p, json.loads(raw), fds, "burst")
            finally:
                c.close()
        self.stats["bursts"] += 1

    def act_foreign(self):
        """Something else takes a free slot's name, or gives it back."""
        if self.foreign and (len(self.foreign) >= 2 or self.rng.random() < 0.5):
            name = self.rng.choice(sorted(self.foreign))
            self.check_foreign_untouched(name)
            run("ip", "link", "del", name)
            del self.foreign[name]
            self.stats["foreign devices deleted"] += 1
            return
        used = {h.slot["ifname"] for h in self.known.values()}
        listed = self.list_slots()
        used |= {s["ifname"] for s in listed}
        free = [PREFIX + str(i) for i in range(min(MAX_SLOTS, 12)) if PREFIX + str(i) not in used]
        self.rng.shuffle(free)
        for name in free:
            kind = self.rng.choice(["tap", "bridge", "veth"])
            if kind == "tap":
                r = run("ip", "tuntap", "add", "dev", name, "mode", "tap", check=False)
            elif kind == "veth":
                r = run("ip", "link", "add", name, "type", "veth", "peer", "name", "fp" + name[len(PREFIX):],
                        check=False)
            else:  # no dummy driver on every kernel; a bridge is as foreign
                r = run("ip", "link", "add", name, "type", "bridge", check=False)
            if r.returncode != 0:
                continue  # the daemon's device appeared meanwhile
            run("ip", "link", "set", name, "alias", "foreign-" + kind)
            run("ip", "addr", "add", "192.0.2.%d/32" % (len(self.foreign) + 1), "dev", name)
            self.foreign[name] = self.foreign_view(name)
            self.stats["foreign devices made"] += 1
            return

    def foreign_view(self, name):
        l = ip_json("-d", "link", "show", "dev", name)[0]
        a = sorted((x["family"], x["local"], x["prefixlen"]) for x in ip_json("addr", "show", "dev", name)[0]
                   .get("addr_info", []) if x["family"] == "inet")
        return {"address": l["address"], "ifalias": l.get("ifalias"), "mtu": l["mtu"], "addrs": a,
                "kind": l.get("linkinfo", {}).get("info_kind"), "ifindex": l["ifindex"]}

    def check_foreign_untouched(self, name):
        try:
            now = self.foreign_view(name)
        except (IndexError, Exception):
            now = None
        if now != self.foreign[name]:
            self.fail("foreign device %s was modified" % name, ["was %s" % self.foreign[name], "now %s" % now])

    # ------------------------------------------------------------ kills

    def pick_delay(self):
        # A burst of Acquires keeps devices between creation and their
        # elements' commit for a few ms (one nft batch for the lot): most
        # delays land there, some before the first or after the commit.
        x = self.rng.random()
        if x < 0.1:
            return 0.0
        if x < 0.4:
            return self.rng.uniform(0, 0.0005)
        if x < 0.8:
            return self.rng.uniform(0.0005, 0.004)
        return self.rng.uniform(0.004, 0.02)

    def send_burst(self, clone=None):
        """Opens 1-3 connections and pipelines Acquires on each (clone
        Acquires all, or none, or a share as acquire_params() picks);
        returns [(conn, [(uid, params)])]."""
        out = []
        for i in range(self.rng.randint(1, 3)):
            uid = self.pick_uid()
            c = self.connect(uid)
            reqs, data = [], b""
            for _ in range(self.rng.randint(1, 6)):
                p = self.acquire_params(origin="pipelined burst", clone=clone)
                reqs.append((uid, p))
                data += frame("io.taplinkd.Acquire", p)
            out.append((c, reqs))
            c.send_raw(data)
        return out

    def stopped(self, pid):
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
        except FileNotFoundError:
            return True
        return True

    def frozen_window(self):
        """With the daemon stopped: devices of ours caught between creation
        and their elements' commit, and the stages of the clone slots being
        made. Returns (unconfigured, uncommitted, [stage])."""
        elems = table_elements(self.d.table) or {}
        subnets = set(elems.get("slots_v4", []))
        stages = clones.frozen({h.slot["ifname"] for h in self.known.values() if h.clone}, subnets)
        unconfigured = uncommitted = 0
        for l in ip_json("-d", "link", "show"):
            name = l["ifname"]
            if not name.startswith(PREFIX) or name in self.foreign or not name[len(PREFIX):].isdigit():
                continue
            slot = int(name[len(PREFIX):])
            if l["address"] != host_mac(slot):
                unconfigured += 1
            elif "10.213.%d.%d" % ((slot * 4) >> 8, (slot * 4) & 255) not in subnets:
                uncommitted += 1
        return unconfigured, uncommitted, stages

    def kill_now(self, how):
        pid = self.d.proc.pid
        if how == "stop":
            os.kill(pid, signal.SIGSTOP)
            while not self.stopped(pid):
                pass
            unconfigured, uncommitted, stages = self.frozen_window()
            self.stats["stop-kills"] += 1
            for stage in stages:
                self.stats["clone frozen at: " + stage] += 1
            if any(st != clones.STAGES[-1] for st in stages):
                self.stats["stop-kills inside clone_create..commit"] += 1
            if unconfigured or uncommitted:
                self.stats["stop-kills inside create..commit"] += 1
                self.stats["devices frozen before configure"] += unconfigured
                self.stats["devices frozen before elements commit"] += uncommitted
        os.kill(pid, signal.SIGKILL)
        self.d.proc.wait()
        self.stats["kills"] += 1

    def kill_round(self):
        mode = self.rng.choices(["burst", "burst-release", "release", "idle", "startup", "term", "clone"],
                                [40, 15, 12, 8, 12, 13, 30])[0]
        self.stats["kill mode " + mode] += 1
        pending_releases = []
        conns = []
        before = clones.names()
        if mode in ("burst", "burst-release", "term", "clone"):
            conns = self.send_burst(clone=True if mode == "clone" else None)
        if mode in ("burst-release", "release") and self.known:
            c = self.connect(0)
            victims = self.rng.sample(list(self.known.values()), min(len(self.known), self.rng.randint(1, 4)))
            c.send_raw(b"".join(frame("io.taplinkd.Release", {"slot": h.slot["slot"]}) for h in victims))
            pending_releases = [(c, victims)]
        if mode == "clone" and self.rng.random() < 0.5:
            # From the moment a clone_create() made its netns file (its
            # first step): a delay within one clone Acquire's ~3 ms.
            if clones.wait_new_name(before, 1.0):
                busy_wait(self.rng.uniform(0, 0.003))
                self.stats["clone kills timed from the netns file"] += 1
        elif mode == "clone":
            # Each clone Acquire takes some 3 ms: a delay anywhere in the
            # burst's span lands inside one's clone_create() or commit.
            busy_wait(self.rng.uniform(0, 0.003 * sum(len(reqs) for _, reqs in conns)))
        elif mode != "idle":
            busy_wait(self.pick_delay())

        if mode == "term":
            self.d.proc.send_signal(signal.SIGTERM)
            if self.d.proc.wait(harness.WAIT_TIMEOUT) != 0:
                self.fail("SIGTERM: taplinkd exited with %d" % self.d.proc.returncode)
            self.stats["sigterm restarts"] += 1
        else:
            # A clone Acquire's kill is mostly seen where it froze the
            # daemon: SIGSTOP first, the same kill at the same moment.
            self.kill_now("stop" if self.rng.random() < (0.8 if mode == "clone" else 0.5) else "kill")
        self.drop_conns()

        # What got out before the daemon died is ours; the rest never happened
        # (or, for a persistent Acquire, may have: see the module docstring).
        for c, reqs in conns:
            got = drain(c)
            c.close()
            for i, (uid, p) in enumerate(reqs):
                if i < len(got):
                    self.on_acquire_reply(uid, p, got[i][0], got[i][1], "drained after %s" % mode)
                else:
                    self.stats["acquires cut off"] += 1
                    if p.get("persistent") and mode != "term":
                        self.uncertain[p["label"]] = "persistent Acquire in flight at SIGKILL"
        for c, victims in pending_releases:
            got = drain(c)
            c.close()
            for i, h in enumerate(victims):
                if i < len(got):
                    if "error" in got[i][0]:
                        self.fail("Release of slot %d answered %s" % (h.slot["slot"], got[i][0]))
                    h.close_fds()
                    self.known.pop(h.label, None)
                    self.stats["releases (pipelined)"] += 1
                else:
                    # Unanswered: it may or may not have happened. Finish it
                    # after the restart.
                    self.stats["releases cut off"] += 1
                    h.cut_off = True

        # VMMs exit while the daemon is down.
        for h in list(self.known.values()):
            if h.fds and self.rng.random() < 0.15:
                h.close_fds()
                self.stats["vmm exits while down"] += 1
                if not h.persistent:
                    del self.known[h.label]

        if mode == "startup":
            # Killed again while reconciling at start-up.
            self.d.start(wait_ready=False)
            busy_wait(self.rng.uniform(0, 0.02))
            self.kill_now("kill")
            self.stats["kills during start-up"] += 1
        self.d.start()
        self.stats["restarts"] += 1
        self.check("after restart (%s)" % mode)
        self.finish_cut_off_releases()

    def finish_cut_off_releases(self):
        """Releases whose reply a kill cut off: done again if the slot is
        still there (by label: its number may carry a new slot by now)."""
        listed = {s["label"]: s for s in self.list_slots()}
        for h in [h for h in self.known.values() if h.cut_off]:
            if h.label in listed:
                reply, _ = self.call(0, "io.taplinkd.Release", {"slot": listed[h.label]["slot"]})
                if "error" in reply:
                    self.fail("Release of cut-off slot %d answered %s" % (h.slot["slot"], reply))
            h.close_fds()
            del self.known[h.label]

    # ------------------------------------------------------------ the invariant

    def list_slots(self, uid=0):
        reply, _ = self.call(uid, "io.taplinkd.List")
        if "error" in reply:
            self.fail("List as uid %d answered %s" % (uid, reply))
        return reply["parameters"]["slots"]

    def violations(self):
        """Everything wrong right now, as (kind, text); kind 'leak' counts
        towards leaked=."""
        out = []
        listed = self.list_slots()
        status = self.call(0, "io.taplinkd.Status")[0]["parameters"]
        user_listed = self.list_slots(USER)
        links = {l["ifname"]: l for l in ip_json("-d", "link", "show")}
        addr_info = {a["ifname"]: a.get("addr_info", []) for a in ip_json("addr", "show")}
        elems = table_elements(self.d.table)

        if status["slotsInUse"] != len(listed):
            out.append(("count", "Status.slotsInUse=%d but List has %d" % (status["slotsInUse"], len(listed))))
        if status["maxSlots"] != MAX_SLOTS:
            out.append(("count", "Status.maxSlots=%d" % status["maxSlots"]))
        mine = sorted(s["slot"] for s in listed if s["ownerUid"] == USER)
        if sorted(s["slot"] for s in user_listed) != mine:
            out.append(("list", "uid %d lists %s, root's List has %s of theirs" % (
                USER, sorted(s["slot"] for s in user_listed), mine)))

        for key in ("slot", "ifname", "mac"):
            vals = [s[key] for s in listed]
            if len(vals) != len(set(vals)):
                out.append(("dup", "two listed slots share a %s: %s" % (key, sorted(vals))))
        for fam in ("ipv4", "ipv6"):
            vals = [s[fam]["subnet"] for s in listed if s[fam]]
            if len(vals) != len(set(vals)):
                out.append(("dup", "two listed slots share an %s subnet" % fam))

        by_name = {s["ifname"]: s for s in listed}
        ours = {n for n in links if n.startswith(PREFIX) and n not in self.foreign}
        # [clone] pool: up to that many ready namespaces, each with its veth's
        # host end <prefix>p<k> and an id here, but no bind mount.
        pooled = {n for n in ours if re.fullmatch(PREFIX + "p[0-9]+", n)}
        ours -= pooled
        if len(pooled) > self.clone_pool:
            out.append(("leak", "%d pooled clone namespaces' veths %s, the pool holds %d" % (
                len(pooled), sorted(pooled), self.clone_pool)))
        for n in sorted(ours - set(by_name)):
            info = links[n].get("linkinfo", {})
            out.append(("leak", "device %s (%s, alias %r, %s) is not listed" % (
                n, info.get("info_kind"), links[n].get("ifalias"), links[n]["address"])))
        for n in sorted(set(by_name) - ours):
            out.append(("lost", "listed slot %s has no device" % n))
        for n in sorted(set(by_name) & ours):
            if by_name[n].get("clone"):
                out += clones.device_mismatch(by_name[n], links[n], addr_info.get(n, []), user_name)
            else:
                out += self.device_mismatch(by_name[n], links[n], addr_info.get(n, []))
        # A cut-off Release whose fd is still held keeps its namespace.
        out += clones.leaks(listed, self.clone_pool +
                            sum(1 for h in self.known.values() if h.clone and h.cut_off and h.fds))

        if elems is None:
            out.append(("nft", "table inet %s is gone" % self.d.table))
        else:
            want = {"slots_v4": {s["ipv4"]["subnet"] for s in listed},
                    "slots_v6": {s["ipv6"]["subnet"] for s in listed if s["ipv6"]},
                    "guests_v4": {(s["ifname"], s["ipv4"]["guest"]) for s in listed},
                    "guests_v6": {(s["ifname"], s["ipv6"]["guest"]) for s in listed if s["ipv6"]},
                    "dropped_spoofed": {s["ifname"] for s in listed},
                    "dropped_policy": {s["ifname"] for s in listed}}
            # Each slot's name in the set of its egress mode, and no other.
            for mode in ("none", "host", "public", "internet"):
                want["egress_" + mode] = {s["ifname"] for s in listed if s.get("egress") == mode}
            # Each published port on every address: one element per family.
            for fam in ("v4", "v6"):
                want["published_any_" + fam] = {
                    ((p["protocol"], p["hostPort"]), (s["ip" + fam]["guest"], p["guestPort"]))
                    for s in listed if s["ip" + fam] for p in s.get("published", [])}
            for name, w in want.items():
                got = elems.get(name)
                if got is None:
                    out.append(("nft", "set %s is gone" % name))
                    continue
                if len(got) != len(set(got)):
                    out.append(("nft", "set %s has duplicates" % name))
                got = set(got)
                for e in sorted(got - w, key=str):
                    out.append(("leak", "element %s in %s has no listed slot" % (e, name)))
                for e in sorted(w - got, key=str):
                    out.append(("nft", "element %s missing from %s" % (e, name)))

        listed_labels = {s["label"]: s for s in listed}
        for h in self.known.values():
            s = listed_labels.get(h.label)
            if not s:
                if (h.fds or h.persistent) and not h.cut_off:
                    out.append(("lost", "held slot %d (%s, uid %d, %s) is not listed" % (
                        h.slot["slot"], h.label, h.uid, "persistent" if h.persistent else "fds held")))
                continue
            for k in ("slot", "ownerUid", "persistent", "vnetHeader", "mtu"):
                if s[k] != h.slot[k]:
                    out.append(("attr", "slot %s: %s is %r, was %r when acquired" % (h.label, k, s[k], h.slot[k])))
            if h.fds and s["queues"] != h.slot["queues"]:
                out.append(("attr", "slot %s: queues is %r, was %r (all fds still held)" % (
                    h.label, s["queues"], h.slot["queues"])))
        for s in listed:
            if s["label"] in self.known:
                continue
            if s["persistent"] and s["label"] in self.uncertain:
                continue
            out.append(("leak", "slot %d (%s, uid %d, %s) is listed, but nobody got a reply for it (asked by: %s)" % (
                s["slot"], s["label"], s["ownerUid"], "persistent" if s["persistent"] else "not persistent",
                self.origin.get(s["label"], "?"))))

        for name in self.foreign:
            before = self.foreign[name]
            try:
                now = self.foreign_view(name)
            except Exception:
                now = None
            if now != before:
                out.append(("foreign", "foreign device %s changed: %s -> %s" % (name, before, now)))
        return out

    def device_mismatch(self, s, l, addr_info):
        out = []
        n = s["ifname"]
        info = l.get("linkinfo", {})
        data = info.get("info_data", {})
        want = {"kind": "tun", "type": "tap", "address": host_mac(s["slot"]), "mtu": s["mtu"],
                "ifalias": s["label"] or None, "vnet_hdr": s["vnetHeader"], "persist": s["persistent"],
                "user": user_name(s["ownerUid"])}
        got = {"kind": info.get("info_kind"), "type": data.get("type"), "address": l["address"],
               "mtu": l["mtu"], "ifalias": l.get("ifalias") or None, "vnet_hdr": data.get("vnet_hdr"),
               "persist": data.get("persist"), "user": str(data.get("user"))}
        if s["queues"] > 1:
            want["multi_queue"] = True
            got["multi_queue"] = data.get("multi_queue")
        for k in want:
            if want[k] != got[k]:
                out.append(("attr", "%s: kernel %s=%r, List says %r" % (n, k, got[k], want[k])))
        v4 = sorted((a["local"], a["prefixlen"]) for a in addr_info if a["family"] == "inet")
        v6 = sorted((a["local"], a["prefixlen"]) for a in addr_info
                    if a["family"] == "inet6" and a.get("scope") != "link")
        if v4 != [(s["ipv4"]["gateway"], s["ipv4"]["prefixLength"])]:
            out.append(("addr", "%s has IPv4 %s, want %s/%d" % (n, v4, s["ipv4"]["gateway"], s["ipv4"]["prefixLength"])))
        if v6 != [(s["ipv6"]["gateway"], s["ipv6"]["prefixLength"])]:
            out.append(("addr", "%s has IPv6 %s, want %s/%d" % (n, v6, s["ipv6"]["gateway"], s["ipv6"]["prefixLength"])))
        return out

    def check(self, why, quota_probe=True):
        """Waits for the daemon to settle, then demands the invariant."""
        if not self.alive():
            self.fail("taplinkd is not running at the check %s" % why, self.d.log_text().splitlines()[-30:])
        if self.d.sanitizer_reports():
            self.fail("the daemon's sanitizers reported (%s)" % why, self.d.sanitizer_reports())
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            v = self.violations()
            if not v or time.monotonic() > deadline:
                break
            time.sleep(0.03)
        self.stats["invariant checks"] += 1
        if v:
            self.leaked += sum(1 for kind, _ in v if kind == "leak")
            self.fail("invariant broken %s (still after %.0fs)" % (why, SETTLE_TIMEOUT),
                      ["%s: %s" % x for x in v] + ["--- last lines of the daemon log:"] +
                      self.d.log_text().splitlines()[-25:])

        # Live fds still pass traffic.
        for h in self.known.values():
            if not h.fds or h.cut_off:
                continue
            try:
                if h.clone:
                    ok = clones.probe(h.fds, h.slot)
                else:
                    ok = arp_probe(h.fds[0], h.slot, vnet_header=h.slot["vnetHeader"], read_fds=h.fds)
            except OSError as e:  # EBADFD: the device went from under the fd
                ok = e
            if ok is not True:
                self.fail("held slot %d (%s) passes no traffic %s: %s" % (h.slot["slot"], h.label, why, ok))
            self.stats["traffic probes" + (" (clone, through its NAT)" if h.clone else "")] += 1

        # Persistent slots whose Acquire was cut off by a SIGKILL: report,
        # then give them back.
        for s in self.list_slots():
            if s["label"] in self.uncertain and s["label"] not in self.known:
                self.stats["kill-orphans (persistent, in flight at SIGKILL)"] += 1
                reply, _ = self.call(0, "io.taplinkd.Release", {"slot": s["slot"]})
                if "error" in reply:
                    self.fail("Release of orphan %d answered %s" % (s["slot"], reply))
        self.uncertain = {}

        # The quota counts what the user holds: below it, an Acquire fits.
        held_by_user = len(self.list_slots(USER))
        if quota_probe and held_by_user < USER_QUOTA:
            p = self.acquire_params(persistent=False, origin="quota probe")
            reply, fds = self.call(USER, "io.taplinkd.Acquire", p)
            if reply.get("error") == "io.taplinkd.QuotaExceeded":
                self.fail("uid %d holds %d < %d slots but got QuotaExceeded %s" % (
                    USER, held_by_user, USER_QUOTA, why))
            h = self.on_acquire_reply(USER, p, reply, fds, "quota probe")
            if h and self.rng.random() < 0.7:
                h.close_fds()
                del self.known[h.label]

    # ------------------------------------------------------------ the run

    def teardown_check(self):
        """Gives everything back; then nothing of ours may remain."""
        for h in list(self.known.values()):
            if h.persistent or self.rng.random() < 0.3:
                reply, _ = self.call(h.uid, "io.taplinkd.Release", {"slot": h.slot["slot"]})
                if "error" in reply:
                    self.fail("final Release of %d answered %s" % (h.slot["slot"], reply))
            h.close_fds()
            del self.known[h.label]
        self.check("after giving everything back", quota_probe=False)
        for name in list(self.foreign):
            self.check_foreign_untouched(name)
            run("ip", "link", "del", name)
            del self.foreign[name]
        self.drop_conns()
        st = self.call(0, "io.taplinkd.Status")[0]["parameters"]
        # (the pool's ready namespaces stay: check() has counted them)
        left = [n for n in harness.links_with_prefix(PREFIX) if not re.fullmatch(PREFIX + "p[0-9]+", n)]
        elems = table_elements(self.d.table) or {}
        namespaces = clones.leaks([], self.clone_pool)
        if st["slotsInUse"] != 0 or left or any(elems.values()) or namespaces:
            self.leaked += len(left) + sum(len(v) for v in elems.values()) + len(namespaces)
            self.fail("after giving everything back: slotsInUse=%d, devices %s, elements %s, namespaces %s" % (
                st["slotsInUse"], left, elems, namespaces))
        self.drop_conns()
        if self.d.stop(signal.SIGTERM) != 0:
            self.fail("taplinkd exited with %d on SIGTERM" % self.d.proc.returncode)
        if self.d.sanitizer_reports():
            self.fail("the daemon's sanitizers reported", self.d.sanitizer_reports())

    def run(self):
        actions = [(self.act_acquire, 30), (self.act_vmm_exit, 14), (self.act_release, 12),
                   (self.act_disconnect, 16), (self.act_burst, 8), (self.act_release_other, 3),
                   (self.act_foreign, 4), (self.act_slow_reader, 3)]
        fns, weights = zip(*actions)
        self.d.start()
        self.check("at start")
        for self.round in range(1, self.rounds + 1):
            for _ in range(self.rng.randint(1, 4)):
                # keep the pool from filling up for good
                if len(self.known) > MAX_SLOTS * 0.6:
                    self.act_vmm_exit() if self.rng.random() < 0.6 else self.act_release()
                else:
                    self.rng.choices(fns, weights)[0]()
            if self.rng.random() < 0.12 or self.stats["kills"] < self.round // 5:
                self.kill_round()
            elif self.round % 10 == 0:
                self.check("at round %d" % self.round)
        self.check("at the end")
        self.teardown_check()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("CHAOS_ROUNDS", "120")))
    ap.add_argument("--clone-pool", type=int, default=int(os.environ.get("CHAOS_CLONE_POOL", "0")),
                    help="[clone] pool of the daemon's configuration")
    args = ap.parse_args()
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 2 ** 31))
    harness.require_sandbox()
    # Clone slots' bind mounts go to a /run of our own (harness.private_run).
    harness.private_run()
    run("ip", "link", "set", "lo", "up")
    print("chaos: seed=%d rounds=%d clone-pool=%d (replay: CHAOS_SEED=%d tests/chaos/run.sh %d)" % (
        seed, args.rounds, args.clone_pool, seed, args.rounds), flush=True)
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="taplinkd-chaos-")
    os.chmod(tmp, 0o755)
    ch = Chaos(seed, args.rounds, tmp, clone_pool=args.clone_pool)
    ok = False
    try:
        ch.run()
        ok = True
    except Violation as e:
        print(e, flush=True)
    except Exception:
        traceback.print_exc()
        print("chaos: the chaos script itself failed in round %d; daemon log tail:" % ch.round)
        print("\n".join(ch.d.log_text().splitlines()[-20:]))
    finally:
        for h in ch.known.values():
            h.close_fds()
        ch.drop_conns()
        ch.d.cleanup()
    s = ch.stats
    print("chaos: " + ", ".join("%s=%d" % (k, v) for k, v in sorted(s.items())))
    print("chaos: seed=%d rounds=%d kills=%d (SIGSTOP-then-SIGKILL %d, of which %d froze a device between "
          "creation and its elements' commit; %d during start-up) restarts=%d invariant-checks=%d "
          "leaked=%d runtime=%.1fs %s" % (
              seed, ch.round, s["kills"], s["stop-kills"], s["stop-kills inside create..commit"],
              s["kills during start-up"], s["restarts"], s["invariant checks"], ch.leaked,
              time.monotonic() - t0, "OK" if ok else "FAILED"), flush=True)
    if ok:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("chaos: daemon log kept in %s/taplinkd.log" % tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
