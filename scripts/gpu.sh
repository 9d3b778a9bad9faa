#!/usr/bin/env bash
# GPU run of the bundled trainer, into a ciuicfs mount and into a plain
# directory, with the figures the trainer issue asks for:
#   tokens/s, checkpoint size, save time (mount vs plain), CUDA resume bit-exactness.
#
# On a CUDA machine it builds only ciuic-train (trainer/ configured alone),
# against the LibTorch inside the machine's PyTorch
# (python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'). That
# machine has no FUSE, LMDB or Boost libraries, so ciuicfs is not built
# there: scripts/carry.sh builds it here into .deps/carry/ (the binary and
# its libfuse), which travels with the tree.
# Knobs (environment): PRESET (gpt2), STEPS (300), SAVE_EVERY (100), BATCH (8),
# DEVICE (cuda; cpu to rehearse the script), WORK (a temp dir),
# CIUICFS (.deps/carry/ciuicfs).
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-gpt2}
STEPS=${STEPS:-300}
SAVE_EVERY=${SAVE_EVERY:-100}
BATCH=${BATCH:-8}
DEVICE=${DEVICE:-cuda}
WORK=${WORK:-$(mktemp -d /tmp/ciuic-gpu-XXXXXX)}
HALF=$((STEPS / 2 / SAVE_EVERY * SAVE_EVERY))

need() { command -v "$1" >/dev/null 2>&1 || { echo "gpu.sh: $1 is required" >&2; exit 1; }; }
need cmake
CIUICFS=${CIUICFS:-.deps/carry/ciuicfs}
[ -x "$CIUICFS" ] || { echo "gpu.sh: no $CIUICFS: run scripts/carry.sh on the build machine and carry .deps/carry" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "gpu.sh: no /dev/fuse on this machine: a mount cannot run here" >&2; exit 1; }

torch_prefix=""
if python3 -c 'import torch' 2>/dev/null; then
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  echo "gpu.sh: LibTorch from PyTorch at $torch_prefix"
elif [ "$DEVICE" = cuda ]; then
  echo "gpu.sh: no PyTorch here; a CUDA run needs its LibTorch" >&2
  exit 1
fi
build=build-gpu
# nlohmann/json for trainer_state.json: the system's, else the one carry.sh carried.
prefixes=$torch_prefix
[ -d "$(dirname "$CIUICFS")/nlohmann_json" ] && prefixes="${prefixes:+$prefixes;}$(cd "$(dirname "$CIUICFS")/nlohmann_json" && pwd)"
cmake -S trainer -B "$build" -DCMAKE_BUILD_TYPE=Release ${prefixes:+-DCMAKE_PREFIX_PATH="$prefixes"} >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target ciuic-train

train=("$build/ciuic-train" --preset "$PRESET" --steps "$STEPS" --batch "$BATCH" --device "$DEVICE"
       --save-every "$SAVE_EVERY" --log-every 20)
mnt="$WORK/mnt"; store="$WORK/store"; plain="$WORK/plain"
mkdir -p "$mnt" "$plain"
cleanup() { "$CIUICFS" umount "$mnt" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$CIUICFS" mount "$mnt" --store "$store"

echo "== plain directory"
"${train[@]}" --ckpt-dir "$plain/run" --weights-out "$plain/final.pt" | tee "$WORK/plain.log"
echo "== ciuicfs mount"
"${train[@]}" --ckpt-dir "$mnt/run" | tee "$WORK/mount.log"
echo "== resume on $DEVICE from @step-$HALF of the mount"
mkdir -p "$WORK/resumed"
"${train[@]}" --ckpt-dir "$WORK/resumed/run" --resume "$mnt/@step-$HALF/run/$(printf 'step_%08d' "$HALF")" \
  --weights-out "$WORK/resumed/final.pt" > "$WORK/resume.log"

median_save() { grep -o 'in [0-9.]* s' "$1" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
tok() { grep -o 'tokens/s [0-9]*' "$1" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ckpt_bytes=$(du -sb "$plain/run/$(printf 'step_%08d' "$STEPS")" | awk '{print $1}')
same=$(cmp -s "$plain/final.pt" "$WORK/resumed/final.pt" && echo yes || echo NO)
echo
echo "gpu.sh report ($PRESET, $STEPS steps, batch $BATCH, $DEVICE; $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi'))"
echo "  tokens/s (median of log lines): plain $(tok "$WORK/plain.log"), mount $(tok "$WORK/mount.log")"
echo "  checkpoint size: $ckpt_bytes bytes"
echo "  save time per checkpoint (median): plain $(median_save "$WORK/plain.log") s, mount $(median_save "$WORK/mount.log") s"
echo "  resume from the mount's @step-$HALF bit-exact (final weights): $same"
"$CIUICFS" stats "$mnt"
