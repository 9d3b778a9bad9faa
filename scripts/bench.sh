#!/usr/bin/env bash
# Benchmarks (not tests): each figure measured in this run against its
# reference on the same disk, medians of REPS repetitions, printed as one
# table and written to bench/RESULTS.md (with bench/OPTIMISATIONS.md, the
# hand-kept record of what changed and why, appended).
#
#   scripts/bench.sh [--reps 3] [--gib 2] [--dir /var/tmp] [--snapshots 10000]
#                    [--checkpoints 1,100,400,1000] [--read-snapshots 20000]
#                    [--writers 64] [--writer-steps 50]
#                    [--ciuicfs PATH]  (this binary, not a build of the tree)
#                    [--rows 1,5,6]   (a subset, printed only: RESULTS.md
#                                      is written by full runs)
#
# Rows 1-4: sequential write until close / with fsync / identical data again,
# read back cold and warm: ciuicfs vs the native disk vs libfuse's
# passthrough_ll (the FUSE floor), compiled here from Debian's examples.
# Row 5: 20 checkpoints of the bundled trainer (full and frozen-layer runs)
# and 20 bf16 model states (ciuic-ckptgen) stored by ciuicfs (then
# `ciuicfs compact`), restic, borg (zstd-3) and plain copies. Row 6: a store of
# --snapshots snapshots. Row 7: daemon peak RSS. Row 8: the trainer's time
# per checkpoint, mount vs plain directory. Row 9: a writer's time per save
# while `ciuicfs gc MNT` compacts packs in the daemon, vs without gc.
# Row 12: a save while the previous one is ingested in the background, vs
# on an idle daemon, and the ingest's GB/s and GB per CPU-second.
# Rows 10-11 (scripts/bench-metadata.py): what a snapshot's metadata costs as
# the tree grows. Row 10: a Hugging Face Trainer-like run keeping every
# checkpoint folder (8 small files each, tmp then rename), time per file and
# index size at --checkpoints, then reads at --read-snapshots snapshots.
# Row 11: --writers processes saving 2 shards each per step, rank 0's
# .metadata last, keeping the last 3 step folders; early vs late steps.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=3
gib=2
base=/var/tmp
snapshots=10000
checkpoints=1,100,400,1000
read_snapshots=20000
writers=64
writer_steps=50
ciuicfs=
rows=1,2,3,4,5,6,7,8,9,10,11,12
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --gib) gib=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    --checkpoints) checkpoints=$2; shift 2 ;;
    --read-snapshots) read_snapshots=$2; shift 2 ;;
    --writers) writers=$2; shift 2 ;;
    --writer-steps) writer_steps=$2; shift 2 ;;
    --ciuicfs) ciuicfs=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
want() { [[ ",$rows," == *",$1,"* ]]; }
full_run=false
[ "$rows" = 1,2,3,4,5,6,7,8,9,10,11,12 ] && full_run=true

scripts/setup.sh
for p in bc fio restic borgbackup python3 openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
T_=$PWD/build/trainer/ciuic-train
CKG_=$PWD/build/trainer/ciuic-ckptgen
if [ -n "$ciuicfs" ]; then
  B=$(realpath "$ciuicfs")
  [ -x "$B" ] || { echo "bench.sh: --ciuicfs $ciuicfs is not an executable" >&2; exit 2; }
  if { want 5 || want 8; } && [ ! -x "$T_" ]; then scripts/build.sh >/dev/null; fi  # the trainer
else
  scripts/build.sh >/dev/null
  B=$PWD/build/fs/ciuicfs
fi
work=$(mktemp -d "$base/ciuic-bench-XXXXXX")
shm=$(mktemp -d /dev/shm/ciuic-bench-XXXXXX)  # write sources: RAM, untouched by drop_caches
pt_bin=$work/passthrough_ll
gcc -O2 -o "$pt_bin" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c $(pkg-config fuse3 --cflags --libs)

# libfuse's passthrough_hp with kernel passthrough (the floor of a FUSE
# daemon that takes itself out of the data path), when scripts/setup.sh
# built libfuse >= 3.17 (.deps/libfuse).
hp_bin=$PWD/.deps/libfuse/bin/passthrough_hp
[ -x "$hp_bin" ] || hp_bin=""

mnt=$work/mnt; store=$work/store; native=$work/native; pt_src=$work/pt-src; pt_mnt=$work/pt-mnt
fb_mnt=$work/fb-mnt; fb_store=$work/fb-store; hp_src=$work/hp-src; hp_mnt=$work/hp-mnt
mkdir -p "$mnt" "$native" "$pt_src" "$pt_mnt" "$fb_mnt" "$hp_src" "$hp_mnt"
cleanup() {
  if [ -n "${r9_gc_pid:-}" ]; then  # row 9's gc loop, and the ciuicfs call it waits on
    local kids; kids=$(pgrep -P "$r9_gc_pid" || true)
    kill "$r9_gc_pid" $kids 2>/dev/null || true
    wait "$r9_gc_pid" 2>/dev/null || true
  fi
  for m in "$mnt" "$fb_mnt" "$work/r5mnt" "$work/r6mnt" "$work/r7mnt" "$work/r9mnt" "$work/r10/mnt" "$work/r11/mnt"; do "$B" umount "$m" >/dev/null 2>&1 || true; done
  fusermount3 -u "$pt_mnt" >/dev/null 2>&1 || true
  fusermount3 -u "$hp_mnt" >/dev/null 2>&1 || true
  rm -rf "$work" "$shm"
}
trap cleanup EXIT

