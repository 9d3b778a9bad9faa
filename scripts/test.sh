#!/usr/bin/env bash
# The one test command: installs packages, builds, runs the demo (CI-sized)
# and every test.
# Usage: scripts/test.sh [--asan | --tsan]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
case "${1:-}" in
  --asan) export BUILD_DIR=build-asan; scripts/build.sh -DCIUICFS_ASAN=ON ;;
  --tsan) export BUILD_DIR=build-tsan; scripts/build.sh -DCIUICFS_TSAN=ON ;;
  "") scripts/build.sh ;;
  *) echo "usage: scripts/test.sh [--asan | --tsan]" >&2; exit 2 ;;
esac
if [ -z "${1:-}" ]; then
  # The demo, CI-sized: the whole story must keep working end to end.
  DEMO_STEPS=${DEMO_STEPS:-60} scripts/demo.sh > build/demo.log 2>&1 || { cat build/demo.log; exit 1; }
  echo "demo passed (log: build/demo.log)"
fi
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)"
