#!/usr/bin/env python3
"""Rows 10 and 11 of scripts/bench.sh: what a snapshot's metadata costs as
the tree grows (#12). Each mode mounts its own store under WORK with the
given ciuicfs binary, so it also runs alone (old and new binaries side by
side); WORK is removed at the end unless --keep.

  bench-metadata.py hf CIUICFS WORK [--checkpoints 1,100,400,1000]
                       [--read-snapshots 20000] [--tries 3] [--trace FILE]
      Row 10: a Hugging Face Trainer-like run that keeps every checkpoint:
      per checkpoint N, mkdir out/checkpoint-N, then 8 small files (1-4 KiB)
      each written as NAME.tmp (open, write, close) and renamed to NAME,
      17 snapshots a checkpoint. At each of --checkpoints: the median time
      per file (write + close + rename) over the files of the last 10
      checkpoints, the index size (STORE/index/data.mdb: apparent, allocated,
      and the pages LMDB uses, from mdb_stat) and the snapshot count.
      Then (--read-snapshots N > 0) overwrite out/runs/events.txt until the
      store holds N snapshots (the tree stays as it is), and --tries times:
      umount, drop caches, mount, and time the first `ls @history`, open +
      read of a file of an old `@history/<name>/out/checkpoint-K/` (10
      random names, checked), `ciuicfs log MNT | head`, and `ciuicfs diff A
      B` of two snapshots 1,000 apart (checked); medians over the tries.
      --read-snapshots 0 probes the store as the checkpoints left it; -1
      skips the reads.

  bench-metadata.py dist CIUICFS WORK [--writers 64] [--steps 50] [--shard-kib 64]
      Row 11: torch.distributed.checkpoint-like: per step N the parent makes
      out/step_N/, --writers processes each write __R_0.distcp and
      __R_1.distcp (fresh random bytes), a barrier, rank 0 writes .metadata,
      then the parent removes out/step_{N-3} (keep the last 3). Per step: the
      wall time from the start barrier to .metadata closed, and the index
      size after the removal (the file's size, and the pages LMDB has in
      use: freed pages are reused, so the file grows in steps). Reports the median step time of the 5 steps
      up to step S/5 vs the last 5, and the index bytes added per step over
      steps S/5..2S/5 vs 4S/5..S (10-20 vs 40-50 for 50 steps).

Prints `key value` lines for bench.sh (times in ms unless the key says s;
sizes in bytes). Not a test: it times things, though it exits non-zero when
a read returns the wrong bytes or the mount fails a call.
"""
import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

# Row 10's checkpoint files: (name, size in bytes, the same bytes in every
# checkpoint?). Sizes and sameness after a small HF Trainer checkpoint.
HF_FILES = [
    ("config.json", 1100, True),
    ("trainer_state.json", 2300, False),
    ("rng_state.pth", 1400, False),
    ("scheduler.pt", 1064, False),
    ("optimizer.pt", 4096, False),
    ("training_args.bin", 1500, True),
    ("model.safetensors", 4096, False),
    ("README.md", 1000, True),
]
WINDOW = 10  # checkpoints whose files make one point's median


def out(key, value):
    print("%s %s" % (key, value), flush=True)


def ms(t0):
    return (time.perf_counter() - t0) * 1000.0