bytes=$((gib << 30))
src=$shm/src.bin
# Fresh pseudo-random data (AES-CTR keystream: incompressible, never seen
# before by any store) for each timed write, kept in RAM: the source is not
# what we time.
# (openssl ends on SIGPIPE when head has enough: not a failure.)
stream() { (set +o pipefail; openssl enc -aes-128-ctr -pass "pass:$1" -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c "$2"); }
fresh_src() { stream "$RANDOM$RANDOM" "$bytes" > "$src"; }

mount_ciuicfs() { "$B" mount "$mnt" --store "$store" >/dev/null; }
# The write path without kernel passthrough: every WRITE through the daemon.
mount_fallback() { "$B" mount "$fb_mnt" --store "$fb_store" --no-passthrough >/dev/null; }
mount_pt() { "$pt_bin" -o source="$pt_src" "$pt_mnt"; }
mount_hp() { [ -z "$hp_bin" ] || "$hp_bin" "$hp_src" "$hp_mnt"; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# A ciuicfs mount's ingest backlog (versions not yet cut into chunks), and
# a wait until it is empty.
backlog_of() { "$B" stats "$1" --json | grep -o '"backlog_versions":[0-9]*' | cut -d: -f2; }
drain_of() {
  local b deadline=$((SECONDS + 600))
  while b=$(backlog_of "$1") && [ -n "$b" ] && [ "$b" != 0 ]; do
    [ $SECONDS -lt $deadline ] || { echo "bench.sh: the ingest of $1 did not drain in 10 minutes" >&2; exit 1; }
    sleep 0.05
  done
  [ "$b" = 0 ] || { echo "bench.sh: no backlog from ciuicfs stats $1" >&2; exit 1; }
}
# A quiet start for a timed write: no background work of any target left
# (the given mounts' ingest drained; drop_caches' sync writes back every
# dirty page), caches dropped.
quiesce() { local m; for m in "$@"; do drain_of "$m"; done; drop_caches; }
daemon_of() { pgrep -f "ciuicfs mount $1( |\$)"; }
peak_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# Seconds for a command, wall clock.
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gbps() { echo "$bytes / $1 / 1000000000" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
fmt() { printf "%.${2:-2}f" "$1"; }

declare -A T
targets=(native pt ciuicfs fallback)
[ -n "$hp_bin" ] && targets+=(hp)
ntargets=${#targets[@]}
dir_of() {
  case $1 in native) echo "$native" ;; pt) echo "$pt_mnt" ;; ciuicfs) echo "$mnt" ;; fallback) echo "$fb_mnt" ;; hp) echo "$hp_mnt" ;; esac
}
# Seconds from the last write's return to close()'s, for one file of
# $bytes from $src written in 1 MiB pieces (close waits for the commit).
close_gap() {
  python3 - "$src" "$1" <<'PY'
import os, sys, time
src = open(sys.argv[1], 'rb', buffering=0)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = src.read(1 << 20)
    if not b:
        break
    os.write(fd, b)
t0 = time.monotonic(); os.close(fd); print('%.6f' % (time.monotonic() - t0))
PY
}

