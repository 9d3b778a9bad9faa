#!/usr/bin/env bash
# Builds a ciuicfs to carry to a machine that has no FUSE, LMDB or Boost
# libraries (the GPU machine: Ubuntu 24.04 with CUDA PyTorch), into
# .deps/carry/: the binary (LMDB, xxHash, Boost and the C++ runtime linked
# statically from Debian's archives) and the libfuse it needs beside it
# (found through $ORIGIN). Then rehearses the split here: ldd must list only
# the C library and that libfuse, and a mount / save / read / umount runs
# with nothing but the carried files.
#   scripts/carry.sh          # build, check, rehearse
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=.deps/carry
build=build-carry
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCIUICFS_TRAINER=OFF -DCIUICFS_CARRY=ON >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target ciuicfs >/dev/null
rm -rf "$out" && mkdir -p "$out"
cp "$build/fs/ciuicfs" "$out/"
# The libfuse it was linked with: .deps/libfuse's when setup.sh built one.
lib=$(LD_LIBRARY_PATH=$PWD/.deps/libfuse/lib ldd "$build/fs/ciuicfs" | awk '/libfuse3/ {print $3}')
[ -n "$lib" ] && [ "$lib" != "not" ] || { echo "carry.sh: ciuicfs does not link libfuse3" >&2; exit 1; }
cp -L "$lib" "$out/$(basename "$lib")"
# nlohmann/json (header-only, with its CMake package) for building the
# trainer there: -DCMAKE_PREFIX_PATH=.deps/carry/nlohmann_json (gpu.sh).
mkdir -p "$out/nlohmann_json/include" "$out/nlohmann_json/share/cmake"
cp -r /usr/include/nlohmann "$out/nlohmann_json/include/"
cp -r /usr/share/cmake/nlohmann_json "$out/nlohmann_json/share/cmake/"

# Only the C library, the loader and libfuse may come from the machine.
extra=$(ldd "$out/ciuicfs" | awk '{print $1}' |
        grep -vE '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|libc\.so|libm\.so|libfuse3\.so)' || true)
if [ -n "$extra" ]; then
  echo "carry.sh: ciuicfs still needs: $extra" >&2
  exit 1
fi
ldd "$out/ciuicfs" | sed 's/^/carry.sh: ldd: /'

# Rehearsal: the carried files only (a fresh environment, libfuse from
# beside the binary even though this machine has its own).
work=$(mktemp -d /tmp/ciuic-carry-XXXXXX)
trap 'env -i "$PWD/$out/ciuicfs" umount "$work/mnt" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/mnt"
run() { env -i PATH=/usr/bin:/bin "$PWD/$out/ciuicfs" "$@"; }
run mount "$work/mnt" --store "$work/store" >/dev/null
head -c $((8 << 20)) /dev/urandom > "$work/x.bin"
cp "$work/x.bin" "$work/mnt/x.bin"
cmp "$work/x.bin" "$work/mnt/@latest/x.bin"
run umount "$work/mnt"
run verify "$work/store" >/dev/null
echo "carry.sh: $out holds $(ls "$out" | tr '\n' ' ')($(du -sh "$out" | cut -f1)); mount, save, read and verify ran from it alone"
