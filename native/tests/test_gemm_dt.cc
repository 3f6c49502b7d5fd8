// bf16 and int8 linear (gemm.h's contract) against double loops that follow
// the contract, on whatever ISA path the run selected (kernel_tests runs
// every level, so the vdpbf16ps / vpdpbusd paths and each widening fallback).
//
// The references here are written independently of the kernels:
// - bf16: bf16_ref rounds through frexp / nearbyint (8 significant bits,
//   ties to even); the packed weights must unpack to exactly bf16_ref(W), and
//   y is the sum of the exact products bf16_ref(x) * Wb in double. Tolerance:
//   the fp32 sum of exact products is within (K + 2) u sum|p| of it (twice
//   that for the depth blocks and act's slope), plus the activation and
//   residual roundings as in test_gemm.cc.
// - int8: the contract's quantisation in fp32 steps; the packed weights must
//   unpack to exactly q * s, and the int32 sums are checked bit for bit: with
//   no bias, activation or residual, y must equal fp32(acc) * fp32(t s)
//   exactly; otherwise the last multiply-add may round once more.
// Every case also checks batch invariance (each row computed alone gives the
// same bits), zero rows (y = act(bias)) and rows holding NaN or inf.
// Across ISAs: every bf16 and int8 kernel table this CPU can run gives the
// same bits as the scalar one on one block (bf16: the widening paths add a
// pair's products in vdpbf16ps's order; int8: the same integers, and no bias
// or activation, so the scaling is one multiply on every path).
#include <algorithm>
#include <cfloat>
#include <cstring>
#include <vector>

#include "check.h"
#include "gemm.h"
#include "gemm_kernels.h"
#include "threadpool.h"

namespace kt {
namespace {

struct Shape {
  int64_t M, N, K;
};

float bf16_ref(float v) {
  if (std::isnan(v)) return v;
  if (std::fabs(v) < FLT_MIN) return std::copysign(0.0f, v);
  int e;
  const double m = std::frexp(static_cast<double>(v), &e);  // [0.5, 1)
  return static_cast<float>(std::ldexp(std::nearbyint(m * 256.0) / 256.0, e));
}

// The contract's symmetric quantisation of one row; returns the scale.
float quant_ref(const float* v, int64_t n, std::vector<int>& q) {
  float a = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    finite = finite && std::isfinite(v[i]);
    a = std::max(a, std::fabs(v[i]));
  }
  q.assign(static_cast<size_t>(n), 0);
  if (!finite) return NAN;
  if (a == 0.0f) return 0.0f;
  const float inv = 127.0f / a;
  for (int64_t i = 0; i < n; ++i) {
    const float p = v[i] * inv;
    q[static_cast<size_t>(i)] = static_cast<int>(std::clamp(std::nearbyint(static_cast<double>(p)), -127.0, 127.0));
  }
  return a / 127.0f;
}

struct Ref {
  aiayn::DType dtype;
  int64_t N, K;
  std::vector<float> wb;           // bf16: bf16_ref(W)
  std::vector<std::vector<int>> q; // int8: q[n]
  std::vector<float> s;            // int8: s_n
};

Ref make_ref(aiayn::DType dtype, const Vec<float>& w, int64_t N, int64_t K) {
  Ref r{dtype, N, K, {}, {}, {}};
  if (dtype == aiayn::DType::bf16) {
    for (float v : w) r.wb.push_back(bf16_ref(v));
  } else {
    r.q.resize(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) r.s.push_back(quant_ref(w.data() + n * K, K, r.q[static_cast<size_t>(n)]));
  }
  return r;
}

// Row m of y (stride ldy) against the contract. `exact_ok`: no bias,
// activation or residual, so int8 must match bit for bit.
void check_row(Case& c, const Ref& r, const float* x, const float* bias, int act, const float* residual,
               const float* y, int64_t m) {
  const int64_t N = r.N, K = r.K;
  std::vector<int> qx;
  float t = 0.0f;
  if (r.dtype == aiayn::DType::int8) t = quant_ref(x, K, qx);
  for (int64_t n = 0; n < N; ++n) {
    const double b = bias ? bias[n] : 0.0;
    const double res = residual ? residual[n] : 0.0;
    double sum, mag;
    bool exact = false;
    if (r.dtype == aiayn::DType::bf16) {
      sum = 0;
      mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = static_cast<double>(bf16_ref(x[k])) * r.wb[n * K + k];
        sum += p;
        mag += std::fabs(p);
      }
      mag *= 2 * (K + 2) * kU;
    } else {
      int64_t acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += int64_t{qx[k]} * r.q[n][k];
      const float f = static_cast<float>(acc) * (t * r.s[n]);
      sum = f;
      mag = 2 * kU * (std::fabs(f) + std::fabs(b));
      exact = !bias && act == 0 && !residual;
    }
    const double a = activate_ref(sum + b, act);
    const double tol = exact ? 0.0 : mag + 4 * kU * std::max(1.0, std::fabs(a)) + 2 * kU * std::fabs(a + res);
    c.close("y", m * 100000 + n, y[n], a + res, tol);
  }
}

