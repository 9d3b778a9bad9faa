#!/usr/bin/env bash
# A throw-away one-node Ceph cluster for tests and for trying a RADOS store
# (#15): one monitor and one memstore OSD, bound to 127.0.0.1, no manager
# (RADOS I/O needs none), everything under DIR.
#
#   scripts/ceph-cluster.sh start DIR [POOL]   # prints DIR/ceph.conf when the pool is usable
#   scripts/ceph-cluster.sh stop DIR           # kills the daemons, removes DIR
#   scripts/ceph-cluster.sh with CMD [ARG...]  # runs CMD with CIUICFS_TEST_CEPH_CONF set to a
#                                              # fresh cluster's conf, then stops it; where none
#                                              # starts, prints a gtest-style SKIPPED line and exits 0
#
# The OSD keeps objects in memory, up to CIUICFS_CEPH_MEMSTORE_BYTES (2 GiB).
# Needs Debian's ceph-mon, ceph-osd and ceph-common (scripts/setup.sh).
# Exits non-zero with one line on stderr when the cluster does not come up.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR [POOL] | stop DIR" >&2; exit 2; }

stop() {
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  rm -rf "$dir"
}

case $cmd in
  stop) stop; exit 0 ;;
  with)
    shift
    scratch=$(mktemp -d /tmp/ciuicfs-ceph.XXXXXX)
    if ! conf=$("$0" start "$scratch/ceph" 2>"$scratch/err"); then
      echo "[  SKIPPED ] no Ceph cluster starts here: $(head -1 "$scratch/err")"
      rm -rf "$scratch"; exit 0
    fi
    rc=0; CIUICFS_TEST_CEPH_CONF=$conf "$@" || rc=$?
    "$0" stop "$scratch/ceph"; rm -rf "$scratch"
    exit $rc ;;
  start) ;;
  *) echo "$0: unknown command '$cmd'" >&2; exit 2 ;;
esac

pool=${3:-ciuicfs}
for b in ceph-mon ceph-osd ceph-authtool monmaptool ceph; do
  command -v "$b" >/dev/null || { echo "$0: $b is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
done
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
# A port of its own, so clusters of parallel tests do not meet.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fsid=$(cat /proc/sys/kernel/random/uuid)
conf=$dir/ceph.conf
# Tests stop the OSD (SIGSTOP) for seconds. A PG's read lease lasts
# osd_pool_default_read_lease_ratio (0.8) x osd heartbeat grace (20 s by
# default); when a stop plus a loaded machine outlasts it, the PG turns
# "laggy" and, with no other OSD to renew the lease with, may park every
# operation on it for good (seen in CI: the store's objects unserved to any
# client for minutes while other PGs served). A one-OSD cluster has no peers
# to watch, so a long grace costs nothing: it makes the lease 240 s.
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
mon initial members = a
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir
log file = $dir/\$name.log
admin socket = $dir/\$name.asok
pid file = $dir/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
osd heartbeat grace = 300
osd objectstore = memstore
memstore device bytes = ${CIUICFS_CEPH_MEMSTORE_BYTES:-2147483648}
osd data = $dir/osd
mon data = $dir/mon
[osd]
keyring = $dir/osd/keyring
[mon.a]
public addr = 127.0.0.1:$port
CONF
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
  --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$port]" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" 2>"$dir/mkfs.err" ||
  { echo "$0: ceph-mon --mkfs failed: $(tail -1 "$dir/mkfs.err")" >&2; exit 1; }
ceph-mon -c "$conf" -i a
C=(ceph -c "$conf" --connect-timeout 10)
osd=$("${C[@]}" osd create 2>"$dir/osd.err") || { echo "$0: the monitor does not answer: $(tail -1 "$dir/osd.err")" >&2; exit 1; }
mkdir -p "$dir/osd"
ceph-osd -c "$conf" -i "$osd" --mkfs --mkkey --no-mon-config --osd-data "$dir/osd" 2>"$dir/mkfs.err" >/dev/null ||
  { echo "$0: ceph-osd --mkfs failed: $(tail -1 "$dir/mkfs.err")" >&2; exit 1; }
"${C[@]}" auth add "osd.$osd" osd 'allow *' mon 'allow profile osd' -i "$dir/osd/keyring" >/dev/null 2>&1
"${C[@]}" osd crush add "osd.$osd" 1 root=default host=localhost >/dev/null 2>&1
ceph-osd -c "$conf" -i "$osd" --osd-data "$dir/osd" 2>"$dir/osd.start.err"
"${C[@]}" osd pool create "$pool" 8 >/dev/null 2>&1
# Usable when an object goes in and comes back.
for _ in $(seq 60); do
  if echo ok | timeout 5 rados -c "$conf" -p "$pool" put ciuicfs-probe - 2>/dev/null; then
    rados -c "$conf" -p "$pool" rm ciuicfs-probe 2>/dev/null || true
    echo "$conf"
    exit 0
  fi
  sleep 0.5
done
echo "$0: pool $pool did not become writable in 30 s (see $dir/*.log)" >&2
exit 1
