#!/usr/bin/env bash
# Benchmarks (not tests): each figure measured in this run against its
# reference on the same disk, medians of REPS repetitions, printed as one
# table and written to bench/RESULTS.md.
#
#   scripts/bench.sh [--reps 3] [--gib 2] [--dir /var/tmp]
#
# Rows: sequential write until close / with fsync / identical data again,
# and read back cold and warm, for ciuicfs vs the native disk vs libfuse's
# passthrough_ll (the FUSE floor), compiled here from Debian's examples.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=3
gib=2
base=/var/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --gib) gib=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
for p in bc fio restic borgbackup; do  # bc for the arithmetic; the rest are peers for rows to come
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
scripts/build.sh >/dev/null
B=$PWD/build/fs/ciuicfs
work=$(mktemp -d "$base/ciuic-bench-XXXXXX")
pt_bin=$work/passthrough_ll
gcc -O2 -o "$pt_bin" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c $(pkg-config fuse3 --cflags --libs)

mnt=$work/mnt; store=$work/store; native=$work/native; pt_src=$work/pt-src; pt_mnt=$work/pt-mnt
mkdir -p "$mnt" "$native" "$pt_src" "$pt_mnt"
cleanup() {
  "$B" umount "$mnt" >/dev/null 2>&1 || true
  fusermount3 -u "$pt_mnt" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bytes=$((gib << 30))
src=$work/src.bin
# Fresh random data for each timed write, read into the page cache first:
# the source is not what we time.
fresh_src() { head -c "$bytes" /dev/urandom > "$src"; cat "$src" > /dev/null; }

mount_ciuicfs() { "$B" mount "$mnt" --store "$store" >/dev/null; }
mount_pt() { "$pt_bin" -o source="$pt_src" "$pt_mnt"; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# Seconds for a command, wall clock.
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gbps() { echo "$bytes / $1 / 1000000000" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

mount_ciuicfs
mount_pt

declare -A T
for target in native pt ciuicfs; do
  case $target in native) dir=$native ;; pt) dir=$pt_mnt ;; ciuicfs) dir=$mnt ;; esac
  w=(); f=(); again=()
  for r in $(seq "$reps"); do
    fresh_src
    sync
    w+=("$(timed dd if="$src" of="$dir/w$r.bin" bs=1M)")
    fresh_src
    sync
    f+=("$(timed dd if="$src" of="$dir/f$r.bin" bs=1M conv=fsync)")
    sync
    again+=("$(timed dd if="$src" of="$dir/f$r.bin" bs=1M conv=fsync)")  # identical content again
  done
  T[$target,write]=$(median "${w[@]}")
  T[$target,fsync]=$(median "${f[@]}")
  T[$target,again]=$(median "${again[@]}")
done

# Read back: ciuicfs from @latest, the others the file itself.
for target in native pt ciuicfs; do
  case $target in native) file=$native/w1.bin ;; pt) file=$pt_mnt/w1.bin ;; ciuicfs) file=$mnt/@latest/w1.bin ;; esac
  cold=(); warm=()
  for r in $(seq "$reps"); do
    if [ $target = ciuicfs ]; then "$B" umount "$mnt"; drop_caches; mount_ciuicfs; else drop_caches; fi
    cold+=("$(timed cat "$file")")
    warm+=("$(timed cat "$file")")
  done
  T[$target,cold]=$(median "${cold[@]}")
  T[$target,warm]=$(median "${warm[@]}")
done

# Row 8: time per checkpoint of the bundled trainer (small preset, one save
# per step), into the mount vs into a plain directory on the same disk.
T_=$PWD/build/trainer/ciuic-train
save_times() { grep -o 'in [0-9.]* s' "$1" | awk '{print $2}'; }
train8=("$T_" --preset small --steps $((reps + 1)) --save-every 1 --batch 2 --log-every 100)
"${train8[@]}" --ckpt-dir "$native/train" > "$work/t8-native.log" 2>&1
"${train8[@]}" --ckpt-dir "$mnt/train" > "$work/t8-mount.log" 2>&1
T[native,save]=$(median $(save_times "$work/t8-native.log"))
T[ciuicfs,save]=$(median $(save_times "$work/t8-mount.log"))
ckpt_mb=$(du -sm "$native/train/step_00000001" | awk '{print $1}')

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
disk=$(df -h "$base" | awk 'NR==2 {print $1 " (" $2 ")"}')
{
  echo "# Benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB RAM;"
  echo "disk $disk, filesystem $(df -T "$base" | awk 'NR==2 {print $2}'); $(uname -r); ${gib} GiB of random data,"
  echo "fresh data per write, 1 MiB writes (dd bs=1M), medians of $reps runs; reads after dropping caches (cold) and again (warm)."
  echo
  echo "| row | native | passthrough_ll | ciuicfs | ciuicfs / native | ciuicfs / passthrough | goal |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for row in write fsync again cold warm; do
    case $row in
      write) name="1. write until close (GB/s)"; goal="≥ 0.5× native, > passthrough" ;;
      fsync) name="2. write + fsync (GB/s)"; goal="≥ 0.9× native" ;;
      again) name="3. same data again + fsync (GB/s)"; goal="≥ 2× native" ;;
      cold) name="4a. read, cold (GB/s; ciuicfs from @latest)"; goal="≥ 1 GB/s, ≥ 4× passthrough" ;;
      warm) name="4b. read, warm (GB/s)"; goal="≥ 0.5× native" ;;
    esac
    n=$(gbps "${T[native,$row]}"); p=$(gbps "${T[pt,$row]}"); c=$(gbps "${T[ciuicfs,$row]}")
    echo "| $name | $n | $p | $c | $(ratio "$c" "$n") | $(ratio "$c" "$p") | $goal |"
  done
  echo "| 8. time per checkpoint, bundled trainer (small preset, ${ckpt_mb} MB; seconds) | ${T[native,save]} | | ${T[ciuicfs,save]} | $(ratio "${T[ciuicfs,save]}" "${T[native,save]}") | | ≤ 1.2× native |"
  echo
  echo "Rows 1-4 are GB/s (higher is better); row 8 is seconds per save (lower is better)."
  echo
  echo "Reproduce: \`scripts/bench.sh --reps $reps --gib $gib --dir $base\` (as root: it drops caches)."
} | tee "$work/RESULTS.md"
mkdir -p bench
cp "$work/RESULTS.md" bench/RESULTS.md