# Rows 1-3. Each repetition visits the targets in a rotated order, and
# every timed write starts on a quiet machine (quiesce), so no target pays
# for reclaiming the page cache, the write-back or the ingest of the write
# before it (row 12 measures a save during an ingest). Row 1c: close()'s own
# time after the last write of a fresh file (the commit it waits for).
if want 1 || want 2 || want 3 || want 4; then
  mount_ciuicfs
  mount_fallback
  mount_pt
  mount_hp
  declare -A W F A C
  for r in $(seq "$reps"); do
    for k in $(seq 0 $((ntargets - 1))); do
      target=${targets[$(((r + k) % ntargets))]}
      dir=$(dir_of "$target")
      fresh_src; quiesce "$mnt" "$fb_mnt"
      W[$target]+="$(timed dd if="$src" of="$dir/w$r.bin" bs=1M) "
      fresh_src; quiesce "$mnt" "$fb_mnt"
      F[$target]+="$(timed dd if="$src" of="$dir/f$r.bin" bs=1M conv=fsync) "
      quiesce "$mnt" "$fb_mnt"
      A[$target]+="$(timed dd if="$src" of="$dir/f$r.bin" bs=1M conv=fsync) "  # identical content again
      fresh_src; quiesce "$mnt" "$fb_mnt"
      C[$target]+="$(close_gap "$dir/c$r.bin") "
      rm -f "$dir/c$r.bin"
    done
  done
  for target in "${targets[@]}"; do
    T[$target,write]=$(median ${W[$target]})
    T[$target,fsync]=$(median ${F[$target]})
    T[$target,again]=$(median ${A[$target]})
    T[$target,close_ms]=$(echo "$(median ${C[$target]}) * 1000" | bc -l | xargs printf '%.1f')
  done

  # Row 4: read back; ciuicfs from @latest (after a remount, which first
  # ingests the backlog: the bytes come from packs), the others the file.
  for target in "${targets[@]}"; do
    case $target in
      native) file=$native/w1.bin ;; pt) file=$pt_mnt/w1.bin ;; hp) file=$hp_mnt/w1.bin ;;
      ciuicfs) file=$mnt/@latest/w1.bin ;; fallback) file=$fb_mnt/@latest/w1.bin ;;
    esac
    cold=(); warm=(); live=()
    for r in $(seq "$reps"); do
      case $target in
        ciuicfs) "$B" umount "$mnt"; drop_caches; mount_ciuicfs ;;
        fallback) "$B" umount "$fb_mnt"; drop_caches; mount_fallback ;;
        *) drop_caches ;;
      esac
      cold+=("$(timed cat "$file")")
      warm+=("$(timed cat "$file")")
      # 4c: the live path read again, as a resume right after a save
      # does (the first read fills the page cache the next open keeps).
      case $target in
        ciuicfs) live_file=$mnt/w1.bin ;; fallback) live_file=$fb_mnt/w1.bin ;; *) live_file=$file ;;
      esac
      cat "$live_file" > /dev/null
      live+=("$(timed cat "$live_file")")
    done
    T[$target,cold]=$(median "${cold[@]}")
    T[$target,warm]=$(median "${warm[@]}")
    T[$target,live]=$(median "${live[@]}")
  done
  "$B" umount "$mnt"
  "$B" umount "$fb_mnt"
  fusermount3 -u "$pt_mnt"
  [ -z "$hp_bin" ] || fusermount3 -u "$hp_mnt"
  rm -rf "$native"/* "$pt_src"/* "$hp_src"/* "$store" "$fb_store" "$src"
fi

# Row 5: 20 checkpoints of the small preset, written once to a plain
# directory by the trainer, then stored save by save by each tool; the time
# of the 20 saves includes a final sync, so every tool ends durable.
r5_tools=(ciuicfs restic borg copies)
if want 5; then
  export RESTIC_PASSWORD=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  for run in full frozen bf16; do
    srcdir=$work/r5src-$run
    if [ $run = bf16 ]; then  # a bf16 model state, as mixed-precision training keeps it (ciuic-ckptgen)
      "$CKG_" "$srcdir" --saves 20 --every 5 --width 512 --blocks 8 --dtype bf16 > "$work/r5-$run.log" 2>&1
    else
      extra=(); [ $run = frozen ] && extra=(--freeze-layers 9)  # embeddings + 9 of 10 blocks: a fine-tune
      "$T_" --preset small --steps 20 --save-every 1 --batch 2 --log-every 100 --ckpt-dir "$srcdir" "${extra[@]}" \
        > "$work/r5-$run.log" 2>&1
    fi
    T[r5,$run,raw]=$(du -sb "$srcdir" | awk '{print $1}')
    saves=("$srcdir"/step_*)
    declare -A R5
    for r in $(seq "$reps"); do
      cat "$srcdir"/step_*/* > /dev/null
      for tool in "${r5_tools[@]}"; do
        repo=$work/r5-$tool
        rm -rf "$repo"; mkdir -p "$repo"
        case $tool in
          ciuicfs) mkdir -p "$work/r5mnt"; "$B" mount "$work/r5mnt" --store "$repo" >/dev/null; mkdir "$work/r5mnt/run" ;;
          restic) restic init --repo "$repo" -q ;;
          borg) borg init -e none "$repo" ;;
        esac
        sync
        t0=$(date +%s.%N)
        for s in "${saves[@]}"; do
          case $tool in
            ciuicfs) cp -r "$s" "$work/r5mnt/run/" ;;
            restic) restic backup --repo "$repo" -q "$s" ;;
            borg) borg create --compression zstd,3 "$repo::$(basename "$s")" "$s" ;;
            copies) cp -r "$s" "$repo/" ;;
          esac
        done
        sync
        t1=$(date +%s.%N)
        R5[$tool]+="$(echo "$t1 - $t0" | bc -l) "
        if [ $tool = ciuicfs ]; then
          "$B" umount "$work/r5mnt"
          # What the background re-encoding left undone, then pack compaction.
          c0=$(date +%s.%N)
          "$B" compact "$repo" > "$work/r5-compact.txt"
          c1=$(date +%s.%N)
          R5[compact]+="$(echo "$c1 - $c0" | bc -l) "
        fi
        T[r5,$run,$tool,bytes]=$(du -sb "$repo" | awk '{print $1}')
      done
    done
    for tool in "${r5_tools[@]}" compact; do T[r5,$run,$tool,s]=$(median ${R5[$tool]}); R5[$tool]=""; done
    rm -rf "$srcdir" "$work"/r5-*/
  done
fi

# Row 6: a store of $snapshots snapshots (small files), saved through the
# mount; then timed after a fresh mount with dropped caches.
if want 6 || want 7; then
  r6=$work/r6mnt; mkdir -p "$r6"
  "$B" mount "$r6" --store "$work/r6store" >/dev/null
  python3 scripts/bench-scale.py fill "$r6" "$snapshots" > "$work/r6-fill.txt"
  mt=()
  for r in $(seq "$reps"); do
    "$B" umount "$r6"; drop_caches
    mt+=("$(timed "$B" mount "$r6" --store "$work/r6store")")
  done
  T[r6,mount_ms]=$(echo "$(median "${mt[@]}") * 1000" | bc -l | xargs printf '%.0f')
  python3 scripts/bench-scale.py probe "$r6" "$B" > "$work/r6-probe.txt"
  while read -r k v; do T[r6,$k]=$v; done < "$work/r6-probe.txt"
  T[r7,snap_mib]=$(peak_mib "$(daemon_of "$r6")")
  "$B" umount "$r6"
  rm -rf "$work/r6store"
fi

