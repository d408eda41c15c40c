#!/usr/bin/env bash
# Installs the system packages protoseg's test suite needs, on Debian/Ubuntu (apt):
#   g++, make      the compiler node-gyp builds the native addon with (npm ci's install step)
#   libtorch-dev   the native libtorch backend (npm ci's install step builds the addon when it is present)
#   libgloo-dev    the Gloo headers of the addon's distributed part (libtorch-dev ships c10d)
#   python3-numpy  the independent Cityscapes-evaluation check (test/independent_cityscapes_eval.py)
#   python3-onnx   the reference ONNX checker of the export tests
#   chromium       the report rendering and exported web page tests (headless, driven by playwright-core)
# Run it before `npm ci` (README quick start; .ci/run calls it too). It installs only what is missing,
# as root or through sudo; otherwise it prints the one command to run and exits 1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(g++ make libtorch-dev libgloo-dev python3-numpy python3-onnx chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
  # dpkg-query, not dpkg -s: a package removed but not purged still has an entry, in state "deinstall".
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then missing+=("$pkg"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (${PACKAGES[*]})"
  exit 0
fi

install_cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: expected apt-get (Debian/Ubuntu) to install ${missing[*]}, got none on this system. Install the equivalents of ${missing[*]} with your package manager, then run npm ci." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo)
elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
  # Interactive: sudo may ask for the password.
  sudo=(sudo)
else
  echo "setup: missing system packages ${missing[*]}; installing them needs root. Run: sudo sh -c '$install_cmd'  (then npm ci)" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} (apt)"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
