#!/usr/bin/env bash
# Sets up xtalgen on a fresh Debian machine: installs the Debian packages it needs (only those
# missing), then configures and builds into build/. Safe to run again: it only does what is left.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config liblapacke-dev libopenblas-dev libfftw3-dev libsymspg-dev
      libgsl-dev libhdf5-dev libcunit1-dev openmpi-bin libopenmpi-dev valgrind)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/xtalgen ($(build/xtalgen --version))"
