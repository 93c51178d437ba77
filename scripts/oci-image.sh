#!/usr/bin/env bash
# Builds the fieldgate container image without pulling any base image: a Debian rootfs from
# debootstrap, the official Node binary from the npm registry's `node` package, and the packed
# release installed into it with npm install -g (exactly what deploy/docker/Dockerfile does on a
# node:24 base). Assembled as a plain OCI image layout with umoci, then checked by running
# `fieldgate --version` and `validate` inside the rootfs (chroot, as the image's non-root user).
#   scripts/oci-image.sh [OUT_DIR]      (root; apt packages: debootstrap umoci; plus npm)
# Output: OUT_DIR/oci (OCI layout, tag fieldgate:<version>) and OUT_DIR/fieldgate-<version>-oci.tar
# Load it with `podman load -i ...tar` / `skopeo copy oci-archive:...`. The OCI image config has
# no HEALTHCHECK field (a Docker extension): run the check from the orchestrator (compose,
# Kubernetes probes on /healthz and /readyz, as deploy/ does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build/oci}")
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
node_major=${NODE_MAJOR:-24}
version=$(node -p "require('$root/package.json').version")
for tool in debootstrap umoci npm; do
  command -v "$tool" >/dev/null || { echo "oci-image: needs $tool (apt-get install debootstrap umoci)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "oci-image: debootstrap and chroot need root"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
t0=$SECONDS
step() { echo "oci-image: [$((SECONDS - t0)) s] $*"; }

step "debootstrap $suite (minbase) from $mirror"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }

step "Node $node_major from the npm registry"
npm install --prefix "$work/node" --no-audit --no-fund --no-save --loglevel=error "node@$node_major" >/dev/null
nodepkg=$work/node/node_modules/node
install -m 0755 "$nodepkg/bin/node" "$rootfs/usr/local/bin/node"
# npm install -g below runs on this same Node, so native modules get its ABI and headers
export PATH="$nodepkg/bin:$PATH"
npm_config_nodedir=$(echo "$nodepkg"/node_modules/node-linux-*)
export npm_config_nodedir

step "build, pack, install the tarball into /opt/fieldgate"
(cd "$root" && node scripts/build.mjs >/dev/null && npm pack --ignore-scripts --pack-destination "$work" >/dev/null 2>&1)
npm install -g --prefix "$rootfs/opt/fieldgate" --no-audit --no-fund --loglevel=error --onnxruntime-node-install=skip \
  "$work/fieldgate-$version.tgz" >/dev/null
node "$root/scripts/trim-onnxruntime.mjs" "$rootfs/opt/fieldgate/lib/node_modules/fieldgate"
# the image holds the installed package: no test, rig, fixture or source in it (same rule as pack-check)
node "$root/scripts/release-files.mjs" "$rootfs/opt/fieldgate/lib/node_modules/fieldgate"
ln -s /opt/fieldgate/lib/node_modules/fieldgate "$rootfs/app"

step "non-root user, state directory, slimming"
echo 'fieldgate:x:10001:10001:fieldgate:/var/lib/fieldgate:/usr/sbin/nologin' >>"$rootfs/etc/passwd"
echo 'fieldgate:x:10001:' >>"$rootfs/etc/group"
echo 'fieldgate:!:1::::::' >>"$rootfs/etc/shadow"
install -d -o 10001 -g 10001 -m 0750 "$rootfs/var/lib/fieldgate"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*

step "check inside the rootfs (chroot, user fieldgate; no /proc mounted, so onnxruntime's cpuinfo complains)"
in_root() { chroot --userspec=10001:10001 "$rootfs" /usr/bin/env HOME=/var/lib/fieldgate PATH=/opt/fieldgate/bin:/usr/local/bin:/usr/bin:/bin "$@"; }
got=$(in_root fieldgate --version)
[ "$got" = "$version" ] || { echo "oci-image: fieldgate --version printed '$got'"; exit 1; }
echo "  fieldgate --version -> $got"
echo "  $(in_root fieldgate validate -c /app/deploy/examples/demo.yaml)"

step "OCI layout with umoci"
rm -rf "$out" && mkdir -p "$out"
image="$out/oci:fieldgate-$version"
umoci init --layout "$out/oci"
umoci new --image "$image"
umoci unpack --image "$image" "$work/bundle" >/dev/null
rm -rf "$work/bundle/rootfs" && mv "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$image" "$work/bundle"
umoci config --image "$image" --config.user 10001:10001 --config.workingdir /var/lib/fieldgate \
  --config.env NODE_ENV=production --config.env PATH=/opt/fieldgate/bin:/usr/local/bin:/usr/bin:/bin \
  --config.env NODE_COMPILE_CACHE=/var/lib/fieldgate/.compile-cache \
  --config.entrypoint /opt/fieldgate/bin/fieldgate --config.cmd run --config.cmd -c --config.cmd /etc/fieldgate/fieldgate.yaml \
  --config.exposedports 8080/tcp --config.volume /var/lib/fieldgate \
  --config.label org.opencontainers.image.title=fieldgate --config.label "org.opencontainers.image.version=$version" \
  --config.stopsignal SIGTERM --architecture "$(dpkg --print-architecture)" --os linux
umoci gc --layout "$out/oci"
step "check the image itself: unpack it (umoci) and run its entrypoint with --version as its user"
umoci unpack --image "$image" "$work/check" >/dev/null
got=$(chroot --userspec=10001:10001 "$work/check/rootfs" /opt/fieldgate/bin/fieldgate --version)
[ "$got" = "$version" ] || { echo "oci-image: the unpacked image printed '$got'"; exit 1; }
echo "  entrypoint --version -> $got"
tar -C "$out/oci" -cf "$out/fieldgate-$version-oci.tar" .
step "done: $out/oci (tag fieldgate-$version), $(du -sh "$out/fieldgate-$version-oci.tar" | cut -f1) as $out/fieldgate-$version-oci.tar"
