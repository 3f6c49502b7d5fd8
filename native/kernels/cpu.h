// ISA detection and selection, done once per process.
//
// x86-64: cpuid + xgetbv (the OS must save the YMM/ZMM state). aarch64:
// getauxval(AT_HWCAP / AT_HWCAP2) on Linux, sysctlbyname("hw.optional.arm.
// FEAT_*") on macOS. AIAYN_ISA=<level> forces a level at or below the best
// one, so one machine can test every path of its architecture. Kernels ask
// `active_isa()` and dispatch on it with at_least(): each level implies the
// ones below it of the same architecture (and scalar), and kernels without a
// path of their own for a level run the highest one below it.
#pragma once

// The architecture being compiled: each has its own kernel files, and the
// dispatch code names only the kernels of the one being built.
#if defined(__x86_64__) || defined(_M_X64)
#define AIAYN_X86 1
#elif defined(__aarch64__)
#define AIAYN_ARM64 1
#endif

namespace aiayn {

// x86-64: avx2 = AVX2 + FMA + F16C; avx512 = F + DQ + BW + VL; avx512_vnni
// adds AVX512_VNNI (vpdpbusd); avx512_bf16 adds AVX512_BF16 (vdpbf16ps,
// vcvtne2ps2bf16) to that.
// aarch64: neon = ARMv8.0 Advanced SIMD (every ARMv8 core: Raspberry Pi 4,
// Cortex-A72); neon_dotprod adds SDOT/UDOT (ARMv8.2 DotProd: Graviton2,
// Apple M1); neon_i8mm_bf16 adds SMMLA and the BF16 instructions (ARMv8.6
// I8MM + BF16: Graviton3/4, Apple M2 and later).
// The values of the two architectures never mix: a build knows only its own
// (isa_levels()), and at_least() is false across them.
enum class Isa : int {
  scalar = 0,
  avx2 = 1,
  avx512 = 2,
  avx512_vnni = 3,
  avx512_bf16 = 4,
  neon = 5,
  neon_dotprod = 6,
  neon_i8mm_bf16 = 7,
};

constexpr bool isa_is_arm(Isa isa) { return static_cast<int>(isa) >= static_cast<int>(Isa::neon); }

// True when `isa` includes every instruction of `level`.
constexpr bool at_least(Isa isa, Isa level) {
  return level == Isa::scalar ||
         (isa_is_arm(isa) == isa_is_arm(level) && static_cast<int>(isa) >= static_cast<int>(level));
}

const char* isa_name(Isa isa);

// The levels this build knows, lowest first (scalar, then this
// architecture's); *count receives how many.
const Isa* isa_levels(int* count);

// The best ISA this CPU and OS support.
Isa best_isa();

// The ISA the kernels use: best_isa() unless AIAYN_ISA asks for a lower one.
Isa active_isa();

// Non-null when AIAYN_ISA is set to something unknown or unavailable; the
// addon turns it into a load error. active_isa() is then best_isa().
const char* isa_env_error();

}  // namespace aiayn
