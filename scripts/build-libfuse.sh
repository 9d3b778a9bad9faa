#!/usr/bin/env bash
# Builds libfuse >= 3.17 (kernel FUSE passthrough) into .deps/libfuse when the
# system's fuse3 is older (Debian 12 has 3.14). The source is Debian trixie's
# own fuse3 source package, fetched through apt with a private configuration
# under .deps/apt/ (the system's sources and lists stay untouched), unpacked
# with Debian's patches by dpkg-source and built with meson + ninja.
# Idempotent and quiet when already built. Without network it prints one line
# and exits 0; the build then uses the system libfuse without passthrough.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.deps"
prefix="$deps/libfuse"
aptdir="$deps/apt"
srcdir="$deps/src"
log="$deps/build-libfuse.log"

# The system's libfuse is new enough: nothing to do.
if env -u PKG_CONFIG_PATH pkg-config --atleast-version=3.17 fuse3 2>/dev/null; then
  exit 0
fi
# Already built.
if [ -f "$prefix/lib/pkgconfig/fuse3.pc" ] && [ -x "$prefix/bin/passthrough_hp" ] &&
   PKG_CONFIG_PATH="$prefix/lib/pkgconfig" PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" \
     pkg-config --atleast-version=3.17 fuse3 2>/dev/null; then
  exit 0
fi

for tool in apt-get dpkg-source meson ninja; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-libfuse.sh: $tool missing (run scripts/setup.sh); libfuse 3.17 not built, kernel passthrough off" >&2
    exit 0
  fi
done

mkdir -p "$aptdir/etc/sources.list.d" "$aptdir/state/lists/partial" \
         "$aptdir/cache/archives/partial" "$srcdir"
echo "deb-src http://deb.debian.org/debian trixie main" > "$aptdir/etc/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$aptdir/etc/sources.list"
  -o "Dir::Etc::SourceParts=$aptdir/etc/sources.list.d"
  -o "Dir::State=$aptdir/state"
  -o "Dir::Cache=$aptdir/cache"
  -o "Acquire::Retries=0" -o "Acquire::http::Timeout=20"
)
# As root, apt would drop to _apt for downloads and warn that it cannot here.
[ "$(id -u)" -ne 0 ] || apt_opts+=(-o "APT::Sandbox::User=root")

: > "$log"
cd "$srcdir"
if ! ls fuse3_*.dsc >/dev/null 2>&1; then
  if ! { apt-get "${apt_opts[@]}" -q update &&
         apt-get "${apt_opts[@]}" -q source --download-only fuse3; } >>"$log" 2>&1; then
    rm -f fuse3_*
    echo "build-libfuse.sh: could not download Debian trixie's fuse3 source; libfuse 3.17 could not be built, kernel passthrough will be off (using the system libfuse)"
    exit 0
  fi
fi
dsc="$(ls fuse3_*.dsc | sort -V | tail -1)"
echo "build-libfuse.sh: building libfuse 3.17 from Debian trixie's fuse3 source package into .deps/libfuse (log: .deps/build-libfuse.log)"

fail() {
  echo "build-libfuse.sh: $1 failed; last lines of .deps/build-libfuse.log:" >&2
  tail -20 "$log" >&2
  exit 1
}
rm -rf fuse3 build
dpkg-source --no-check -x "$dsc" fuse3 >>"$log" 2>&1 || fail "dpkg-source -x $dsc"
meson setup build fuse3 \
  --prefix="$prefix" --libdir=lib \
  -Dexamples=true -Dutils=false -Dtests=false -Duseroot=false \
  -Dudevrulesdir="$prefix/udev" >>"$log" 2>&1 || fail "meson setup"
ninja -C build >>"$log" 2>&1 || fail "ninja"
rm -rf "$prefix"
ninja -C build install >>"$log" 2>&1 || fail "ninja install"
# The example keeps its RUNPATH $ORIGIN/../lib, which is $prefix/lib here.
install -D -m 0755 build/example/passthrough_hp "$prefix/bin/passthrough_hp"
rm -rf build fuse3
echo "build-libfuse.sh: libfuse $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" pkg-config --modversion fuse3) installed in .deps/libfuse"
