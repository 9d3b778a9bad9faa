#!/bin/bash
# bench/README.md, "Full training past its warm-up" (#14): after mid_training_saves.sh.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Stores steps 101-120 of /var/tmp/mid/src save by save into a --no-reencode mount, compacts, reports.
set -e
W=/var/tmp/mid; B=$ROOT/build/fs/ciuicfs
rm -rf $W/store $W/study; mkdir -p $W/mnt $W/study
$B mount $W/mnt --store $W/store --no-reencode >/dev/null
mkdir $W/mnt/run
for s in $(seq 101 120); do d=$(printf step_%08d $s); cp -r $W/src/$d $W/mnt/run/; ln -s $W/src/$d $W/study/step_$s; done
raw=$(du -sbL $W/study | awk '{print $1}')
echo "raw $raw"
$B stats $W/mnt --json
/usr/bin/time -f "compact %e s" $B compact $W/mnt --wait
$B stats $W/mnt --json
$B umount $W/mnt
$ROOT/build/store/encode_study $W/study 4
