// ISA detection and selection, done once per process.
//
// The best ISA comes from cpuid + xgetbv (the OS must save the YMM/ZMM state).
// AIAYN_ISA=scalar|avx2|avx512 forces a path at or below the best one, so one
// machine can test every path. Kernels ask `active_isa()` and dispatch on it.
#pragma once

namespace aiayn {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);

// The best ISA this CPU and OS support.
Isa best_isa();

// The ISA the kernels use: best_isa() unless AIAYN_ISA asks for a lower one.
Isa active_isa();

// Non-null when AIAYN_ISA is set to something unknown or unavailable; the
// addon turns it into a load error. active_isa() is then best_isa().
const char* isa_env_error();

}  // namespace aiayn
