#!/usr/bin/env bash
# The reliability tests alone (scripts/test.sh runs their CI-sized form).
#
#   scripts/reliability.sh [--long] [--tsan] [gtest filter]
#
# --long  the long forms: 400 crash rounds, 300,000 random operations,
#         5 minutes of 8 writers and 4 readers (CIUICFS_LONG=1)
# --tsan  build the daemon and the tests with ThreadSanitizer (build-tsan/)
#         and fail on any report, the daemons' included
set -euo pipefail
cd "$(dirname "$0")/.."
long=0 tsan=0 filter='*'
while [ $# -gt 0 ]; do
  case "$1" in
    --long) long=1; shift ;;
    --tsan) tsan=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "reliability.sh: unknown option $1" >&2; exit 2 ;;
    *) filter=$1; shift ;;
  esac
done
scripts/setup.sh
if [ $tsan = 1 ]; then
  export BUILD_DIR=build-tsan
  scripts/build.sh -DCIUICFS_TSAN=ON -DCIUICFS_TRAINER=OFF >/dev/null
  reports=$(mktemp -d /tmp/ciuic-tsan-XXXXXX)
  export TSAN_OPTIONS="log_path=$reports/tsan halt_on_error=0"
else
  scripts/build.sh >/dev/null
fi
export CIUICFS_LONG=$long
rc=0
"${BUILD_DIR:-build}/tests/reliability/reliability_test" --gtest_filter="$filter" || rc=$?
if [ $tsan = 1 ]; then
  if ls "$reports"/tsan.* >/dev/null 2>&1; then
    echo "ThreadSanitizer reports:"; cat "$reports"/tsan.*; rc=1
  else
    echo "ThreadSanitizer: no reports (tests and daemons)"
  fi
  rm -rf "$reports"
fi
exit $rc
