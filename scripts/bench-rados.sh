#!/usr/bin/env bash
# Saves into a ciuicfs mount whose store is on RADOS, against plain RADOS
# puts of the same bytes on the same throw-away cluster (the engine's floor) and
# a plain copy to the local disk (#15; bench/README.md, "Store on RADOS").
#
#   scripts/bench-rados.sh [SRC_DIR] [REPS]
#
# SRC_DIR holds checkpoint folders (default: two saves the bundled trainer
# writes now). Each repetition starts a fresh cluster (one mon, one memstore
# OSD on 127.0.0.1: the network and the disks are out of the picture, what is
# left is the client's work and the OSD's CPU), then times, for one writer
# and for two at once: librados puts of every file in 64 MiB objects (RADOS
# caps an object at 128 MiB; the store's packs are 64 MiB too; the `rados
# put` command would add ~0.18 s of start-up per object), and `cp -r`
# of the folders into mounts (one daemon per writer, each with its own
# cache, like two nodes). Prints each run and the medians, and the daemons'
# peak RSS (VmHWM).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/fs/ciuicfs
src=${1:-}
reps=${2:-3}
work=$(mktemp -d /var/tmp/ciuicfs-bench-rados.XXXXXX)
source "$here/scripts/rados-node.sh"
cleanup() {
  for m in "$work"/m*; do umount_node "$m"; done
  "$here/scripts/ceph-cluster.sh" stop "$work/ceph" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$src" ]; then
  src=$work/src
  "$here/build/trainer/ciuic-train" --preset small --steps 2 --save-every 1 --batch 2 --log-every 100 \
    --ckpt-dir "$src" >/dev/null
fi
mapfile -t saves < <(find "$src" -mindepth 1 -maxdepth 1 -type d | sort)
[ "${#saves[@]}" -ge 2 ] || { echo "$0: want at least two checkpoint folders in $src" >&2; exit 2; }
one=("${saves[0]}" "${saves[1]}")
bytes=$(du -sb "${one[@]}" | awk '{s += $1} END {print s}')
echo "source: ${one[*]} ($((bytes / 1000000)) MB per writer), $reps repetitions"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {print b - a}'; }
mbps() { awk -v b="$1" -v t="$2" 'BEGIN {printf "%.0f", b / t / 1e6}'; }

# Every file cut once into 64 MiB pieces, outside the timing.
for d in "${one[@]}"; do
  for f in "$d"/*; do
    mkdir -p "$work/split/$(basename "$d")/$(basename "$f")"
    split -b 64M -d "$f" "$work/split/$(basename "$d")/$(basename "$f")/p"
  done
done
# The engine's floor: one librados client per writer (Debian's
# python3-rados, from the ceph packages) writing every piece as one object
# with one write_full, as the store's packs are written. Connected before the
# clock starts: each writer says it is ready, then waits for "go".
cat > "$work/put.py" <<'PY'
import os, sys, time
import rados
conf, tag, root, ready, go = sys.argv[1:6]
c = rados.Rados(conffile=conf)
c.connect()
io = c.open_ioctx("ciuicfs")
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
for d, _, files in sorted(os.walk(root)):
    for f in sorted(files):
        p = os.path.join(d, f)
        with open(p, "rb") as fh:
            io.write_full(tag + "." + os.path.relpath(p, root), fh.read())
io.close()
c.shutdown()
PY
# Times N writers at once (tags in $@), from "go" until the last is done.
rados_put() {
  local conf=$1; shift
  local tag pids=()
  rm -f "$work"/ready.* "$work/go"
  for tag in "$@"; do
    /usr/bin/python3 "$work/put.py" "$conf" "$tag" "$work/split" "$work/ready.$tag" "$work/go" & pids+=($!)
  done
  while [ "$(ls "$work"/ready.* 2>/dev/null | wc -l)" -lt "$#" ]; do sleep 0.01; done
  local t; t=$(now); touch "$work/go"
  wait "${pids[@]}"
  since "$t"
}

declare -a r_put1 r_mnt1 r_put2 r_mnt2 r_disk rss
for rep in $(seq 1 "$reps"); do
  conf=$(CIUICFS_CEPH_MEMSTORE_BYTES=$((8 * bytes + (1 << 30))) "$here/scripts/ceph-cluster.sh" start "$work/ceph" ciuicfs)
  sync; echo 3 > /proc/sys/vm/drop_caches
  mkdir "$work/disk.$rep"
  t=$(now); cp -r "${one[@]}" "$work/disk.$rep/"; sync; d=$(since "$t")
  r_disk+=("$(mbps "$bytes" "$d")"); rm -rf "$work/disk.$rep"
  d=$(rados_put "$conf" "a$rep"); r_put1+=("$(mbps "$bytes" "$d")")
  d=$(rados_put "$conf" "b$rep" "c$rep"); r_put2+=("$(mbps $((2 * bytes)) "$d")")
  for n in a b; do
    mkdir -p "$work/m$n"
    "$bin" mount "$work/m$n" --store "rados:ciuicfs/bench$rep" --cache "$work/cache$n.$rep" --ceph-conf "$conf" >/dev/null
  done
  t=$(now); cp -r "${one[@]}" "$work/ma/"; d=$(since "$t"); r_mnt1+=("$(mbps "$bytes" "$d")")
  mkdir "$work/ma/two" "$work/mb/two"
  t=$(now); cp -r "${one[@]}" "$work/ma/two/" & cp -r "${one[@]}" "$work/mb/two/"; wait
  d=$(since "$t"); r_mnt2+=("$(mbps $((2 * bytes)) "$d")")
  for n in a b; do
    pid=$(pgrep -f "ciuicfs mount $work/m$n " | head -1)
    rss+=("$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")")
    umount_node "$work/m$n"
  done
  "$here/scripts/ceph-cluster.sh" stop "$work/ceph"
  echo "run $rep: disk ${r_disk[-1]} MB/s; one writer: RADOS put ${r_put1[-1]}, mount ${r_mnt1[-1]} MB/s;" \
       "two writers: RADOS put ${r_put2[-1]}, mounts ${r_mnt2[-1]} MB/s; daemon RSS ${rss[-2]}/${rss[-1]} MiB"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratios() { local -n a=$1 b=$2; local i; for i in "${!a[@]}"; do awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN {printf "%.2f\n", x / y}'; done; }
p1=$(median "${r_put1[@]}"); m1=$(median "${r_mnt1[@]}"); p2=$(median "${r_put2[@]}"); m2=$(median "${r_mnt2[@]}")
q1=$(median $(ratios r_mnt1 r_put1)); q2=$(median $(ratios r_mnt2 r_put2))
echo
echo "Medians of $reps runs (the ratio: the median of each run's ratio, both measured in that run):"
echo "| writers | RADOS put MB/s | ciuicfs mount MB/s | mount / RADOS put | local disk cp MB/s |"
echo "| --- | --- | --- | --- | --- |"
echo "| 1 | $p1 | $m1 | $q1 | $(median "${r_disk[@]}") |"
echo "| 2 | $p2 | $m2 | $q2 | |"
echo "daemon peak RSS (VmHWM): median $(median "${rss[@]}") MiB, max $(printf '%s\n' "${rss[@]}" | sort -n | tail -1) MiB"
