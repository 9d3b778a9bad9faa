#!/usr/bin/env bash
# Installs every Debian package ciuicfs needs to build, test and run.
# Idempotent and quiet when everything is present; works as root or via sudo.
# Then builds libfuse >= 3.17 into .deps/libfuse when the system's is older
# (scripts/build-libfuse.sh, itself quick once done).
set -euo pipefail

packages=(
  build-essential cmake pkg-config g++
  fuse3 libfuse3-dev
  liblmdb-dev lmdb-utils
  libxxhash-dev
  libzstd-dev
  libboost-program-options-dev
  libgtest-dev
  nlohmann-json3-dev    # trainer_state.json: trainer/ writes it, store/record/ reads it; ciuicfs ui's JSON
  libtorch-dev
  libopenblas0-pthread  # LibTorch's BLAS (it only Recommends one; the reference BLAS trains ~50x slower)
  meson ninja-build dpkg-dev
  ceph-mon ceph-osd ceph-common librados-dev libradospp-dev
  python3-torch rsync   # the real clients' tests (tests/clients/)
  graphviz              # ciuicfs graph --png
  help2man man-db       # the man pages, from --help (fs/dist/install.cmake)
  libcpp-httplib-dev    # ciuicfs ui's HTTP server (fs/ui/)
  chromium fonts-dejavu-core  # tests/ui: the page in headless chromium (DevTools over a pipe), legible screenshots
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi

  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$(dirname "${BASH_SOURCE[0]}")/build-libfuse.sh"
