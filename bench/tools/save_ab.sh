#!/bin/bash
# bench/README.md, "Set-ID bits by the daemon, the ingest's writeback, fsync's
# folder sync" (#22): as root. The bundled trainer's time per save (small
# preset, 6 saves a run) into native and two ciuicfs binaries A and B,
# alternating, ROUNDS rounds; prints each target's median and its ratio to
# native. A=PATH B=PATH [A_ARGS=...] [B_ARGS=...] bench/tools/save_ab.sh [ROUNDS]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$ROOT/build/trainer/ciuic-train
: "${A:?A=path of the first ciuicfs}" "${B:?B=path of the second ciuicfs}"
W=/var/tmp/save-ab; for m in $W/a $W/b; do fusermount3 -u $m 2>/dev/null; done; rm -rf $W; mkdir -p $W/a $W/b $W/n
"$A" mount $W/a --store $W/sa $A_ARGS >/dev/null && "$B" mount $W/b --store $W/sb $B_ARGS >/dev/null || exit 1
for r in $(seq "${1:-2}"); do
  for v in n a b; do
    rm -rf $W/$v/train; sleep 2
    $T --preset small --steps 6 --save-every 1 --batch 2 --log-every 100 --ckpt-dir $W/$v/train 2>&1 |
      awk -v v=$v '/saved step/ {print v, $(NF-1)}' >> $W/times
  done
done
fusermount3 -u $W/a; fusermount3 -u $W/b
/usr/bin/python3 - $W/times <<'P'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    v, t = line.split()
    d[v].append(float(t))
n = statistics.median(d["n"])
for v in "nab":
    m = statistics.median(d[v])
    print("%s: %d saves, median %.3f s, %.2fx native" % ({"n": "native", "a": "A", "b": "B"}[v], len(d[v]), m, m / n))
P
