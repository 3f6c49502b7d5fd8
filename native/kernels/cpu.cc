#include "cpu.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace aiayn {
namespace {

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
  int wanted = 0;
  while (wanted <= static_cast<int>(kIsaMax) && std::strcmp(env, isa_name(static_cast<Isa>(wanted))) != 0) ++wanted;
  if (wanted > static_cast<int>(kIsaMax)) {
    s.error = std::string("AIAYN_ISA must be one of scalar, avx2, avx512, avx512_vnni, avx512_bf16; got '") + env + "'";
    return s;
  }
  if (wanted > static_cast<int>(s.best)) {
    s.error = std::string("AIAYN_ISA=") + env + " is not supported by this CPU (best: " +
              isa_name(s.best) + ")";
    return s;
  }
  s.active = static_cast<Isa>(wanted);
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
    default: return "scalar";
  }
}

Isa best_isa() { return selection().best; }
Isa active_isa() { return selection().active; }
const char* isa_env_error() {
  return selection().error.empty() ? nullptr : selection().error.c_str();
}

}  // namespace aiayn
