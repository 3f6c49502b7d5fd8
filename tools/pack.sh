#!/usr/bin/env bash
# The package as users install it (issue #19): `npm pack` with the linux-x64
# and linux-arm64 prebuilds, installed from the tarball into scratch
# directories where no compiler, make or python3 is on PATH, then `aiayn
# generate` on the demo model:
#   linux-x64    natively;
#   linux-arm64  the arm64 Node under qemu (tools/arm64.sh setup first): the
#                dependencies fetched for arm64, then the package's install
#                script (node-gyp-build) and the command run by the arm64 Node.
# Either install would fail if node-gyp-build did not find the prebuild: it
# would try to compile. Then the package less the linux-x64 prebuild, installed
# with the compiler on PATH: node-gyp-build builds from source, as on any
# platform without a prebuild. Makes the prebuilds first when they are missing
# (npm run prebuilds). Registry traffic: the package's own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

[ -f prebuilds/linux-x64/aiayn.node ] && [ -f prebuilds/linux-arm64/aiayn.node ] || npm run prebuilds

tarball=$(npm pack --silent --pack-destination "$out" | tail -n 1)
listing=$(tar tzf "$out/$tarball")
for f in package/prebuilds/linux-x64/aiayn.node package/prebuilds/linux-arm64/aiayn.node package/dist/index.js \
  package/binding.gyp; do
  grep -qx "$f" <<< "$listing" || { echo "pack: $tarball lacks $f" >&2; exit 1; }
done
echo "pack: $tarball ($(du -h "$out/$tarball" | cut -f1)) carries both prebuilds"

# PATH for the installs: node, npm and sh (npm runs scripts with it) only.
nobuild() { # dir, node binary
  mkdir -p "$1"
  ln -sf "$2" "$1/node"
  ln -sf /bin/sh "$1/sh"
  ln -sf "$(command -v npm)" "$1/npm"
  ln -sf "$(command -v npx)" "$1/npx"
}
args=(generate --model "$root/models/pt-numbers" "trezentos e quarenta e cinco" "mil e um")

echo "== linux-x64: install without a compiler, then aiayn generate"
nobuild "$out/bin-x64" "$(command -v node)"
mkdir "$out/x64"
(cd "$out/x64" && PATH=$out/bin-x64 npm init -y > /dev/null &&
  PATH=$out/bin-x64 npm install --no-audit --no-fund "$out/$tarball" > /dev/null &&
  PATH=$out/bin-x64 node node_modules/aiayn/dist/cli/bin.js "${args[@]}")

echo "== linux-arm64 (qemu): install without a compiler, then aiayn generate"
arm_node=$root/build-arm64/node/bin/node
[ -x "$arm_node" ] || { echo "pack: no arm64 Node (tools/arm64.sh setup)" >&2; exit 1; }
nobuild "$out/bin-arm64" "$arm_node"
mkdir "$out/arm64"
(cd "$out/arm64" && PATH=$out/bin-x64 npm init -y > /dev/null &&
  PATH=$out/bin-x64 npm install --no-audit --no-fund --ignore-scripts --cpu=arm64 --os=linux --libc=glibc \
    "$out/$tarball" > /dev/null)
# The install script as npm would run it (node_modules/.bin first on PATH), by the arm64 Node.
(cd "$out/arm64/node_modules/aiayn" &&
  PATH=$out/arm64/node_modules/.bin:$out/bin-arm64 QEMU_CPU=cortex-a72 "$arm_node" ../node-gyp-build/bin.js)
(cd "$out/arm64" && PATH=$out/bin-arm64 QEMU_CPU=cortex-a72 "$arm_node" -p \
  "const i = require('node-gyp-build')('node_modules/aiayn').info(); i.isa + ' ' + i.gemm.fp32" &&
  PATH=$out/bin-arm64 QEMU_CPU=cortex-a72 "$arm_node" node_modules/aiayn/dist/cli/bin.js "${args[@]}")

echo "== a platform without a prebuild: the install builds from source with node-gyp"
# The same package less the linux-x64 prebuild, as any platform with none sees it.
mkdir "$out/noprebuild" "$out/fallback"
tar xzf "$out/$tarball" -C "$out/noprebuild"
rm -r "$out/noprebuild/package/prebuilds/linux-x64"
tar czf "$out/fallback.tgz" -C "$out/noprebuild" package
(cd "$out/fallback" && npm init -y > /dev/null && npm install --no-audit --no-fund "$out/fallback.tgz" > /dev/null &&
  test -f node_modules/aiayn/build/Release/aiayn.node && node node_modules/aiayn/dist/cli/bin.js "${args[@]}")
echo "pack: both prebuilds installed and ran without a compiler; without a prebuild, the install compiled the addon"
