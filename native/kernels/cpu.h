// ISA detection and selection, done once per process.
//
// The best ISA comes from cpuid + xgetbv (the OS must save the YMM/ZMM state).
// AIAYN_ISA=scalar|avx2|avx512|avx512_vnni|avx512_bf16 forces a path at or
// below the best one, so one machine can test every path. Kernels ask
// `active_isa()` and dispatch on it with at_least(): each level implies the
// ones below it, and kernels without a path of their own for a level run the
// highest one below it.
#pragma once

namespace aiayn {

// avx512 = F + DQ + BW + VL; avx512_vnni adds AVX512_VNNI (vpdpbusd);
// avx512_bf16 adds AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) to that.
enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2, avx512_vnni = 3, avx512_bf16 = 4 };

constexpr Isa kIsaMax = Isa::avx512_bf16;

// True when `isa` includes every instruction of `level`.
constexpr bool at_least(Isa isa, Isa level) { return static_cast<int>(isa) >= static_cast<int>(level); }

const char* isa_name(Isa isa);

// The best ISA this CPU and OS support.
Isa best_isa();

// The ISA the kernels use: best_isa() unless AIAYN_ISA asks for a lower one.
Isa active_isa();

// Non-null when AIAYN_ISA is set to something unknown or unavailable; the
// addon turns it into a load error. active_isa() is then best_isa().
const char* isa_env_error();

}  // namespace aiayn
