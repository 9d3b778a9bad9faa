#!/usr/bin/env bash
# The Debian package on this machine: built (scripts/package.sh), installed
# with apt-get, used the way an administrator would (man pages, completion,
# `mount -t fuse.ciuicfs`, an fstab line, the example systemd unit, plain
# `umount`), then removed, leaving none of its files.
#   tests/install/package_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
# (Long outputs are matched from a here-string: `cmd | grep -q` under
# pipefail fails when grep's early exit kills cmd with SIGPIPE.)
src=$1
build=$2
say() { echo "package_test: $*"; }
fail() { echo "package_test: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "skipping: installing a package needs root"; exit 0; }
[ -c /dev/fuse ] || { echo "skipping: no /dev/fuse"; exit 0; }
if dpkg-query -W -f='${Status}' ciuicfs 2>/dev/null | grep -q "install ok installed"; then
  echo "skipping: a ciuicfs package is installed on this machine; remove it to run this test"
  exit 0
fi

work=$(mktemp -d /tmp/ciuicfs-package.XXXXXX)
installed=0
cleanup() {
  for m in "$work"/mnt*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  [ "$installed" = 1 ] && DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq ciuicfs >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
store=$work/store
mkdir -p "$work/mnt" "$work/mnt2" "$work/mnt3"

# Waits until no daemon serves $store (each running mount has an .info file).
wait_daemons_gone() {
  for _ in $(seq 1 600); do
    compgen -G "$store/mounts/*.info" >/dev/null || return 0
    sleep 0.1
  done
  fail "a daemon of $store is still running a minute after umount"
}

# --- build it, look inside -------------------------------------------------
BUILD_DIR=$build "$src/scripts/package.sh" >"$work/package.log" 2>&1 || { cat "$work/package.log"; fail "package.sh"; }
deb=$(ls "$build"/package/ciuicfs_*.deb)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
commands=$("$build/fs/ciuicfs" --help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1}')
[ "$(wc -w <<<"$commands")" -ge 10 ] || fail "ciuicfs --help lists too few commands: $commands"
for f in ./usr/bin/ciuicfs ./usr/share/man/man1/ciuicfs.1.gz ./usr/share/bash-completion/completions/ciuicfs \
         ./usr/share/doc/ciuicfs/README.md ./usr/share/doc/ciuicfs/examples/ckpt.mount; do
  grep -qxF "$f" <<<"$contents" || fail "$deb lacks $f"
done
for c in $commands; do
  grep -qxF "./usr/share/man/man1/ciuicfs-$c.1.gz" <<<"$contents" || fail "no man page for ciuicfs $c"
done
if grep -q "libfuse3.so.4 => .*\.deps/libfuse" <<<"$(ldd "$build/fs/ciuicfs")"; then
  grep -q "^./usr/lib/ciuicfs/libfuse3.so" <<<"$contents" || fail "the libfuse ciuicfs was built with is not in the package"
fi
depends=$(dpkg-deb --field "$deb" Depends)
for d in fuse3 liblmdb0 libzstd1 libxxhash0 libboost-program-options; do
  grep -q "$d" <<<"$depends" || fail "Depends lacks $d: $depends"
done
say "built $(basename "$deb"): $(wc -l <<<"$contents") entries; Depends: $depends"

# --- install ----------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install"; }
installed=1
files=$(dpkg -L ciuicfs)
[ "$(command -v ciuicfs)" = /usr/bin/ciuicfs ] || fail "ciuicfs is not /usr/bin/ciuicfs on PATH"
want=$("$build/fs/ciuicfs" --version)
got=$(ciuicfs --version)
[ "$got" = "$want" ] || fail "installed --version '$got', built '$want'"
grep -q "^ciuicfs [0-9]" <<<"$got" || fail "--version says '$got'"
if grep -q "\.deps/libfuse" <<<"$(ldd "$build/fs/ciuicfs")"; then
  grep -q "libfuse3.so.4 => /usr/bin/../lib/ciuicfs/" <<<"$(ldd /usr/bin/ciuicfs)" || fail "installed ciuicfs does not load its own libfuse: $(ldd /usr/bin/ciuicfs | grep fuse)"
fi

# Man pages: the same options as --help (one source).
grep -q "ciuicfs-mount" <<<"$(man -P cat ciuicfs 2>/dev/null)" || fail "man ciuicfs does not name ciuicfs-mount"
mount_page=$(man -P cat ciuicfs-mount 2>/dev/null | sed 's/‐//g')
for opt in $(ciuicfs mount --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
  grep -q -- "$opt" <<<"$mount_page" || fail "man ciuicfs-mount lacks $opt, which --help lists"
done
grep -q "check every chunk" <<<"$(man -P cat ciuicfs-verify 2>/dev/null)" || fail "man ciuicfs-verify lacks its summary"

# Bash completion: command names and options.
completed=$(bash -c 'source /usr/share/bash-completion/completions/ciuicfs; COMP_WORDS=(ciuicfs mo); COMP_CWORD=1; _ciuicfs; echo "${COMPREPLY[*]}"; COMP_WORDS=(ciuicfs mount --no-p); COMP_CWORD=2; _ciuicfs; echo "${COMPREPLY[*]}"')
[ "$completed" = $'mount\n--no-passthrough' ] || fail "completion gave '$completed'"
say "installed: $got; man pages and completion answer"

# --- mount -t fuse.ciuicfs, save, umount --------------------------------------
head -c 3145728 /dev/urandom >"$work/model.bin"
mount -t fuse.ciuicfs "$store" "$work/mnt" -o branch=main,noatime >"$work/mount.log" 2>&1 || { cat "$work/mount.log"; fail "mount -t fuse.ciuicfs"; }
grep -q " $work/mnt fuse.ciuicfs .*noatime" /proc/mounts || fail "mount -t gave no ciuicfs mount with noatime: $(grep "$work" /proc/mounts)"
cp "$work/model.bin" "$work/mnt/model_step_7.pt.tmp"
mv "$work/mnt/model_step_7.pt.tmp" "$work/mnt/model_step_7.pt"
cmp "$work/model.bin" "$work/mnt/@latest/model_step_7.pt" || fail "@latest differs from what was saved"
umount "$work/mnt" || fail "umount of the mount -t mount"
mountpoint -q "$work/mnt" && fail "still mounted after umount"
wait_daemons_gone
ciuicfs verify "$store" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "verify after umount"; }
ciuicfs show step-7 "$store" | grep -q "model_step_7.pt" || fail "show step-7 lacks the save"
say "mount -t fuse.ciuicfs: saved, umount clean, verify clean"

# --- an fstab line -------------------------------------------------------------
printf '%s %s fuse.ciuicfs defaults,nosuid,branch=exp,create 0 0\n' "$store" "$work/mnt2" >"$work/fstab"
mount -T "$work/fstab" "$work/mnt2" >"$work/mount2.log" 2>&1 || { cat "$work/mount2.log"; fail "mount from an fstab line"; }
grep -q " $work/mnt2 fuse.ciuicfs .*nosuid" /proc/mounts || fail "the fstab mount is not nosuid: $(grep "$work" /proc/mounts)"
cmp "$work/model.bin" "$work/mnt2/model_step_7.pt" || fail "branch exp does not start at main's head"
echo "exp" >"$work/mnt2/notes_step_8.txt"
umount "$work/mnt2" || fail "umount of the fstab mount"
wait_daemons_gone
ciuicfs log "$store" --all --json | grep -q '"path":"notes_step_8.txt"' || fail "the fstab mount's save is not in the log"
ciuicfs log "$store" --json | grep -q 'notes_step_8' && fail "the exp save landed on main"
say "fstab line: branch created, saved, umount clean"

# --- the example systemd unit: verified, and the mount it describes --------------
unit=$(systemd-escape --path --suffix=mount "$work/mnt3")
sed -e "s#^What=.*#What=$store#" -e "s#^Where=.*#Where=$work/mnt3#" /usr/share/doc/ciuicfs/examples/ckpt.mount >"$work/$unit"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$work/$unit" >"$work/unit.log" 2>&1 || { cat "$work/unit.log"; fail "systemd-analyze verify of the example unit"; }
fi
what=$(sed -n 's/^What=//p' "$work/$unit")
where=$(sed -n 's/^Where=//p' "$work/$unit")
type=$(sed -n 's/^Type=//p' "$work/$unit")
options=$(sed -n 's/^Options=//p' "$work/$unit")
# What systemd runs for a mount unit: mount WHAT WHERE -t TYPE -o OPTIONS.
mount "$what" "$where" -t "$type" -o "$options" >"$work/mount3.log" 2>&1 || { cat "$work/mount3.log"; fail "the unit's mount"; }
cmp "$work/model.bin" "$work/mnt3/model_step_7.pt" || fail "the unit's mount does not show main"
umount "$where"
wait_daemons_gone
say "systemd unit $unit: verified, its mount works"

# --- remove ---------------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq ciuicfs >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get remove"; }
installed=0
while read -r f; do
  [ -d "$f" ] && continue
  [ -e "$f" ] || [ -L "$f" ] && fail "$f is left after removal"
done <<<"$files"
[ -e /usr/lib/ciuicfs ] && fail "/usr/lib/ciuicfs is left after removal"
say "removed: none of its $(wc -l <<<"$files") paths left"
say "ok"