void run_case(const aiayn::PackedWeights& pw, const Ref& r, const Shape& s, int variant, int threads,
              Rng& rng) {
  const int64_t M = s.M, N = s.N, K = s.K;
  const int act = variant % 3 == 0 ? 0 : variant % kActivations;
  const bool has_bias = variant % 3 != 0 && (variant / 5) % 2 == 0;
  const bool has_residual = variant % 3 != 0 && (variant / 2) % 2 == 0;
  const int64_t ldx = K + (variant % 2 ? 3 : 0);
  const int64_t ldy = N + (variant % 4 == 1 ? 5 : 0);
  Case c(fmt("linear %s M=%lld N=%lld K=%lld bias=%d act=%s residual=%d threads=%d",
             r.dtype == aiayn::DType::bf16 ? "bf16" : "int8", (long long)M, (long long)N, (long long)K, has_bias,
             activation_name(act), has_residual, threads));
  Vec<float> x = rng.floats((M - 1) * ldx + K, -2.0f, 2.0f);
  // A zero row, and (without activation, so NaN stays visible) a non-finite one.
  if (M >= 3) std::fill(x.begin() + ldx, x.begin() + ldx + K, 0.0f);
  if (M >= 4 && act == 0) x[static_cast<size_t>(2 * ldx + K / 2)] = variant % 2 ? NAN : INFINITY;
  Vec<float> bias = has_bias ? rng.floats(N) : Vec<float>();
  Vec<float> residual = has_residual ? rng.floats((M - 1) * ldy + N) : Vec<float>();
  Vec<float> y(static_cast<size_t>((M - 1) * ldy + N), 0.0f);
  aiayn::set_threads(threads);
  aiayn::linear(x.data(), M, ldx, pw, has_bias ? bias.data() : nullptr, static_cast<aiayn::Activation>(act),
                has_residual ? residual.data() : nullptr, y.data(), ldy);
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x.data() + m * ldx;
    const bool nonfinite = std::any_of(xr, xr + K, [](float v) { return !std::isfinite(v); });
    if (nonfinite && !(r.dtype == aiayn::DType::bf16 && std::isinf(xr[K / 2]))) {
      for (int64_t n = 0; n < N; ++n) c.close("non-finite row", m * 100000 + n, y[m * ldy + n], NAN, 0);
      continue;
    }
    if (nonfinite) continue;  // bf16 with inf: inf or NaN by the signs of the weights
    check_row(c, r, xr, has_bias ? bias.data() : nullptr, act, has_residual ? residual.data() + m * ldy : nullptr,
              y.data() + m * ldy, m);
  }
  // Batch invariance: every row again alone, bit for bit.
  if (M > 1) {
    Vec<float> y1(static_cast<size_t>(N));
    for (int64_t m = 0; m < M; ++m) {
      aiayn::linear(x.data() + m * ldx, 1, K, pw, has_bias ? bias.data() : nullptr,
                    static_cast<aiayn::Activation>(act), has_residual ? residual.data() + m * ldy : nullptr,
                    y1.data(), N);
      for (int64_t n = 0; n < N; ++n) {
        const float a = y1[n], b = y[m * ldy + n];
        if (std::memcmp(&a, &b, 4) != 0) c.close("row alone", m * 100000 + n, a, b, 0);
      }
    }
  }
}

