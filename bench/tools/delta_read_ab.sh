#!/bin/bash
# bench/README.md, "Reading deltas" (#14): /var/tmp/ciuicfs-old and -new are the two builds;
# /var/tmp/cr holds a store made by delta_read_store.sh. As root (drops caches).
# A/B: every file of @latest/seq (1.56 GB: keyframes and deltas), COLD=1 or packs cached; old and new alternating.
W=/var/tmp/cr
for r in 1 2 3 4; do
  for v in old new; do
    B=/var/tmp/ciuicfs-$v
    $B mount $W/mnt --store $W/store --no-reencode >/dev/null
    P=$(pgrep -f "ciuicfs-$v mount $W/mnt")
    if [ -n "$COLD" ]; then sync; echo 3 > /proc/sys/vm/drop_caches; else cat $W/store/packs/* >/dev/null; fi
    c0=$(awk '{print $14+$15}' /proc/$P/stat); t0=$(date +%s.%N)
    cat $W/mnt/@latest/seq/*/* > /dev/null
    t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$P/stat)
    echo "$v $(echo "1.562/($t1-$t0)" | bc -l | cut -c1-5) GB/s, daemon cpu $(echo "($c1-$c0)/100" | bc -l | cut -c1-5) s"
    $B umount $W/mnt
  done
done
