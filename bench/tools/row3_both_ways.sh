#!/bin/bash
# bench/README.md, "Reads of @latest looked at again; row 3 both ways" (#22):
# as root. An identical 1 GiB re-save + fsync into native, a mount of NEW
# (every save goes to an extent; the ingest dedups and punches later) and a
# mount of OLD (the daemon before extents, which hashes on the save path and
# skips the disk for a re-save), rotated, N rounds of fresh content; prints
# each target's times and median. OLD: the parent of 9063b45 built, e.g.
#   git worktree add /var/tmp/old-hash 9063b45^ && cmake -S /var/tmp/old-hash \
#     -B /var/tmp/old-hash/build -DCMAKE_BUILD_TYPE=Release && \
#     cmake --build /var/tmp/old-hash/build -j2 --target ciuicfs
set -u
NEW=${NEW:-build/fs/ciuicfs}; OLD=${OLD:-/var/tmp/old-hash/build/fs/ciuicfs}
W=${W:-/var/tmp/row3-both-ways}; N=${N:-5}
for m in new old; do mount | grep -q " $W/$m " && fusermount3 -u $W/$m; done
rm -rf $W; mkdir -p $W/native $W/new $W/old
$NEW mount $W/new --store $W/s-new >/dev/null
$OLD mount $W/old --store $W/s-old >/dev/null
backlog() { $NEW stats "$1" --json 2>/dev/null | grep -o '"backlog_versions":[0-9]*' | cut -d: -f2; }
quiet() { local b; while b=$(backlog $W/new) && [ -n "$b" ] && [ "$b" != 0 ]; do sleep 0.05; done; sync; echo 3 > /proc/sys/vm/drop_caches; }
timed() { local t0=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $t0" | bc -l; }
declare -A R
t=(native new old)
for r in $(seq $N); do
  head -c 1G /dev/urandom > $W/src   # fresh content each repetition
  for k in 0 1 2; do
    x=${t[$(( (r + k) % 3 ))]}
    quiet; dd if=$W/src of=$W/$x/f$r.bin bs=1M conv=fsync status=none   # first save
    quiet; R[$x]+="$(timed dd if=$W/src of=$W/$x/f$r.bin bs=1M conv=fsync) "  # identical again
    rm -f $W/$x/f$((r-1)).bin
  done
done
med() { printf '%s\n' $@ | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for x in "${t[@]}"; do echo "$x: ${R[$x]} median $(med ${R[$x]})"; done
$NEW umount $W/new; $OLD umount $W/old 2>/dev/null || fusermount3 -u $W/old