void check_unpack(const aiayn::PackedWeights& pw, const Ref& r) {
  Case c(fmt("linear_unpack %s N=%lld K=%lld", r.dtype == aiayn::DType::bf16 ? "bf16" : "int8", (long long)r.N,
             (long long)r.K));
  Vec<float> back(static_cast<size_t>(r.N * r.K));
  aiayn::linear_unpack(pw, back.data());
  for (int64_t n = 0; n < r.N; ++n) {
    for (int64_t k = 0; k < r.K; ++k) {
      const double want = r.dtype == aiayn::DType::bf16 ? r.wb[n * r.K + k] : static_cast<float>(r.q[n][k] * r.s[n]);
      c.close("w", n * r.K + k, back[n * r.K + k], want, 0);
    }
  }
}

void run_shapes(aiayn::DType dtype, const std::vector<Shape>& shapes, int& variant, Rng& rng) {
  for (const Shape& s : shapes) {
    Vec<float> w = rng.floats(s.N * s.K);
    if (s.N > 2) std::fill(w.begin() + s.K, w.begin() + 2 * s.K, 0.0f);  // a zero column of y
    aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), s.N, s.K, dtype);
    if (pw == nullptr) {
      Case(fmt("linear_pack N=%lld K=%lld", (long long)s.N, (long long)s.K)).fail("linear_pack returned null");
      continue;
    }
    const Ref r = make_ref(dtype, w, s.N, s.K);
    check_unpack(*pw, r);
    for (int threads : {1, 3}) run_case(*pw, r, s, variant++, threads, rng);
    if (dtype == aiayn::DType::bf16) {
      // The same weights from raw bf16 bits give the same packed bytes.
      std::vector<uint16_t> bits(w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        uint32_t u;
        std::memcpy(&u, &r.wb[i], 4);
        bits[i] = static_cast<uint16_t>(u >> 16);
      }
      aiayn::PackedWeights* pb = aiayn::linear_pack_bf16(bits.data(), s.N, s.K);
      Case c(fmt("linear_pack_bf16 N=%lld K=%lld", (long long)s.N, (long long)s.K));
      if (pb == nullptr || pb->bytes != pw->bytes) {
        c.fail("null or a different size");
      } else if (std::memcmp(pb->data, pw->data, pw->bytes) != 0) {
        c.fail("packed bytes differ from packing the fp32 weights");
      }
      aiayn::linear_free(pb);
    }
    aiayn::linear_free(pw);
  }
}

// One block of every kernel table of `dtype` the CPU runs, against scalar's bits.
void cross_isa(aiayn::DType dtype, const Shape& s, Rng& rng) {
  using aiayn::Isa;
  const int64_t M = s.M, N = s.N, K = s.K;
  Case c(fmt("%s kernels of every ISA give the same bits M=%lld N=%lld K=%lld",
             dtype == aiayn::DType::bf16 ? "bf16" : "int8", (long long)M, (long long)N, (long long)K));
  Vec<float> w = rng.floats(N * K), x = rng.floats(M * K, -3.0f, 3.0f), bias = rng.floats(N);
  aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), N, K, dtype);
  std::vector<aiayn::DtKernels> tables = {aiayn::dt_kernels_scalar(dtype)};
  const Isa best = aiayn::best_isa();
#if AIAYN_X86
  if (aiayn::at_least(best, Isa::avx2)) tables.push_back(aiayn::dt_kernels_avx2(dtype));
  if (aiayn::at_least(best, Isa::avx512)) tables.push_back(aiayn::dt_kernels_avx512(dtype));
  if (dtype == aiayn::DType::bf16 && aiayn::at_least(best, Isa::avx512_bf16)) {
    tables.push_back(aiayn::dt_kernels_avx512bf16(dtype));
  }
  if (dtype == aiayn::DType::int8 && aiayn::at_least(best, Isa::avx512_vnni)) {
    tables.push_back(aiayn::dt_kernels_avx512vnni(dtype));
  }
