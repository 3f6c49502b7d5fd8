#!/usr/bin/env bash
# Sanitizer runs (AddressSanitizer + UndefinedBehaviorSanitizer, g++'s runtimes):
#
#   tools/sanitize.sh kernels   builds native/tests (kernel_tests: every kernel
#                               against double loops, on every ISA path the CPU
#                               has) with -DAIAYN_SANITIZE=ON and runs it, leak
#                               checking on.
#   tools/sanitize.sh threads   the same kernel_tests with ThreadSanitizer
#                               (-DAIAYN_TSAN=ON): the pool's workers, resizes,
#                               concurrent callers and nested calls.
#   tools/sanitize.sh addon     builds the addon with -DAIAYN_SANITIZE=ON (cmake-js)
#                               in a copy of the package, build-sanitize/addon, and
#                               runs the native-backend vitest files there with
#                               libasan preloaded into Node (leak checking off:
#                               Node does not free everything at exit); any
#                               further arguments go to vitest (e.g. reporters).
#
# Why a copy: the tests load the addon the way users do (lib/backend/addon.ts,
# node-gyp-build from the package root), so the package whose build/Release
# holds the sanitized addon is a separate root; the working tree's own
# build/Release is left alone. Every sanitizer report aborts its process
# (halt_on_error, and -fno-sanitize-recover=all in CMakeLists.txt), which makes
# kernel_tests or vitest, and so this script, exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-sanitize
jobs=$(nproc)

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# The native-backend tests: kernels through the addon, the addon's own checks
# of bad input (errors, runtime), and whole models on the kernels. (The engine
# tests pass under ASan too but need dist/ and time the event loop.)
ADDON_TESTS=(test/linear.test.ts test/attention.test.ts test/ops.test.ts test/topk.test.ts
  test/activations.test.ts test/batch-invariance.test.ts test/errors.test.ts test/runtime.test.ts
  test/linear-dtypes.test.ts test/model.test.ts test/hf-models.test.ts test/decoder-step.test.ts)

case ${1:-} in
  kernels)
    cmake -S . -B "$out/kernels" -DAIAYN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Release --log-level=WARNING
    cmake --build "$out/kernels" --target kernel_tests -j "$jobs"
    "$out/kernels/kernel_tests"
    ;;
  threads)
    cmake -S . -B "$out/threads" -DAIAYN_TSAN=ON -DCMAKE_BUILD_TYPE=Release --log-level=WARNING
    cmake --build "$out/threads" --target kernel_tests -j "$jobs"
    TSAN_OPTIONS=halt_on_error=1 "$out/threads/kernel_tests"
    ;;
  addon)
    pkg=$out/addon
    mkdir -p "$pkg"
    rm -rf "${pkg:?}/lib" "$pkg/test" "$pkg/models" "$pkg/native"
    # -p keeps the times, so an unchanged source is not recompiled.
    cp -Rp package.json tsconfig.json vitest.config.ts CMakeLists.txt lib test models native "$pkg/"
    ln -sfn "$root/node_modules" "$pkg/node_modules"
    (cd "$pkg" && npx cmake-js build --CDAIAYN_SANITIZE=ON --parallel "$jobs")
    export ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0}
    (cd "$pkg" && LD_PRELOAD=$(g++ -print-file-name=libasan.so) npx vitest run "${ADDON_TESTS[@]}" "${@:2}")
    ;;
  *)
    echo "usage: tools/sanitize.sh kernels | threads | addon [vitest arguments]" >&2
    exit 2
    ;;
esac
