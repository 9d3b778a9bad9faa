#!/usr/bin/env bash
# Two nodes of one store on RADOS, training at once (#15, the long form of
# tests/fs/rados_mount_test.cc): a throw-away cluster, two daemons with
# caches of their own, a bundled trainer saving into each. Half way the
# second daemon is killed with SIGKILL mid-run; the first must keep saving.
# Meanwhile node a prunes (keeping the last 50 snapshots) and runs gc every
# 20 s, so gc runs with saves in flight on both nodes (and, after the kill,
# with a dead node's lease); every gc must succeed.
# At the end: one chain seen the same from both nodes (the killed one
# remounted on its cache), every checkpoint in `@latest` of both trainers'
# folders readable and the same from either node, verify clean on both.
#
#   scripts/rados-soak.sh [SECONDS]     # default 300
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/fs/ciuicfs
train=$here/build/trainer/ciuic-train
secs=${1:-300}
work=$(mktemp -d /var/tmp/ciuicfs-soak.XXXXXX)
pids=()
source "$here/scripts/rados-node.sh"
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for m in "$work"/m*; do umount_node "$m"; done
  "$here/scripts/ceph-cluster.sh" stop "$work/ceph" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "soak: FAILED: $*" >&2; exit 1; }
conf=$(CIUICFS_CEPH_MEMSTORE_BYTES=$((6 << 30)) "$here/scripts/ceph-cluster.sh" start "$work/ceph" ciuicfs)
store=rados:ciuicfs/soak
mount() { mkdir -p "$work/m$1"; "$bin" mount "$work/m$1" --store "$store" --cache "$work/cache$1" --ceph-conf "$conf" >/dev/null; }
mount a; mount b
daemon_pid() { pgrep -f "ciuicfs mount $work/m$1 " | head -1; }
trainer() {  # node, then its log
  OMP_NUM_THREADS=1 "$train" --preset tiny --steps 100000000 --batch 2 --log-every 1000 --save-every 5 --keep 3 \
    --ckpt-dir "$work/m$1/run_$1" >"$work/train_$1.log" 2>&1 &
  pids+=($!)
}
saves() { grep -c '^saved step' "$work/train_$1.log" || true; }
trainer a; trainer b
collector() {  # prune and gc on node a every 20 s; one line per gc in gc.log
  while sleep 20; do
    "$bin" prune "$work/ma" --keep-last 50 >/dev/null 2>>"$work/gc.err" || { echo "prune failed" >>"$work/gc.log"; continue; }
    local t0 out
    t0=$(date +%s%N)
    if out=$("$bin" gc "$work/ma" 2>>"$work/gc.err"); then
      echo "ok $((($(date +%s%N) - t0) / 1000000)) $out" >>"$work/gc.log"
    else
      echo "failed" >>"$work/gc.log"
    fi
  done
}
collector &
gc_loop=$!
sleep $((secs / 2))
before_a=$(saves a); before_b=$(saves b)
echo "soak: after $((secs / 2)) s: node a saved $before_a, node b $before_b; killing node b's daemon"
kill -9 "$(daemon_pid b)"
sleep $((secs - secs / 2))
after_a=$(saves a)
echo "soak: node a saved $((after_a - before_a)) more after node b was lost"
[ "$after_a" -gt "$before_a" ] || fail "node a stopped saving when node b was lost"
kill "$gc_loop" 2>/dev/null || true; wait "$gc_loop" 2>/dev/null || true
gcs=$(grep -c '^ok' "$work/gc.log" || true)
! grep -q 'failed' "$work/gc.log" || fail "a gc or prune failed: $(grep failed "$work/gc.log" | head -1); $(tail -2 "$work/gc.err")"
[ "$gcs" -gt 0 ] || fail "gc never ran"
median_ms=$(awk '/^ok/ {print $2}' "$work/gc.log" | sort -n | awk '{t[NR] = $1} END {print t[int((NR + 1) / 2)]}')
max_ms=$(awk '/^ok/ {print $2}' "$work/gc.log" | sort -n | tail -1)
gc_summary=$(awk -v med="$median_ms" -v max="$max_ms" '/^ok/ {n++; f += $4; for (i = 3; i < NF; i++) if ($i == "chunks" && $(i+1) == "deleted,") c += $(i-1)}
                  END {printf "%d gcs, %d chunks deleted, %.1f MiB freed, gc took %.1f s median, %.1f s max",
                       n, c, f / 1048576, med / 1000, max / 1000}' "$work/gc.log")
echo "soak: gc on node a: $gc_summary"
kill -TERM "${pids[0]}"; wait "${pids[0]}" || fail "node a's trainer did not exit cleanly: $(tail -2 "$work/train_a.log")"
kill -9 "${pids[1]}" 2>/dev/null || true
umount -l "$work/mb" 2>/dev/null || true
mount b  # the lost node, back on its cache
sleep 1
la=$("$bin" log "$work/ma" | wc -l); lb=$("$bin" log "$work/mb" | wc -l)
[ "$la" -eq "$lb" ] || fail "the nodes see chains of $la and $lb snapshots"
cmp <("$bin" log "$work/ma") <("$bin" log "$work/mb") >/dev/null || fail "the nodes' logs differ"
for n in a b; do
  for d in "$work/ma/@latest/run_$n"/step_*; do
    rel=${d#"$work/ma/@latest/"}
    # A folder node b made just before it was lost may have no file yet.
    for f in "$d"/*; do [ -e "$f" ] || continue; cmp "$f" "$work/mb/@latest/$rel/$(basename "$f")" || fail "$rel/$(basename "$f") differs"; done
  done
  "$bin" verify "$work/m$n" >/dev/null || fail "verify on node $n"
done
echo "soak: OK: $la snapshots in one chain (the gc loop pruned to the last 50 every 20 s); node a saved $after_a checkpoints, node b $before_b before it was lost;" \
     "verify clean on both; daemon RSS a $(awk '/VmHWM/ {print int($2 / 1024)}' /proc/"$(daemon_pid a)"/status) MiB"