#elif AIAYN_ARM64
  if (aiayn::at_least(best, Isa::neon)) tables.push_back(aiayn::dt_kernels_neon(dtype));
  if (dtype == aiayn::DType::int8 && aiayn::at_least(best, Isa::neon_dotprod)) {
    tables.push_back(aiayn::dt_kernels_neondot(dtype));
  }
  if (aiayn::at_least(best, Isa::neon_i8mm_bf16)) {
    tables.push_back(dtype == aiayn::DType::bf16 ? aiayn::dt_kernels_neonbf16(dtype) : aiayn::dt_kernels_neoni8mm(dtype));
  }
#endif
  const int64_t groups = (K + pw->kg - 1) / pw->kg;
  std::vector<std::vector<float>> ys;
  for (const aiayn::DtKernels& k : tables) {
    const int64_t ldo = (groups * k.xbytes + 63) / 64 * 64;
    std::vector<uint8_t> xq(static_cast<size_t>(M * ldo + 64));
    uint8_t* xa = xq.data() + (64 - reinterpret_cast<uintptr_t>(xq.data()) % 64) % 64;
    std::vector<float> scale(static_cast<size_t>(M)), y(static_cast<size_t>(M * N), NAN);
    aiayn::DtBlock blk{};
    // On the pool (inline, one task): FTZ/DAZ as in linear().
    aiayn::parallel_for(1, [&](int64_t, int) {
      k.prep(x.data(), K, M, K, xa, ldo, scale.data());
      blk.x = xa;
      blk.ldx = ldo;
      blk.b = static_cast<const uint32_t*>(pw->data);
      blk.panel_stride = groups * aiayn::kNrDt;
      blk.m = M;
      blk.n = N;
      blk.kg = groups;
      blk.y = y.data();
      blk.ldy = N;
      blk.bias = dtype == aiayn::DType::bf16 ? bias.data() : nullptr;
      blk.xscale = scale.data();
      blk.wscale = pw->scale;
      blk.wsum = pw->qsum;
      blk.finish = true;
      blk.panel_outer = M <= aiayn::kSmallM;
      blk.act = dtype == aiayn::DType::bf16 ? aiayn::Activation::relu : aiayn::Activation::none;
      k.block(blk);
    });
    ys.push_back(std::move(y));
  }
  for (size_t t = 1; t < ys.size(); ++t) {
    for (int64_t i = 0; i < M * N; ++i) {
      if (std::memcmp(&ys[t][i], &ys[0][i], 4) != 0) {
        c.fail(fmt("%s: y[%lld] = %.9g, scalar %.9g", tables[t].name, (long long)i, ys[t][i], ys[0][i]));
        break;
      }
    }
  }
  aiayn::linear_free(pw);
}

}  // namespace

void test_gemm_dt() {
  Rng rng(23);
  const int64_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 19, 23, 25, 200};
  const int64_t Ns[] = {1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 257};
  const int64_t Ks[] = {1, 2, 3, 4, 5, 7, 9, 31, 33, 511, 512, 513, 1025, 2053};
  for (aiayn::DType dtype : {aiayn::DType::bf16, aiayn::DType::int8}) {
    int variant = 0;
    std::vector<Shape> shapes;
    for (int64_t N : Ns)
      for (int64_t M : Ms) shapes.push_back({M, N, 37});
    for (int64_t K : Ks)
      for (int64_t M : {1, 5, 7, 12, 13}) shapes.push_back({M, 65, K});
    for (int i = 0; i < 30; ++i) shapes.push_back({Ms[rng.below(18)], Ns[rng.below(11)], Ks[rng.below(14)]});
    run_shapes(dtype, shapes, variant, rng);
  }
  for (aiayn::DType dtype : {aiayn::DType::bf16, aiayn::DType::int8}) {
    for (const Shape& s : std::vector<Shape>{{1, 17, 1}, {3, 65, 7}, {7, 129, 64}, {13, 65, 515}, {200, 33, 130}}) {
      cross_isa(dtype, s, rng);
    }
  }
  Case c("linear_pack int8 K > kInt8MaxK");
  const int64_t K = aiayn::kInt8MaxK + 1;
  Vec<float> w(static_cast<size_t>(K), 1.0f);
  if (aiayn::PackedWeights* p = aiayn::linear_pack(w.data(), 1, K, aiayn::DType::int8)) {
    c.fail("accepted");
    aiayn::linear_free(p);
  }
}

}  // namespace kt
