#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Builds the delta-encoded fp32 store of bench/README's cold-read figure.
set -e
B=${B:-$ROOT/build/fs/ciuicfs}
W=/var/tmp/cr; rm -rf $W; mkdir -p $W/mnt
$B mount $W/mnt --store $W/store --no-reencode >/dev/null
$ROOT/build/trainer/ciuic-ckptgen $W/mnt/seq --saves 12 --every 5 > $W/gen.log 2>&1
$B compact $W/mnt --wait
$B stats $W/mnt --json
$B umount $W/mnt
ls $W/mnt
