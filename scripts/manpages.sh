#!/usr/bin/env bash
# Writes the man pages of ciuicfs from its own --help text (help2man), so
# the pages and --help say the same: ciuicfs.1 and ciuicfs-COMMAND.1 for
# each command `ciuicfs --help` lists, gzipped, into OUTDIR.
#   scripts/manpages.sh BUILD/fs/ciuicfs OUTDIR
set -euo pipefail
bin=$1
out=$2
command -v help2man >/dev/null || { echo "manpages.sh: help2man is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Defaults that depend on the user (the default store) read as the user's.
run_env=(env -u XDG_DATA_HOME -u XDG_CACHE_HOME HOME='~' LC_ALL=C)
version=$("${run_env[@]}" "$bin" --version | awk '{print $2}')
# The commands and their one-line summaries, from `ciuicfs --help`.
mapfile -t lines < <("${run_env[@]}" "$bin" --help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print} on && /^$/ {exit}')
cmds=()
{
  echo "[SEE ALSO]"
  for l in "${lines[@]}"; do
    c=$(awk '{print $1}' <<<"$l")
    cmds+=("$c")
    printf '.BR ciuicfs\\-%s (1),\n' "$c"
  done
  echo '.BR mount.fuse3 (8)'
} >"$tmp/see-also.h2m"
# Each page gets a prefix name of its own: help2man names a page after the
# program, and "ciuicfs mount" is program "ciuicfs" with an argument.
page() {  # page NAME SUMMARY COMMAND...
  local name=$1 summary=$2
  shift 2
  "${run_env[@]}" help2man --no-info --no-discard-stderr --version-string="$version" --name="$summary" \
    --include="$tmp/see-also.h2m" --source="ciuicfs $version" --section=1 "$@" >"$tmp/$name.1"
  local upper
  upper=$(tr '[:lower:]' '[:upper:]' <<<"$name")
  sed -i -e "s/^\.TH CIUICFS /.TH $upper /" -e "s/^ciuicfs \\\\- /$name \\\\- /" "$tmp/$name.1"
  grep -q "^\.TH $upper " "$tmp/$name.1" || { echo "manpages.sh: no page header for $name" >&2; exit 1; }
  gzip -9n <"$tmp/$name.1" >"$out/$name.1.gz"
}
page ciuicfs "a checkpoint store for ML training, as a FUSE filesystem" "$bin"
for l in "${lines[@]}"; do
  c=$(awk '{print $1}' <<<"$l")
  s=$(sed -E 's/^  [a-z]+ +//' <<<"$l")
  # help2man runs "$bin $c --help"; a wrapper makes that one program.
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$bin" "$c" >"$tmp/ciuicfs-$c"
  chmod +x "$tmp/ciuicfs-$c"
  page "ciuicfs-$c" "$s" "$tmp/ciuicfs-$c"
done
echo "manpages.sh: ${#cmds[@]} command pages and ciuicfs.1 in $out"
