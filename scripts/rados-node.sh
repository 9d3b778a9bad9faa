# Sourced by bench-rados.sh and rados-soak.sh: helpers for daemons of a
# store on RADOS on a throw-away cluster.

# Unmounts MNT and waits for its daemon to end (it leaves the cluster
# before the cluster goes; killed after 30 s).
umount_node() {
  local pid; pid=$(pgrep -f "ciuicfs mount $1 " | head -1 || true)
  fusermount3 -u "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true
  [ -n "$pid" ] || return 0
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
