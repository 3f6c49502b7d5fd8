#include "cpu.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#if AIAYN_X86
#include <cpuid.h>
#elif AIAYN_ARM64
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#endif

namespace aiayn {
namespace {

#if AIAYN_X86
constexpr Isa kLevels[] = {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512_vnni, Isa::avx512_bf16};

uint64_t xgetbv0() {
  uint32_t lo, hi;
  // Encoded so that the TU needs no -mxsave.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Isa detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::scalar;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!osxsave || !avx || !fma) return Isa::scalar;
  const uint64_t xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return Isa::scalar;  // XMM + YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::scalar;
  const bool avx2 = b & (1u << 5);
  if (!avx2) return Isa::scalar;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!(f && dq && bw && vl && zmm_state)) return Isa::avx2;
  const bool vnni = c & (1u << 11);
  if (!vnni) return Isa::avx512;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return Isa::avx512_vnni;
  const bool bf16 = a & (1u << 5);
  return bf16 ? Isa::avx512_bf16 : Isa::avx512_vnni;
}
#elif AIAYN_ARM64
constexpr Isa kLevels[] = {Isa::scalar, Isa::neon, Isa::neon_dotprod, Isa::neon_i8mm_bf16};

struct ArmFeatures {
  bool asimd = false, dotprod = false, i8mm = false, bf16 = false;
};

#if defined(__linux__)
ArmFeatures arm_features() {
  // The HWCAP bits of the Linux arm64 ABI (asm/hwcap.h), spelled out so that
  // older kernel headers still build.
  constexpr unsigned long kHwcapAsimd = 1ul << 1, kHwcapAsimddp = 1ul << 20;
  constexpr unsigned long kHwcap2I8mm = 1ul << 13, kHwcap2Bf16 = 1ul << 14;
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  return {(hw & kHwcapAsimd) != 0, (hw & kHwcapAsimddp) != 0, (hw2 & kHwcap2I8mm) != 0, (hw2 & kHwcap2Bf16) != 0};
}
#elif defined(__APPLE__)
bool sysctl_flag(const char* name) {
  int v = 0;
  size_t size = sizeof(v);
  return sysctlbyname(name, &v, &size, nullptr, 0) == 0 && v != 0;
}
ArmFeatures arm_features() {
  // Every Apple arm64 core has Advanced SIMD.
  return {true, sysctl_flag("hw.optional.arm.FEAT_DotProd"), sysctl_flag("hw.optional.arm.FEAT_I8MM"),
          sysctl_flag("hw.optional.arm.FEAT_BF16")};
}
#else
ArmFeatures arm_features() { return {true, false, false, false}; }
#endif

Isa detect() {
  const ArmFeatures f = arm_features();
  if (!f.asimd) return Isa::scalar;
  if (!f.dotprod) return Isa::neon;
  return f.i8mm && f.bf16 ? Isa::neon_i8mm_bf16 : Isa::neon_dotprod;
}
#else
constexpr Isa kLevels[] = {Isa::scalar};
Isa detect() { return Isa::scalar; }
#endif

constexpr int kLevelCount = static_cast<int>(sizeof(kLevels) / sizeof(kLevels[0]));

struct Selection {
  Isa best;
  Isa active;
  std::string error;
};

Selection select() {
  Selection s{detect(), Isa::scalar, {}};
  s.active = s.best;
  const char* env = std::getenv("AIAYN_ISA");
  if (env == nullptr || *env == '\0') return s;
  std::string names;
  for (int i = 0; i < kLevelCount; ++i) {
    if (std::strcmp(env, isa_name(kLevels[i])) == 0) {
      if (!at_least(s.best, kLevels[i])) {
        s.error = std::string("AIAYN_ISA=") + env + " is not supported by this CPU (best: " + isa_name(s.best) + ")";
        return s;
      }
      s.active = kLevels[i];
      return s;
    }
    names += std::string(i ? ", " : "") + isa_name(kLevels[i]);
  }
  s.error = "AIAYN_ISA must be one of " + names + "; got '" + env + "'";
  return s;
}

const Selection& selection() {
  static const Selection s = select();
  return s;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512_bf16: return "avx512_bf16";
    case Isa::avx512_vnni: return "avx512_vnni";
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::neon: return "neon";
    case Isa::neon_dotprod: return "neon_dotprod";
    case Isa::neon_i8mm_bf16: return "neon_i8mm_bf16";
    default: return "scalar";
  }
}

const Isa* isa_levels(int* count) {
  *count = kLevelCount;
  return kLevels;
}

Isa best_isa() { return selection().best; }
Isa active_isa() { return selection().active; }
const char* isa_env_error() {
  return selection().error.empty() ? nullptr : selection().error.c_str();
}

}  // namespace aiayn