class Mount:
    """A ciuicfs mount of WORK/store at WORK/mnt."""

    def __init__(self, ciuicfs, work):
        self.ciuicfs = ciuicfs
        self.mnt = os.path.join(work, "mnt")
        self.store = os.path.join(work, "store")
        self.index = os.path.join(self.store, "index")
        self.mounted = False
        os.makedirs(self.mnt, exist_ok=True)

    def mount(self):
        t0 = time.perf_counter()
        subprocess.run([self.ciuicfs, "mount", self.mnt, "--store", self.store], check=True,
                       stdout=subprocess.DEVNULL)
        self.mounted = True
        return ms(t0)

    def umount(self):
        if self.mounted:
            subprocess.run([self.ciuicfs, "umount", self.mnt], check=True, stdout=subprocess.DEVNULL)
            self.mounted = False

    def stats(self):
        """`ciuicfs stats` as a dict of its first word to the second."""
        text = subprocess.run([self.ciuicfs, "stats", self.mnt], check=True, capture_output=True,
                              text=True).stdout
        d = {}
        for line in text.splitlines():
            words = line.rsplit(None, 1)
            if len(words) == 2:
                d[words[0]] = words[1]
        return d

    def snapshots(self):
        return int(self.stats()["snapshots"])

    def index_bytes(self, with_live=True):
        """(apparent, allocated, live) bytes of index/data.mdb; live: the
        pages LMDB has in use (high-water mark less its free list), from
        mdb_stat, or -1 when mdb_stat is missing."""
        st = os.stat(os.path.join(self.index, "data.mdb"))
        live = -1
        if with_live and shutil.which("mdb_stat"):
            r = subprocess.run(["mdb_stat", "-ef", self.index], capture_output=True, text=True)
            page = re.search(r"Page size: (\d+)", r.stdout)
            used = re.search(r"Number of pages used: (\d+)", r.stdout)
            free = re.search(r"Free pages: (\d+)", r.stdout)
            if r.returncode == 0 and page and used and free:
                live = (int(used.group(1)) - int(free.group(1))) * int(page.group(1))
        return st.st_size, st.st_blocks * 512, live

    def daemon_log_problems(self):
        """Lines of daemon.log that look like trouble."""
        path = os.path.join(self.store, "daemon.log")
        if not os.path.exists(path):
            return []
        with open(path, errors="replace") as f:
            return [l.rstrip("\n") for l in f if re.search(r"(?i)error|fail|corrupt|warn|EIO|ENOSPC", l)]