# Row 7: the daemon's peak resident memory (VmHWM) while one file of 8 GiB
# of fresh data is written.
if want 7; then
  r7=$work/r7mnt; mkdir -p "$r7"
  "$B" mount "$r7" --store "$work/r7store" >/dev/null
  stream "$RANDOM$RANDOM" $((8 << 30)) | dd of="$r7/big.bin" bs=1M iflag=fullblock status=none
  T[r7,write_mib]=$(peak_mib "$(daemon_of "$r7")")
  "$B" umount "$r7"
  rm -rf "$work/r7store"
fi

# Row 8: time per checkpoint of the bundled trainer (small preset, one save
# per step), into the mount vs into a plain directory on the same disk,
# alternating, the medians over all saves.
if want 8; then
  mount_ciuicfs
  mount_fallback
  save_times() { grep -o 'in [0-9.]* s' "$1" | awk '{print $2}'; }
  train8=("$T_" --preset small --steps 6 --save-every 1 --batch 2 --log-every 100)
  s8n=(); s8m=(); s8f=()
  for r in $(seq "$reps"); do
    rm -rf "$native/train" "$mnt/train" "$fb_mnt/train"
    "${train8[@]}" --ckpt-dir "$native/train" > "$work/t8-native.log" 2>&1
    "${train8[@]}" --ckpt-dir "$mnt/train" > "$work/t8-mount.log" 2>&1
    "${train8[@]}" --ckpt-dir "$fb_mnt/train" > "$work/t8-fallback.log" 2>&1
    s8n+=($(save_times "$work/t8-native.log")); s8m+=($(save_times "$work/t8-mount.log"))
    s8f+=($(save_times "$work/t8-fallback.log"))
  done
  T[native,save]=$(median "${s8n[@]}")
  T[ciuicfs,save]=$(median "${s8m[@]}")
  T[fallback,save]=$(median "${s8f[@]}")
  ckpt_mb=$(du -sm "$native/train/step_00000001" | awk '{print $1}')
  "$B" umount "$mnt"
  "$B" umount "$fb_mnt"
fi

