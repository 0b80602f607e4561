#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs integration suites JOBS at a time, each in a network namespace of
its own (`unshare -n`); scripts/run-integration-tests.sh calls it.

    scripts/run-suites.py [C_TEST_BINARY...]

Suites: every C binary given, then every tests/integration/test_*.py
(`python3 -m unittest -v`). A suite's output goes to a file of its own
and is printed whole when the suite ends, headed by its name and followed
by its result and time, so that suites running at once never interleave.
The longest suites start first (the order is fixed; see SLOW_FIRST), the
rest in name order; the ones in ALONE run afterwards, one at a time. At the end: one line per suite with its time, and the
failed ones named; the exit status is 1 when any failed.

Environment: JOBS (suites at once; default 4: most of a suite's time is
spent waiting for packets, timeouts and daemons, not on a CPU), BUILD (the
build tree the suites use), TAPLINK_HOST_NETNS (exported by the caller)."""

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Suites that take the longest (tests/README.md, "How make check runs the
# integration suites"): started first so that one of them is not the last
# to begin. A suite missing here just starts after them.
SLOW_FIRST = ("test_egress.py", "test_guest.py", "test_clone_pool.py", "test_clone.py", "test-nft", "test_monitor.py",
              "test_firewall.py", "test-firewall", "test_routed.py", "test_publish.py")


# Suites that time a well-behaved client against a bound (test_hostile.py:
# 1 s, ten times the daemon's promise): they run alone, after the others,
# so that other suites' device churn (the rtnl mutex is one for the whole
# kernel) is not counted against the daemon.
ALONE = ("test_hostile.py",)


class Suite:
    def __init__(self, path, argv):
        self.name = os.path.basename(path)
        self.argv = ["unshare", "-n", "--"] + argv
        self.proc = None
        self.log = None
        self.started = self.seconds = 0.0

    def start(self):
        self.log = tempfile.TemporaryFile(prefix="taplink-suite-")
        self.started = time.monotonic()
        # A session of its own: an interrupted run kills the whole suite.
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def report(self):
        self.seconds = time.monotonic() - self.started
        rc = self.proc.returncode
        if rc == 0:
            self.result = "passed"
        elif rc > 0:
            self.result = "FAILED (exit status %d)" % rc
        else:
            self.result = "FAILED (killed by signal %d)" % -rc
        self.log.seek(0)
        out = sys.stdout.buffer
        out.write(b"=== %s (netns)\n" % self.name.encode())
        out.write(self.log.read())
        out.write(b"--- %s: %s in %.1f s\n" % (self.name.encode(), self.result.encode(), self.seconds))
        out.flush()
        self.log.close()

    def kill(self):
        if self.proc and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def suites(binaries):
    found = [Suite(b, [os.path.abspath(b)]) for b in binaries]
    # Relative to ROOT, where the suites run: unittest names them by it.
    found += [Suite(p, [sys.executable, "-m", "unittest", "-v", p])
              for p in sorted(glob.glob("tests/integration/test_*.py", root_dir=ROOT))]

    def rank(s):
        return SLOW_FIRST.index(s.name) if s.name in SLOW_FIRST else len(SLOW_FIRST)
    return sorted(found, key=rank)  # stable: otherwise as found


def run_all(pending, jobs):
    running, done = [], []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                s = pending.pop(0)
                s.start()
                running.append(s)
            pid, status = os.wait()
            for s in running:
                if s.proc.pid == pid:
                    s.proc.returncode = os.waitstatus_to_exitcode(status)
                    running.remove(s)
                    s.report()
                    done.append(s)
                    break
    except BaseException:
        for s in running:
            s.kill()
        raise
    return done


def main():
    jobs = int(os.environ.get("JOBS") or 4)
    if jobs < 1:
        sys.exit("JOBS must be at least 1")
    t0 = time.monotonic()
    found = suites(sys.argv[1:])
    done = run_all([s for s in found if s.name not in ALONE], jobs)
    done += run_all([s for s in found if s.name in ALONE], 1)
    total = time.monotonic() - t0
    print("integration suites, %d at a time:" % jobs)
    for s in sorted(done, key=lambda s: -s.seconds):
        print("  %6.1f s  %s%s" % (s.seconds, s.name, "" if s.proc.returncode == 0 else "  FAILED"))
    failed = [s.name for s in done if s.proc.returncode != 0]
    if failed:
        print("integration tests FAILED: %s" % " ".join(failed), file=sys.stderr)
        sys.exit(1)
    print("integration tests: all %d suites passed in %.0f s" % (len(done), total))


if __name__ == "__main__":
    main()
