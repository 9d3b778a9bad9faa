#!/usr/bin/env bash
# Benchmarks (not tests): each figure measured in this run against its
# reference on the same disk, medians of REPS repetitions, printed as one
# table and written to bench/RESULTS.md (with bench/OPTIMISATIONS.md, the
# hand-kept record of what changed and why, appended).
#
#   scripts/bench.sh [--reps 3] [--gib 2] [--dir /var/tmp] [--snapshots 10000]
#                    [--rows 1,5,6]   (a subset, printed only: RESULTS.md
#                                      is written by full runs)
#
# Rows 1-4: sequential write until close / with fsync / identical data again,
# read back cold and warm: ciuicfs vs the native disk vs libfuse's
# passthrough_ll (the FUSE floor), compiled here from Debian's examples.
# Row 5: 20 checkpoints of the bundled trainer (full and frozen-layer runs)
# stored by ciuicfs, restic, borg and plain copies. Row 6: a store of
# --snapshots snapshots. Row 7: daemon peak RSS. Row 8: the trainer's time
# per checkpoint, mount vs plain directory.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=3
gib=2
base=/var/tmp
snapshots=10000
rows=1,2,3,4,5,6,7,8
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --gib) gib=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
want() { [[ ",$rows," == *",$1,"* ]]; }
full_run=false
[ "$rows" = 1,2,3,4,5,6,7,8 ] && full_run=true

scripts/setup.sh
for p in bc fio restic borgbackup python3 openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
scripts/build.sh >/dev/null
B=$PWD/build/fs/ciuicfs
T_=$PWD/build/trainer/ciuic-train
work=$(mktemp -d "$base/ciuic-bench-XXXXXX")
shm=$(mktemp -d /dev/shm/ciuic-bench-XXXXXX)  # write sources: RAM, untouched by drop_caches
pt_bin=$work/passthrough_ll
gcc -O2 -o "$pt_bin" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c $(pkg-config fuse3 --cflags --libs)

mnt=$work/mnt; store=$work/store; native=$work/native; pt_src=$work/pt-src; pt_mnt=$work/pt-mnt
mkdir -p "$mnt" "$native" "$pt_src" "$pt_mnt"
cleanup() {
  for m in "$mnt" "$work/r5mnt" "$work/r6mnt" "$work/r7mnt"; do "$B" umount "$m" >/dev/null 2>&1 || true; done
  fusermount3 -u "$pt_mnt" >/dev/null 2>&1 || true
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
mount_pt() { "$pt_bin" -o source="$pt_src" "$pt_mnt"; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
daemon_of() { pgrep -f "ciuicfs mount $1( |\$)"; }
peak_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# Seconds for a command, wall clock.
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gbps() { echo "$bytes / $1 / 1000000000" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
fmt() { printf "%.${2:-2}f" "$1"; }

declare -A T
targets=(native pt ciuicfs)
dir_of() { case $1 in native) echo "$native" ;; pt) echo "$pt_mnt" ;; ciuicfs) echo "$mnt" ;; esac; }