# Row 9: a trainer-like writer's time per save while `ciuicfs gc MNT` runs
# inside the daemon, vs the same saves with no gc. The store is first filled
# with $r9_tranches groups of 16 checkpoint files of 32 MiB each (tmp then
# rename; ~4 packs per group). Pruning alone frees nothing, since every
# file is still in the live tree, so during the gc phase a background loop
# frees one group per round (removes 3 of every 4 of its files, leaving
# its packs ~25 % live, below gc's 50 % compaction threshold), prunes to the
# last 2 snapshots and runs gc, which then copies the live records of those
# packs. The writer saves $r9_saves files of 64 MiB of fresh data from RAM
# (dd to step-N/model.pt.tmp, close, rename), each timed from open to
# rename; the same store, caches dropped, first without gc, then with the
# loop. The with-gc median counts only the saves that spent at least half
# their time inside a gc call that compacted packs.
if want 9; then
  r9=$work/r9mnt; mkdir -p "$r9"
  r9_saves=24 r9_tranches=8 r9_files=16
  r9_sources() { for i in $(seq "$r9_saves"); do stream "$RANDOM$RANDOM-$i" $((64 << 20)) > "$shm/r9-$i.bin"; done; }
  r9_write() {  # $1: a folder name; one line "start end" (epoch seconds) per save
    local i d t0
    for i in $(seq "$r9_saves"); do
      d=$r9/$1/step-$i; mkdir -p "$d"
      t0=$(date +%s.%N)
      dd if="$shm/r9-$i.bin" of="$d/model.pt.tmp" bs=1M status=none
      mv "$d/model.pt.tmp" "$d/model.pt"
      echo "$t0 $(date +%s.%N)"
    done
  }
  r9_gc_loop() {  # until $work/r9-stop exists; one line "start end <gc's output>" per gc
    local k=0 j t0 out
    while [ ! -e "$work/r9-stop" ]; do
      k=$((k + 1))
      if [ "$k" -le "$r9_tranches" ]; then
        for j in $(seq "$r9_files"); do [ $((j % 4)) = 0 ] || rm -r "$r9/fill/t$k/ckpt-$j"; done
      else
        sleep 0.5  # no garbage left to make: gc stays on, gently
      fi
      "$B" prune "$r9" --keep-last 2 >/dev/null
      touch "$work/r9-go"
      t0=$(date +%s.%N)
      out=$("$B" gc "$r9" 2>&1) || { echo "bench.sh: row 9: ciuicfs gc failed: $out" >&2; exit 1; }
      echo "$t0 $(date +%s.%N) $out"
    done
  }
  # Per save of $2: its seconds, and 1 when at least half of them fell inside
  # a gc call of $1 that compacted packs.
  r9_inside() {
    awk 'NR == FNR { if (match($0, /[0-9]+ packs compacted/) && substr($0, RSTART, RLENGTH) + 0 > 0) { n++; g0[n] = $1; g1[n] = $2 }; next }
         { d = $2 - $1; c = 0
           for (i = 1; i <= n; i++) { a = ($1 > g0[i] ? $1 : g0[i]); b = ($2 < g1[i] ? $2 : g1[i]); if (b > a) c += b - a }
           printf "%.6f %d\n", d, (c >= d / 2) }' "$1" "$2"
  }
  : > "$work/r9-gc.txt"; : > "$work/r9-saves.txt"; : > "$work/r9-nogc.txt"
  for r in $(seq "$reps"); do
    "$B" mount "$r9" --store "$work/r9store" >/dev/null
    for k in $(seq "$r9_tranches"); do
      for j in $(seq "$r9_files"); do
        d=$r9/fill/t$k/ckpt-$j; mkdir -p "$d"
        stream "$RANDOM$RANDOM-$k-$j" $((32 << 20)) > "$d/model.pt.tmp"
        mv "$d/model.pt.tmp" "$d/model.pt"
      done
    done
    "$B" prune "$r9" --keep-last 2 >/dev/null
    T[r9,packs]=$("$B" stats "$r9" | awk '$1 == "packs" {print $2}')
    r9_sources; drop_caches
    r9_write nogc | awk '{printf "%.6f\n", $2 - $1}' >> "$work/r9-nogc.txt"
    r9_sources; drop_caches
    rm -f "$work/r9-stop" "$work/r9-go"
    r9_gc_loop > "$work/r9-gc-$r.txt" &
    r9_gc_pid=$!
    while [ ! -e "$work/r9-go" ] && kill -0 "$r9_gc_pid" 2>/dev/null; do sleep 0.05; done
    r9_write gc > "$work/r9-saves-$r.txt"
    touch "$work/r9-stop"
    if ! wait "$r9_gc_pid"; then r9_gc_pid=; echo "bench.sh: row 9: the gc loop failed" >&2; exit 1; fi
    r9_gc_pid=
    r9_inside "$work/r9-gc-$r.txt" "$work/r9-saves-$r.txt" >> "$work/r9-saves.txt"
    cat "$work/r9-gc-$r.txt" >> "$work/r9-gc.txt"
    "$B" umount "$r9"
    rm -rf "$work/r9store" "$shm"/r9-*.bin
  done
  T[r9,nogc]=$(median $(cat "$work/r9-nogc.txt"))
  r9_in=$(awk '$2 == 1 {print $1}' "$work/r9-saves.txt")
  T[r9,inside]=$(printf '%s\n' $r9_in | grep -c . || true)
  T[r9,all]=$(wc -l < "$work/r9-saves.txt")
  if [ "${T[r9,inside]}" -gt 0 ]; then
    T[r9,gc]=$(median $r9_in)
    T[r9,ratio]=$(ratio "${T[r9,gc]}" "${T[r9,nogc]}")
    T[r9,gc]=$(fmt "${T[r9,gc]}" 3)
  else
    T[r9,gc]="n/a"; T[r9,ratio]="n/a (no save overlapped a compacting gc)"
  fi
  T[r9,nogc]=$(fmt "${T[r9,nogc]}" 3)
  T[r9,allgc]=$(fmt "$(median $(awk '{print $1}' "$work/r9-saves.txt"))" 3)
  # gc's own lines, summed: runs, runs that compacted, packs compacted, bytes freed, seconds of compacting runs
  read -r T[r9,runs] T[r9,cruns] T[r9,compacted] T[r9,freed] T[r9,csec] < <(awk '
    { n++; match($0, /[0-9]+ packs compacted/); p = substr($0, RSTART, RLENGTH) + 0; f += $4
      if (p > 0) { c++; pc += p; s += $2 - $1 } }
    END { printf "%d %d %d %d %.1f\n", n, c, pc, f, s }' "$work/r9-gc.txt")
fi

# Row 10: a Hugging Face Trainer-like run into a mount that keeps every
# checkpoint: per checkpoint, mkdir out/checkpoint-N and 8 files of 1-4 KiB
# written as NAME.tmp and renamed (17 snapshots). At each of $checkpoints:
# the median per-file time (write + close + rename) over the last 10
# checkpoints, the index size and the snapshot count. Then one file is
# overwritten until the store holds $read_snapshots snapshots, and $reps
# times (umount, drop caches, mount) the reads are timed.
if want 10; then
  python3 scripts/bench-metadata.py hf "$B" "$work/r10" --checkpoints "$checkpoints" \
    --read-snapshots "$read_snapshots" --tries "$reps" > "$work/r10.txt"
  while read -r k v; do T[r10,$k]=$v; done < "$work/r10.txt"
fi

# Row 11: $writers processes, each saving 2 shards of 64 KiB of fresh bytes
# per step into out/step_N/, a barrier, rank 0's .metadata last; the parent
# keeps the last 3 step folders. Time per step and index bytes added per
# step, early steps vs late ones.
if want 11; then
  python3 scripts/bench-metadata.py dist "$B" "$work/r11" --writers "$writers" --steps "$writer_steps" \
    > "$work/r11.txt"
  while read -r k v; do T[r11,$k]=$v; done < "$work/r11.txt"
fi

# Row 12: a save while the background ingest cuts the previous one into
# chunks, vs a save on an idle daemon; the same pair natively (the second of
# two back-to-back writes), since this disk throttles a write that follows
# another. And the ingest's throughput: one save's extent (caches warm)
# from close() to no backlog, and the daemon's CPU seconds meanwhile.
if want 12; then
  mount_ciuicfs
  pid12=$(daemon_of "$mnt")
  drain() { drain_of "$mnt"; }
  ticks() { awk '{print $14 + $15}' "/proc/$pid12/stat"; }
  busy=(); idle=(); nat2=(); ingest_s=(); ingest_cpu=()
  fresh_src; cp "$src" "$shm/b.bin"
  for r in $(seq "$reps"); do
    drop_caches
    dd if="$src" of="$mnt/a$r.bin" bs=1M status=none              # its ingest starts at close
    busy+=("$(timed dd if="$shm/b.bin" of="$mnt/b$r.bin" bs=1M)")
    drain; drop_caches
    idle+=("$(timed dd if="$shm/b.bin" of="$mnt/c$r.bin" bs=1M)")
    drain; drop_caches
    dd if="$src" of="$native/a$r.bin" bs=1M status=none
    nat2+=("$(timed dd if="$shm/b.bin" of="$native/b$r.bin" bs=1M)")
    # Ingest throughput: one more save, timed from its close to no backlog.
    dd if="$src" of="$mnt/d$r.bin" bs=1M status=none
    t0=$(date +%s.%N); c0=$(ticks); drain; t1=$(date +%s.%N); c1=$(ticks)
    ingest_s+=("$(echo "$t1 - $t0" | bc -l)"); ingest_cpu+=("$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)")
    rm -f "$mnt"/[abcd]$r.bin "$native"/[ab]$r.bin
  done
  T[r12,busy]=$(median "${busy[@]}"); T[r12,idle]=$(median "${idle[@]}"); T[r12,nat2]=$(median "${nat2[@]}")
  T[r12,ingest_s]=$(median "${ingest_s[@]}"); T[r12,ingest_cpu]=$(median "${ingest_cpu[@]}")
  "$B" umount "$mnt"
  rm -rf "$store" "$shm/b.bin"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
disk=$(df -h "$base" | awk 'NR==2 {print $1 " (" $2 ")"}')
mb() { echo "$1 / 1000000" | bc -l | xargs printf '%.0f'; }
mib() { echo "$1 / 1048576" | bc -l | xargs printf "%.${2:-1}f"; }
{
  echo "# Benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB RAM;"
  echo "disk $disk, filesystem $(df -T "$base" | awk 'NR==2 {print $2}'); $(uname -r); medians of $reps runs."
  echo "Rows 1-4: ${gib} GiB of fresh pseudo-random data per write from RAM, 1 MiB writes (dd bs=1M), caches"
  echo "dropped before each write and before each cold read; the targets in a rotated order."
  echo "ciuicfs: kernel passthrough into extents; fallback: the same build with --no-passthrough;"
  echo "passthrough_hp: the example of the libfuse in .deps/libfuse ($(PKG_CONFIG_PATH=$PWD/.deps/libfuse/lib/pkgconfig pkg-config --modversion fuse3 2>/dev/null || echo none)), kernel passthrough on."
  echo
  if want 1; then
    hp() { [ -n "$hp_bin" ] && gbps "${T[hp,$1]}" || echo "-"; }
    echo "| row | native | passthrough_ll | passthrough_hp | ciuicfs | fallback | ciuicfs / native | fallback / native | goal (ciuicfs; fallback) |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for row in write fsync again cold warm live; do
      case $row in
        write) name="1. write until close (GB/s)"; goal="≥ 0.95×; ≥ 0.8×" ;;
        fsync) name="2. write + fsync (GB/s)"; goal="≥ 0.95×" ;;
        again) name="3. same data again + fsync (GB/s)"; goal="measured both ways" ;;
        cold) name="4a. read, cold (GB/s; ciuicfs from @latest)"; goal="≥ 0.8×" ;;
        warm) name="4b. read, warm (GB/s)"; goal="≥ 0.8×" ;;
        live) name="4c. re-read of the live path, warm (GB/s)"; goal="page cache kept (#13)" ;;
      esac
      n=$(gbps "${T[native,$row]}"); p=$(gbps "${T[pt,$row]}"); c=$(gbps "${T[ciuicfs,$row]}"); f=$(gbps "${T[fallback,$row]}")
      echo "| $name | $n | $p | $(hp $row) | $c | $f | $(ratio "$c" "$n") | $(ratio "$f" "$n") | $goal |"
    done
    echo "| 1c. close() after the last write of a ${gib} GiB file (ms) | ${T[native,close_ms]} | ${T[pt,close_ms]} | ${T[hp,close_ms]:--} | ${T[ciuicfs,close_ms]} | ${T[fallback,close_ms]} | | | ≤ 20 ms |"
    echo
    echo "Row 3 compares with the native disk doing the same (rewriting the identical file with fsync);"
    echo "against row 2's native write + fsync it is $(ratio "$(gbps "${T[ciuicfs,again]}")" "$(gbps "${T[native,fsync]}")")×."
    echo
  fi
  if want 5; then
    echo "Row 5: 20 checkpoints of \`ciuic-train --preset small\` (one per step), written once to a plain"
    echo "directory, then stored save by save: ciuicfs \`cp -r\` into a mount (re-encoding in the background),"
    echo "\`restic backup\` (repository v2, compression auto), \`borg create --compression zstd,3\`, plain \`cp -r\`;"
    echo "time for all 20 plus a final sync; then \`ciuicfs compact STORE\` (what re-encoding left, and pack"
    echo "compaction), timed apart; stored bytes \`du -sb\` after it. Frozen: \`--freeze-layers 9\` (embeddings"
    echo "and 9 of the 10 blocks). bf16: \`ciuic-ckptgen --dtype bf16 --width 512 --blocks 8\`, 20 model states."
    echo
    echo "| 5. checkpoint sequence | raw MB | ciuicfs s | compact s | restic s | borg s | copies s | ciuicfs MB | restic MB | borg MB | copies MB | faster peer / ciuicfs | ciuicfs / raw | borg / raw |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for run in full frozen bf16; do
      fast=${T[r5,$run,restic,s]}
      [ "$(echo "${T[r5,$run,borg,s]} < $fast" | bc -l)" = 1 ] && fast=${T[r5,$run,borg,s]}
      echo "| $run | $(mb "${T[r5,$run,raw]}") | $(fmt "${T[r5,$run,ciuicfs,s]}" 1) | $(fmt "${T[r5,$run,compact,s]}" 1) | $(fmt "${T[r5,$run,restic,s]}" 1) | $(fmt "${T[r5,$run,borg,s]}" 1) | $(fmt "${T[r5,$run,copies,s]}" 1) | $(mb "${T[r5,$run,ciuicfs,bytes]}") | $(mb "${T[r5,$run,restic,bytes]}") | $(mb "${T[r5,$run,borg,bytes]}") | $(mb "${T[r5,$run,copies,bytes]}") | $(ratio "$fast" "${T[r5,$run,ciuicfs,s]}") | $(ratio "${T[r5,$run,ciuicfs,bytes]}" "${T[r5,$run,raw]}") | $(ratio "${T[r5,$run,borg,bytes]}" "${T[r5,$run,raw]}") |"
    done
    echo
    echo "Goals: ciuicfs ≥ 5× faster than the faster of restic and borg; ciuicfs bytes ≤ borg's; stored ≤ 0.70× raw"
    echo "(full), ≤ 0.25× (frozen), ≤ 0.55× (bf16)."
    echo
  fi
  if want 6; then
    echo "| 6. $snapshots snapshots | measured | goal |"
    echo "| --- | --- | --- |"
    echo "| \`ciuicfs mount\` (caches dropped) | ${T[r6,mount_ms]} ms | < 1000 ms |"
    echo "| first \`ls @history\` after the mount (${T[r6,snapshots]} names) | ${T[r6,ls_history_ms]} ms | < 200 ms |"
    echo "| open + read \`@step-N/run/state.txt\`, 20 random N | ${T[r6,open_step_ms]} ms | < 5 ms |"
    echo "| \`ciuicfs log MNT \\| head\` (with process start) | ${T[r6,log_head_ms]} ms | < 200 ms |"
    echo
  fi
  if want 7; then
    echo "| 7. daemon peak RSS (VmHWM) | measured | goal |"
    echo "| --- | --- | --- |"
    echo "| writing one 8 GiB file | ${T[r7,write_mib]} MiB | ≤ 256 MiB |"
    echo "| holding $snapshots snapshots after row 6's probes | ${T[r7,snap_mib]} MiB | |"
    echo
  fi
  if want 8; then
    echo "| 8. time per checkpoint, bundled trainer (small preset, ${ckpt_mb} MB) | native s | ciuicfs s | fallback s | ciuicfs / native | fallback / native | goal |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    echo "| saves 1-6 of $reps runs, alternating | ${T[native,save]} | ${T[ciuicfs,save]} | ${T[fallback,save]} | $(ratio "${T[ciuicfs,save]}" "${T[native,save]}") | $(ratio "${T[fallback,save]}" "${T[native,save]}") | ≤ 1.05×; ≤ 1.2× |"
    echo
  fi
  if want 9; then
    echo "| 9. time per 64 MiB save (dd to x.tmp, close, rename) while \`ciuicfs gc MNT\` runs | no gc s | with gc s | with gc / no gc | goal |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| $r9_saves saves of $reps runs each way; with gc: the ${T[r9,inside]} of ${T[r9,all]} saves at least half inside a compacting gc | ${T[r9,nogc]} | ${T[r9,gc]} | ${T[r9,ratio]} | ≤ 1.5× |"
    echo
    echo "Row 9: a store of $r9_tranches × $r9_files files of 32 MiB (${T[r9,packs]} packs); while the writer saved, a loop freed"
    echo "3 of every 4 files of one group per round, pruned (\`--keep-last 2\`) and ran gc: ${T[r9,runs]} gc runs,"
    echo "${T[r9,cruns]} of them compacting (${T[r9,csec]} s in all), ${T[r9,compacted]} packs compacted, $(mb "${T[r9,freed]}") MB "freed" (net of the writer's new bytes);"
    echo "median of all ${T[r9,all]} saves of the gc phase ${T[r9,allgc]} s."
    echo
  fi
  if want 10; then
    pts=(${T[r10,points]//,/ }); first=${pts[0]}; last=${pts[-1]}
    echo "| 10. HF Trainer-like run, every checkpoint kept (8 files of 1-4 KiB: NAME.tmp, close, rename) | snapshots | per file ms (write+close+rename) | / at $first | 25th percentile ms | close ms | rename ms | mkdir ms | index MiB apparent | allocated | LMDB in use | load |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for n in "${pts[@]}"; do
      echo "| $n checkpoints (median over the files of the last $([ "$n" -lt 10 ] && echo "$n" || echo 10)) | ${T[r10,snapshots_$n]} | ${T[r10,save_ms_$n]} | $(ratio "${T[r10,save_ms_$n]}" "${T[r10,save_ms_$first]}") | ${T[r10,save_p25_ms_$n]} | ${T[r10,close_ms_$n]} | ${T[r10,rename_ms_$n]} | ${T[r10,mkdir_ms_$n]} | $(mib "${T[r10,index_apparent_$n]}") | $(mib "${T[r10,index_allocated_$n]}") | $(mib "${T[r10,index_live_$n]}") | ${T[r10,load_$n]} |"
    done
    echo
    [ "$last" = 1000 ] && capped="" || capped=" (this run stopped at $last)"
    echo "Goals (#12): per-file save at 1,000 checkpoints ≤ 1.3× that at 1; index after 1,000 checkpoints ≤ 64 MiB."
    echo "Measured at $last$capped: $(ratio "${T[r10,save_ms_$last]}" "${T[r10,save_ms_$first]}")× and $(mib "${T[r10,index_apparent_$last]}") MiB (${T[r10,elapsed_s_$last]} s for the $last checkpoints)."
    echo
    if [ -n "${T[r10,read_tries]:-}" ]; then
      grown=""; [ -n "${T[r10,grow_overwrites]:-}" ] && grown=", ${T[r10,grow_overwrites]} of them overwrites of one file after the checkpoints"
      echo "| 10b. reads at ${T[r10,read_snapshots]} snapshots$grown (tree of ${T[r10,read_tree_entries]} entries, index $(mib "${T[r10,read_index_apparent]}") MiB); medians of ${T[r10,read_tries]} rounds of umount, drop caches, mount (load ${T[r10,read_load]}) | measured | goal |"
      echo "| --- | --- | --- |"
      echo "| \`ciuicfs mount\` | ${T[r10,read_mount_ms]} ms | |"
      echo "| first \`ls @history\` after the mount (${T[r10,read_history_names]} names; max ${T[r10,read_ls_history_max_ms]} ms) | ${T[r10,read_ls_history_ms]} ms | < 300 ms |"
      echo "| open + read a file of \`@history/<name>/out/checkpoint-K/\`, 10 random old names per round (checked; max ${T[r10,read_open_max_ms]} ms) | ${T[r10,read_open_ms]} ms | < 5 ms |"
      echo "| \`ciuicfs log MNT \\| head\` (with process start) | ${T[r10,read_log_head_ms]} ms | < 200 ms |"
      echo "| \`ciuicfs diff A B\`, ${T[r10,read_diff_apart]} snapshots apart (${T[r10,read_diff_added]} files added) | ${T[r10,read_diff_ms]} ms | < 1000 ms |"
      echo
    fi
    [ "${T[r10,daemon_log_problems]}" = 0 ] || { echo "Row 10: daemon.log had ${T[r10,daemon_log_problems]} lines of trouble (see the run's stderr)."; echo; }
  fi
  if want 12; then
    echo "| 12. a ${gib} GiB save (dd, fresh bytes) | s | / idle | goal |"
    echo "| --- | --- | --- | --- |"
    echo "| ciuicfs, while the previous ${gib} GiB save is being ingested | $(fmt "${T[r12,busy]}" 3) | $(ratio "${T[r12,busy]}" "${T[r12,idle]}") | ≤ 1.1× |"
    echo "| ciuicfs, idle daemon | $(fmt "${T[r12,idle]}" 3) | 1.00 | |"
    echo "| native, right after another ${gib} GiB write | $(fmt "${T[r12,nat2]}" 3) | | |"
    echo
    echo "Background ingest of one ${gib} GiB save (caches warm): $(gbps "${T[r12,ingest_s]}") GB/s from close() to no backlog,"
    echo "$(echo "$bytes / ${T[r12,ingest_cpu]} / 1000000000" | bc -l | xargs printf '%.2f') GB per CPU-second of the daemon (chunking, hashing, look-ups; fresh bytes stay in place)."
    echo
  fi
  if want 11; then
    echo "| 11. ${T[r11,writers]} writers × 2 shards of ${T[r11,shard_kib]} KiB per step, rank 0's .metadata last, last 3 step folders kept (${T[r11,steps]} steps) | early | late | late / early | goal |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| time per step, s (start to .metadata closed; median of steps ${T[r11,early_steps]} vs ${T[r11,late_steps]}) | ${T[r11,step_s_early]} | ${T[r11,step_s_late]} | ${T[r11,step_ratio]} | ≤ 1.3× |"
    echo "| index bytes added per step, KiB (data.mdb's size; steps ${T[r11,grow_early_steps]} vs ${T[r11,grow_late_steps]}) | $(echo "${T[r11,grow_early]} / 1024" | bc) | $(echo "${T[r11,grow_late]} / 1024" | bc) | ${T[r11,grow_ratio]} | ≤ 1.3× |"
    echo "| the same, pages LMDB has in use (size less its free list), KiB | $(echo "${T[r11,grow_live_early]} / 1024" | bc) | $(echo "${T[r11,grow_live_late]} / 1024" | bc) | ${T[r11,grow_live_ratio]} | |"
    echo
    echo "Row 11: ${T[r11,snapshots]} snapshots, index $(mib "${T[r11,index_apparent]}") MiB ($(mib "${T[r11,index_live]}") MiB in use by LMDB); removing a step folder took ${T[r11,rm_s]} s (median); load average ${T[r11,load]} at the end."
    [ "${T[r11,daemon_log_problems]}" = 0 ] || echo "daemon.log had ${T[r11,daemon_log_problems]} lines of trouble (see the run's stderr)."
    echo
  fi
  echo "Reproduce: \`scripts/bench.sh --reps $reps --gib $gib --dir $base --snapshots $snapshots --checkpoints $checkpoints --read-snapshots $read_snapshots --writers $writers --writer-steps $writer_steps${ciuicfs:+ --ciuicfs $ciuicfs}\` (as root: it drops caches)."
} | tee "$work/RESULTS.md"
if $full_run; then
  mkdir -p bench
  { cat "$work/RESULTS.md"; echo; cat bench/OPTIMISATIONS.md; } > bench/RESULTS.md
  echo "wrote bench/RESULTS.md"
fi
