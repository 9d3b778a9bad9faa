#!/usr/bin/env python3
"""Row 6 of scripts/bench.sh: a ciuicfs store with many snapshots.

  bench-scale.py fill MNT N     save through the mount until the store holds
                                N snapshots: 20 small files once, then
                                run/state.txt rewritten once per step, its
                                step set with the user.ciuic.step xattr
  bench-scale.py probe MNT CIUICFS
                                time, in milliseconds: the first
                                `ls @history` after the mount, open+read of
                                @step-N/run/state.txt for 20 random steps
                                (median), and `ciuicfs log MNT | head`;
                                checks each read against the expected bytes

Prints `key value` lines for bench.sh. Not a test: it times things.
"""
import os
import random
import statistics
import subprocess
import sys
import time

FIXED = 20


def state(step):
    return ("step %d\n" % step).encode() * 8


def fill(mnt, n):
    run = os.path.join(mnt, "run")
    os.makedirs(run, exist_ok=True)  # 1 snapshot
    for i in range(FIXED):  # 1 snapshot each
        with open(os.path.join(run, "config-%02d.json" % i), "wb") as f:
            f.write(b'{"layer": %d}\n' % i)
    path = os.path.join(run, "state.txt")
    steps = n - 1 - FIXED
    t0 = time.perf_counter()
    for step in range(1, steps + 1):  # 1 snapshot each
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, state(step))
        os.setxattr(fd, "user.ciuic.step", str(step).encode())
        os.close(fd)
    dt = time.perf_counter() - t0
    print("fill_saves %d" % steps)
    print("fill_s %.1f" % dt)


def ms(t0):
    return (time.perf_counter() - t0) * 1000.0


def probe(mnt, ciuicfs):
    t0 = time.perf_counter()
    names = os.listdir(os.path.join(mnt, "@history"))
    print("ls_history_ms %.1f" % ms(t0))
    print("snapshots %d" % len(names))
    steps = FIXED  # the highest step saved, found from the names
    for name in names:  # SEQUENCE-step-STEP-ID8
        steps = max(steps, int(name.split("-")[2]))
    rng = random.Random(6)
    times = []
    for step in rng.sample(range(1, steps + 1), 20):
        t0 = time.perf_counter()
        with open(os.path.join(mnt, "@step-%d" % step, "run", "state.txt"), "rb") as f:
            data = f.read()
        times.append(ms(t0))
        if data != state(step):
            sys.exit("bench-scale: @step-%d/run/state.txt has the wrong bytes" % step)
    print("open_step_ms %.2f" % statistics.median(times))
    t0 = time.perf_counter()
    out = subprocess.run("%s log %s | head" % (ciuicfs, mnt), shell=True, check=True,
                         capture_output=True).stdout
    print("log_head_ms %.1f" % ms(t0))
    if len(out.splitlines()) != 10:
        sys.exit("bench-scale: log | head printed %d lines" % len(out.splitlines()))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "fill":
        fill(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "probe":
        probe(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
