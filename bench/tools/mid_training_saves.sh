#!/bin/bash
# bench/README.md, "Full training past its warm-up" (#14): as root, after scripts/build.sh.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# 20 consecutive saves of the bundled trainer past its warm-up (steps 101-120 of a
# 200-step cosine run) into /var/tmp/mid/src; mid_training_store.sh stores them.
set -e
T=$ROOT/build/trainer/ciuic-train; B=$ROOT/build/fs/ciuicfs
W=/var/tmp/mid; rm -rf $W; mkdir -p $W/mnt
common="--preset small --steps 200 --batch 2 --log-every 50"
$T $common --save-every 100 --ckpt-dir $W/first > $W/first.log 2>&1 &
pid=$!
while [ ! -f $W/first/step_00000100/trainer_state.json ]; do sleep 1; done; sleep 2; kill -KILL $pid; wait $pid || true
rm -rf $W/first/step_000001[0-9][1-9]* 2>/dev/null || true
$T $common --save-every 1 --ckpt-dir $W/src --resume $W/first/step_00000100 > $W/src.log 2>&1 &
pid=$!
while [ ! -f $W/src/step_00000120/trainer_state.json ]; do sleep 1; done; sleep 2; kill -KILL $pid; wait $pid || true
ls $W/src | head -30
