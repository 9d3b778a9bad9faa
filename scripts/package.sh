#!/usr/bin/env bash
# Builds the Debian package of ciuicfs with CPack: BUILD/package/ciuicfs_VERSION_ARCH.deb
# (the ciuicfs command, its man pages, bash completion, docs, and the
# libfuse >= 3.17 it was linked with in a private directory). Installs with
#   apt-get install ./build/package/ciuicfs_*.deb
# Uses ./build (or $BUILD_DIR), configuring it first when it is new, and
# builds only what the package holds.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
scripts/setup.sh
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
fi
cmake --build "$build" --parallel "$(nproc)" --target ciuicfs ciuicfs_man
rm -f "$build"/package/ciuicfs_*.deb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; echo "package.sh: cpack failed" >&2; exit 1; }
deb=$(ls "$build"/package/ciuicfs_*.deb)
echo "package.sh: $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends Recommends
