#!/bin/bash
# bench/README.md, "Set-ID bits by the daemon, the ingest's writeback, fsync's
# folder sync" (#22): as root, after scripts/build.sh. One 1 GiB write +
# fsync (dd conv=fsync) into a native folder and into a mount, twice each,
# caches dropped before each; the daemon's sync calls traced (strace -T).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=/var/tmp/fsync-trace; fusermount3 -u $W/m 2>/dev/null; rm -rf $W; mkdir -p $W/n $W/m
[ -f /dev/shm/rand1g ] || head -c 1G /dev/urandom > /dev/shm/rand1g
$ROOT/build/fs/ciuicfs mount $W/m --store $W/s >/dev/null || exit 1
for t in n m n m; do
  sync; echo 3 > /proc/sys/vm/drop_caches
  if [ $t = m ]; then
    strace -f -T -tt -p "$(pgrep -f "ciuicfs mount $W/m")" -e trace=fsync,fdatasync -o $W/trace 2>/dev/null &
    sp=$!; sleep 0.5
  fi
  s=$(date +%s.%N); dd if=/dev/shm/rand1g of=$W/$t/f.$RANDOM bs=1M conv=fsync status=none; e=$(date +%s.%N)
  echo "$t: $(echo "$e - $s" | bc) s"
  if [ $t = m ]; then sleep 0.5; kill $sp; wait $sp 2>/dev/null; cut -c1-120 $W/trace; fi
done
fusermount3 -u $W/m