def load():
    """The 1-minute load average: how busy the machine was (noise)."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- row 10

def hf_bytes(ck, name, size, same):
    return random.Random("%s/%d" % (name, 0 if same else ck)).randbytes(size)


def report_point(m, n, ck_times, mkdir_times, t_start):
    files = [t for ck in range(max(1, n - WINDOW + 1), n + 1) for t in ck_times[ck]]
    apparent, allocated, live = m.index_bytes()
    snaps = m.snapshots()
    out("save_ms_%d" % n, "%.3f" % statistics.median(t[0] for t in files))
    out("save_p25_ms_%d" % n, "%.3f" % statistics.quantiles([t[0] for t in files], n=4, method="inclusive")[0])
    out("close_ms_%d" % n, "%.3f" % statistics.median(t[1] for t in files))
    out("rename_ms_%d" % n, "%.3f" % statistics.median(t[2] for t in files))
    out("mkdir_ms_%d" % n, "%.3f" % statistics.median(
        mkdir_times[ck] for ck in range(max(1, n - WINDOW + 1), n + 1)))
    out("index_apparent_%d" % n, apparent)
    out("index_allocated_%d" % n, allocated)
    out("index_live_%d" % n, live)
    out("snapshots_%d" % n, snaps)
    out("elapsed_s_%d" % n, "%.1f" % (time.perf_counter() - t_start))
    out("load_%d" % n, load())
    return snaps


def hf(args):
    points = sorted({int(x) for x in args.checkpoints.split(",")})
    if points[0] < 1:
        sys.exit("bench-metadata: --checkpoints must be positive")
    m = Mount(args.ciuicfs, args.work)
    trace = open(args.trace, "w") if args.trace else None
    try:
        m.mount()
        root = os.path.join(m.mnt, "out")
        os.mkdir(root)
        ck_times, mkdir_times = {}, {}
        t_start = time.perf_counter()
        out("points", ",".join(map(str, points)))
        out("files_per_checkpoint", len(HF_FILES))
        for ck in range(1, points[-1] + 1):
            d = os.path.join(root, "checkpoint-%d" % ck)
            t0 = time.perf_counter()
            os.mkdir(d)
            mkdir_times[ck] = ms(t0)
            times = []
            for name, size, same in HF_FILES:
                data = hf_bytes(ck, name, size, same)
                final = os.path.join(d, name)
                tmp = final + ".tmp"
                t0 = time.perf_counter()
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, data)
                t1 = time.perf_counter()
                os.close(fd)
                t2 = time.perf_counter()
                os.rename(tmp, final)
                t3 = time.perf_counter()
                times.append(((t3 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000))
            ck_times[ck] = times
            if trace:
                trace.write("%d %.3f %.3f %d\n" % (ck, statistics.median(t[0] for t in times),
                                                 mkdir_times[ck], m.index_bytes(False)[0]))
            if ck in points:
                report_point(m, ck, ck_times, mkdir_times, t_start)
        if args.read_snapshots >= 0:
            hf_read(m, args, points[-1])
        problems = m.daemon_log_problems()
        out("daemon_log_problems", len(problems))
        for line in problems[:20]:
            print("bench-metadata: daemon.log: " + line, file=sys.stderr)
    finally:
        if trace:
            trace.close()
        finish(m, args)


def hf_read(m, args, last_ck):
    snaps_ck = m.snapshots()  # the snapshots the checkpoints made
    grow = max(0, args.read_snapshots - snaps_ck)
    if grow:
        runs = os.path.join(m.mnt, "out", "runs")
        os.mkdir(runs)
        path = os.path.join(runs, "events.txt")
        t0 = time.perf_counter()
        for i in range(grow - 1):  # the mkdir was one
            write_file(path, b"event %d\n" % i)
        out("grow_overwrites", grow - 1)
        out("grow_s", "%.1f" % ((time.perf_counter() - t0)))
    out("read_snapshots", m.snapshots())
    shown = subprocess.run([m.ciuicfs, "show", "latest", "--store", m.mnt], check=True,
                           capture_output=True, text=True).stdout
    entries = re.search(r"^tree \((\d+) entries\)", shown, re.M)
    out("read_tree_entries", entries.group(1) if entries else "?")
    apparent, allocated, live = m.index_bytes()
    out("read_index_apparent", apparent)
    out("read_index_allocated", allocated)
    out("read_index_live", live)
    rng = random.Random(10)
    res = {"mount": [], "ls": [], "open": [], "log": [], "diff": []}
    dropped = True
    for _ in range(args.tries):
        m.umount()
        dropped = drop_caches() and dropped
        res["mount"].append(m.mount())
        t0 = time.perf_counter()
        names = os.listdir(os.path.join(m.mnt, "@history"))
        res["ls"].append(ms(t0))
        # SEQUENCE-step-STEP-ID8, in sequence order; the checkpoint phase
        # is the first snaps_ck of them.
        hist = sorted((int(n.split("-")[0]), int(n.split("-")[2]), n.split("-")[3], n) for n in names)
        ck_phase = hist[:snaps_ck]
        # Old snapshots: the first half of the checkpoint phase, those whose
        # step says at least one checkpoint was complete (the files of
        # checkpoint-K are written in full before checkpoint-(K+1) begins).
        old = [h for h in ck_phase[:max(1, len(ck_phase) // 2)] if h[1] >= 2] or \
              [h for h in ck_phase if h[1] >= 2]
        for _, step, _, snap in rng.sample(old, min(10, len(old))):
            ck = rng.randint(1, step - 1)
            name, size, same = rng.choice(HF_FILES)
            path = os.path.join(m.mnt, "@history", snap, "out", "checkpoint-%d" % ck, name)
            t0 = time.perf_counter()
            with open(path, "rb") as f:
                data = f.read()
            res["open"].append(ms(t0))
            if data != hf_bytes(ck, name, size, same):
                sys.exit("bench-metadata: %s has the wrong bytes" % path)
        t0 = time.perf_counter()
        text = subprocess.run("%s log %s | head" % (m.ciuicfs, m.mnt), shell=True, check=True,
                              capture_output=True).stdout
        res["log"].append(ms(t0))
        if len(text.splitlines()) != 10:
            sys.exit("bench-metadata: log | head printed %d lines" % len(text.splitlines()))
        # Two snapshots 1,000 apart at the end of the checkpoint phase (the
        # largest trees); checkpoints between them show up as added files.
        a = ck_phase[max(0, len(ck_phase) - 1 - 1000)]
        b = ck_phase[-1]
        t0 = time.perf_counter()
        r = subprocess.run([m.ciuicfs, "diff", a[2], b[2], "--store", m.mnt], capture_output=True,
                           text=True)
        res["diff"].append(ms(t0))
        if r.returncode != 0:
            sys.exit("bench-metadata: ciuicfs diff %s %s failed: %s" % (a[2], b[2], r.stderr.strip()))
        added = sum(1 for l in r.stdout.splitlines() if l.startswith("added"))
        if added < len(HF_FILES) * (b[1] - a[1] - 1):
            sys.exit("bench-metadata: diff of steps %d..%d listed %d added files" % (a[1], b[1], added))
    out("read_tries", args.tries)
    out("read_load", load())
    out("read_caches_dropped", int(dropped))
    out("read_history_names", len(names))
    out("read_mount_ms", "%.1f" % statistics.median(res["mount"]))
    out("read_ls_history_ms", "%.1f" % statistics.median(res["ls"]))
    out("read_ls_history_max_ms", "%.1f" % max(res["ls"]))
    out("read_open_ms", "%.2f" % statistics.median(res["open"]))
    out("read_open_max_ms", "%.2f" % max(res["open"]))
    out("read_log_head_ms", "%.1f" % statistics.median(res["log"]))
    out("read_diff_ms", "%.1f" % statistics.median(res["diff"]))
    out("read_diff_apart", b[0] - a[0])
    out("read_diff_added", added)


# ---------------------------------------------------------------- row 11

def dist_writer(rank, root, steps, shard, barrier, errors):
    try:
        for step in range(1, steps + 1):
            shards = [os.urandom(shard) for _ in range(2)]
            barrier.wait()  # start: the parent made out/step_N
            d = os.path.join(root, "step_%d" % step)
            for i, data in enumerate(shards):
                write_file(os.path.join(d, "__%d_%d.distcp" % (rank, i)), data)
            barrier.wait()  # every shard of the step is closed
            if rank == 0:
                write_file(os.path.join(d, ".metadata"), b"step %d\n" % step * 64)
            barrier.wait()  # .metadata is closed
    except Exception as e:  # noqa: BLE001 (any failure ends the run)
        errors.put("rank %d: %r" % (rank, e))
        barrier.abort()


def dist(args):
    m = Mount(args.ciuicfs, args.work)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(args.writers + 1, timeout=600)
    errors = ctx.Queue()
    procs = []
    try:
        m.mount()
        root = os.path.join(m.mnt, "out")
        os.mkdir(root)
        procs = [ctx.Process(target=dist_writer,
                             args=(r, root, args.steps, args.shard_kib << 10, barrier, errors))
                 for r in range(args.writers)]
        for p in procs:
            p.start()
        step_s, rm_s = {}, []
        index, inuse = {}, {}
        index[0], _, inuse[0] = m.index_bytes()
        t_start = time.perf_counter()
        try:
            for step in range(1, args.steps + 1):
                os.mkdir(os.path.join(root, "step_%d" % step))
                barrier.wait()
                t0 = time.perf_counter()
                barrier.wait()
                barrier.wait()
                step_s[step] = time.perf_counter() - t0
                if step > 3:
                    t0 = time.perf_counter()
                    shutil.rmtree(os.path.join(root, "step_%d" % (step - 3)))
                    rm_s.append(time.perf_counter() - t0)
                index[step], _, inuse[step] = m.index_bytes()
        except mp.BrokenBarrierError:
            msgs = []
            while not errors.empty():
                msgs.append(errors.get())
            sys.exit("bench-metadata: a writer failed: %s" % ("; ".join(msgs) or "barrier broken"))
        elapsed = time.perf_counter() - t_start
        for p in procs:
            p.join()
        s = args.steps
        e = max(5, s // 5)  # 10 of 50
        early = [step_s[k] for k in range(e - 4, e + 1)]
        late = [step_s[k] for k in range(s - 4, s + 1)]
        g0, g1 = e, max(e + 1, 2 * s // 5)  # 10..20
        l0, l1 = s - (g1 - g0), s  # 40..50
        grow_early = (index[g1] - index[g0]) / (g1 - g0)
        grow_late = (index[l1] - index[l0]) / (l1 - l0)
        live_early = (inuse[g1] - inuse[g0]) / (g1 - g0)
        live_late = (inuse[l1] - inuse[l0]) / (l1 - l0)
        apparent, allocated, live = m.index_bytes()
        out("writers", args.writers)
        out("steps", s)
        out("shard_kib", args.shard_kib)
        out("step_s_early", "%.4f" % statistics.median(early))
        out("step_s_late", "%.4f" % statistics.median(late))
        out("step_ratio", "%.2f" % (statistics.median(late) / statistics.median(early)))
        out("early_steps", "%d-%d" % (e - 4, e))
        out("late_steps", "%d-%d" % (s - 4, s))
        out("grow_early", "%.0f" % grow_early)
        out("grow_late", "%.0f" % grow_late)
        out("grow_ratio", "%.2f" % (grow_late / grow_early) if grow_early > 0 else "n/a")
        out("grow_live_early", "%.0f" % live_early)
        out("grow_live_late", "%.0f" % live_late)
        out("grow_live_ratio", "%.2f" % (live_late / live_early) if live_early > 0 else "n/a")
        out("grow_early_steps", "%d-%d" % (g0, g1))
        out("grow_late_steps", "%d-%d" % (l0, l1))
        out("rm_s", "%.3f" % statistics.median(rm_s) if rm_s else "n/a")
        out("index_apparent", apparent)
        out("index_allocated", allocated)
        out("index_live", live)
        out("snapshots", m.snapshots())
        out("elapsed_s", "%.1f" % elapsed)
        out("load", load())
        out("step_s_all", ",".join("%.3f" % step_s[k] for k in range(1, s + 1)))
        out("index_all", ",".join(str(index[k]) for k in range(0, s + 1)))
        out("index_live_all", ",".join(str(inuse[k]) for k in range(0, s + 1)))
        problems = m.daemon_log_problems()
        out("daemon_log_problems", len(problems))
        for line in problems[:20]:
            print("bench-metadata: daemon.log: " + line, file=sys.stderr)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        finish(m, args)


def finish(m, args):
    try:
        m.umount()
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    for name in ("hf", "dist"):
        p = sub.add_parser(name)
        p.add_argument("ciuicfs", help="the ciuicfs binary")
        p.add_argument("work", help="a directory of its own (created; removed at the end unless --keep)")
        p.add_argument("--keep", action="store_true", help="leave WORK (store and mountpoint) in place")
    p = sub.choices["hf"]
    p.add_argument("--checkpoints", default="1,100,400,1000")
    p.add_argument("--read-snapshots", type=int, default=20000)
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("--trace", help="write 'checkpoint file_ms mkdir_ms index_bytes' per checkpoint")
    p = sub.choices["dist"]
    p.add_argument("--writers", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--shard-kib", type=int, default=64)
    args = ap.parse_args()
    args.ciuicfs = os.path.abspath(args.ciuicfs)
    if os.path.exists(args.work) and os.listdir(args.work):
        sys.exit("bench-metadata: %s is not empty" % args.work)
    os.makedirs(args.work, exist_ok=True)
    if args.mode == "dist" and args.steps < 10:
        sys.exit("bench-metadata: dist needs --steps >= 10")
    hf(args) if args.mode == "hf" else dist(args)


if __name__ == "__main__":
    main()
