#!/usr/bin/env bash
# Configures and builds ciuicfs in ./build (or $BUILD_DIR), in parallel.
# Extra arguments go to cmake, e.g. scripts/build.sh -DCIUICFS_ASAN=ON
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