# Rows 1-3. Each repetition visits the three targets in a rotated order,
# and every timed write starts from dropped caches, so no target always
# pays for reclaiming the page cache of the one before.
if want 1 || want 2 || want 3 || want 4; then
  mount_ciuicfs
  mount_pt
  declare -A W F A
  for r in $(seq "$reps"); do
    for k in 0 1 2; do
      target=${targets[$(((r + k) % 3))]}
      dir=$(dir_of "$target")
      fresh_src; drop_caches
      W[$target]+="$(timed dd if="$src" of="$dir/w$r.bin" bs=1M) "
      fresh_src; drop_caches
      F[$target]+="$(timed dd if="$src" of="$dir/f$r.bin" bs=1M conv=fsync) "
      drop_caches
      A[$target]+="$(timed dd if="$src" of="$dir/f$r.bin" bs=1M conv=fsync) "  # identical content again
    done
  done
  for target in "${targets[@]}"; do
    T[$target,write]=$(median ${W[$target]})
    T[$target,fsync]=$(median ${F[$target]})
    T[$target,again]=$(median ${A[$target]})
  done

  # Row 4: read back; ciuicfs from @latest, the others the file itself.
  for target in "${targets[@]}"; do
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
  "$B" umount "$mnt"
  fusermount3 -u "$pt_mnt"
  rm -rf "$native"/* "$pt_src"/* "$store" "$src"
fi

# Row 5: 20 checkpoints of the small preset, written once to a plain
# directory by the trainer, then stored save by save by each tool; the time
# of the 20 saves includes a final sync, so every tool ends durable.
r5_tools=(ciuicfs restic borg copies)
if want 5; then
  export RESTIC_PASSWORD=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  for run in full frozen; do
    srcdir=$work/r5src-$run
    extra=(); [ $run = frozen ] && extra=(--freeze-layers 9)  # embeddings + 9 of 10 blocks: a fine-tune
    "$T_" --preset small --steps 20 --save-every 1 --batch 2 --log-every 100 --ckpt-dir "$srcdir" "${extra[@]}" \
      > "$work/r5-$run.log" 2>&1
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
            borg) borg create --compression none "$repo::$(basename "$s")" "$s" ;;
            copies) cp -r "$s" "$repo/" ;;
          esac
        done
        sync
        t1=$(date +%s.%N)
        R5[$tool]+="$(echo "$t1 - $t0" | bc -l) "
        [ $tool = ciuicfs ] && "$B" umount "$work/r5mnt"
        T[r5,$run,$tool,bytes]=$(du -sb "$repo" | awk '{print $1}')
      done
    done
    for tool in "${r5_tools[@]}"; do T[r5,$run,$tool,s]=$(median ${R5[$tool]}); R5[$tool]=""; done
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
  save_times() { grep -o 'in [0-9.]* s' "$1" | awk '{print $2}'; }
  train8=("$T_" --preset small --steps 6 --save-every 1 --batch 2 --log-every 100)
  s8n=(); s8m=()
  for r in $(seq "$reps"); do
    rm -rf "$native/train" "$mnt/train"
    "${train8[@]}" --ckpt-dir "$native/train" > "$work/t8-native.log" 2>&1
    "${train8[@]}" --ckpt-dir "$mnt/train" > "$work/t8-mount.log" 2>&1
    s8n+=($(save_times "$work/t8-native.log")); s8m+=($(save_times "$work/t8-mount.log"))
  done
  T[native,save]=$(median "${s8n[@]}")
  T[ciuicfs,save]=$(median "${s8m[@]}")
  ckpt_mb=$(du -sm "$native/train/step_00000001" | awk '{print $1}')
  "$B" umount "$mnt"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
disk=$(df -h "$base" | awk 'NR==2 {print $1 " (" $2 ")"}')
mb() { echo "$1 / 1000000" | bc -l | xargs printf '%.0f'; }
{
  echo "# Benchmark results"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB RAM;"
  echo "disk $disk, filesystem $(df -T "$base" | awk 'NR==2 {print $2}'); $(uname -r); medians of $reps runs."
  echo "Rows 1-4: ${gib} GiB of fresh pseudo-random data per write from RAM, 1 MiB writes (dd bs=1M), caches"
  echo "dropped before each write and before each cold read; the three targets in a rotated order."
  echo
  if want 1; then
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
    echo
    echo "Row 3 compares with the native disk doing the same (rewriting the identical file with fsync);"
    echo "against row 2's native write + fsync it is $(ratio "$(gbps "${T[ciuicfs,again]}")" "$(gbps "${T[native,fsync]}")")×."
    echo
  fi
  if want 5; then
    echo "Row 5: 20 checkpoints of \`ciuic-train --preset small\` (one per step), written once to a plain"
    echo "directory, then stored save by save: ciuicfs \`cp -r\` into a mount, \`restic backup\`, \`borg create"
    echo "--compression none\`, plain \`cp -r\`; time for all 20 plus a final sync; stored bytes \`du -sb\`."
    echo "Frozen: \`--freeze-layers 9\` (embeddings and 9 of the 10 blocks)."
    echo
    echo "| 5. trainer sequence | raw MB | ciuicfs s | restic s | borg s | copies s | ciuicfs MB | restic MB | borg MB | copies MB | faster peer / ciuicfs | ciuicfs / raw |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for run in full frozen; do
      fast=${T[r5,$run,restic,s]}
      [ "$(echo "${T[r5,$run,borg,s]} < $fast" | bc -l)" = 1 ] && fast=${T[r5,$run,borg,s]}
      echo "| $run | $(mb "${T[r5,$run,raw]}") | $(fmt "${T[r5,$run,ciuicfs,s]}" 1) | $(fmt "${T[r5,$run,restic,s]}" 1) | $(fmt "${T[r5,$run,borg,s]}" 1) | $(fmt "${T[r5,$run,copies,s]}" 1) | $(mb "${T[r5,$run,ciuicfs,bytes]}") | $(mb "${T[r5,$run,restic,bytes]}") | $(mb "${T[r5,$run,borg,bytes]}") | $(mb "${T[r5,$run,copies,bytes]}") | $(ratio "$fast" "${T[r5,$run,ciuicfs,s]}") | $(ratio "${T[r5,$run,ciuicfs,bytes]}" "${T[r5,$run,raw]}") |"
    done
    echo
    echo "Goals: ciuicfs ≥ 5× faster than the faster of restic and borg; ciuicfs bytes ≤ borg's; frozen run ≤ 0.5× raw."
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
    echo "| 8. time per checkpoint, bundled trainer (small preset, ${ckpt_mb} MB) | native s | ciuicfs s | ciuicfs / native | goal |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| saves 1-6 of $reps runs, alternating | ${T[native,save]} | ${T[ciuicfs,save]} | $(ratio "${T[ciuicfs,save]}" "${T[native,save]}") | ≤ 1.2× |"
    echo
  fi
  echo "Reproduce: \`scripts/bench.sh --reps $reps --gib $gib --dir $base --snapshots $snapshots\` (as root: it drops caches)."
} | tee "$work/RESULTS.md"
if $full_run; then
  mkdir -p bench
  { cat "$work/RESULTS.md"; echo; cat bench/OPTIMISATIONS.md; } > bench/RESULTS.md
  echo "wrote bench/RESULTS.md"
fi
