// linear_pack / linear_unpack / linear (gemm.h) against a double loop.
//
// Shapes straddle every tile and block edge: N around the panel widths (8, 16,
// 64) and panel groups (64, 128 columns), M around the row tile (6), the
// decode limit (12) and the row block (192), K around the depth block (512)
// and its splits, plus one product whose packed weights exceed 32 MiB (the
// streamed decode tiles). Each case rotates through bias, every activation,
// residual (none, separate, in place) and padded row strides, whose gaps must
// stay untouched.
// Tolerance: y = act(sum_k x w + b) + r in fp32 against double: the dot
// product is within (K + 2) u (S + |b|), S = sum_k |x w|, of the exact value
// (one more rounding per depth block, at most 3 blocks here, covered by the
// factor 2 that also covers act's slope <= 1.13); the activation is within 2 ulp of
// max(1, |act|) (test/activations.test.ts measures 1); the residual add is
// one more rounding.
#include <algorithm>
#include <vector>

#include "check.h"
#include "gemm.h"
#include "threadpool.h"

namespace kt {
namespace {

constexpr float kGap = 12345.0f;  // stride gaps of y: must stay as they are

struct Shape {
  int64_t M, N, K;
};

// One linear call and its check; `variant` picks bias, activation, residual, strides.
void run_case(const aiayn::PackedWeights& pw, const Vec<float>& w, const Shape& s,
              int variant, int threads, Rng& rng) {
  const int64_t M = s.M, N = s.N, K = s.K;
  const int act = variant % kActivations;
  const bool has_bias = (variant / 5) % 2 == 0;
  int residual_mode = (variant / 10) % 3;  // 0 none, 1 separate, 2 in place
  if (residual_mode == 2 && act != 0) residual_mode = 1;  // in place only without activation
  const int64_t ldx = K + ((variant / 3) % 2 ? 3 : 0);
  const int64_t ldy = N + ((variant / 7) % 2 ? 5 : 0);
  Case c(fmt("linear M=%lld N=%lld K=%lld ldx=%lld ldy=%lld bias=%d act=%s residual=%s threads=%d",
             (long long)M, (long long)N, (long long)K, (long long)ldx, (long long)ldy, has_bias,
             activation_name(act), residual_mode == 0 ? "none" : residual_mode == 1 ? "separate" : "in-place",
             threads));
  // Exactly the elements the strides address: the last row ends the buffer.
  Vec<float> x = rng.floats(M > 0 ? (M - 1) * ldx + K : 0);
  Vec<float> bias = has_bias ? rng.floats(N) : Vec<float>();
  const int64_t ysize = M > 0 ? (M - 1) * ldy + N : 0;
  Vec<float> residual = residual_mode ? rng.floats(ysize) : Vec<float>();
  Vec<float> y(static_cast<size_t>(ysize), kGap);
  if (residual_mode == 2) y = residual;
  for (int64_t m = 0; m + 1 < M; ++m)
    for (int64_t n = N; n < ldy; ++n) y[m * ldy + n] = kGap;

  aiayn::set_threads(threads);
  aiayn::linear(x.data(), M, ldx, pw, has_bias ? bias.data() : nullptr,
                static_cast<aiayn::Activation>(act),
                residual_mode == 1 ? residual.data() : residual_mode == 2 ? y.data() : nullptr,
                y.data(), ldy);

  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = static_cast<double>(x[m * ldx + k]) * w[n * K + k];
        acc += p;
        mag += std::fabs(p);
      }
      const double b = has_bias ? bias[n] : 0.0;
      const double a = activate_ref(acc + b, act);
      const double r = residual_mode ? residual[m * ldy + n] : 0.0;
      const double tol = 2 * (K + 2) * kU * (mag + std::fabs(b)) +
                         4 * kU * std::max(1.0, std::fabs(a)) + 2 * kU * std::fabs(a + r);
      c.close("y", m * ldy + n, y[m * ldy + n], a + r, tol);
    }
    if (m + 1 < M)
      for (int64_t n = N; n < ldy; ++n) c.close("y gap", m * ldy + n, y[m * ldy + n], kGap, 0);
  }
}

void run_shapes(const std::vector<Shape>& shapes, int& variant, Rng& rng) {
  for (const Shape& s : shapes) {
    Vec<float> w = rng.floats(s.N * s.K);
    aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), s.N, s.K);
    {
      Case c(fmt("linear_pack/unpack N=%lld K=%lld", (long long)s.N, (long long)s.K));
      if (pw == nullptr) {
        c.fail("linear_pack returned null");
        continue;
      }
      Vec<float> back(w.size());
      aiayn::linear_unpack(*pw, back.data());
      for (size_t i = 0; i < w.size(); ++i) c.close("w", static_cast<int64_t>(i), back[i], w[i], 0);
    }
    for (int threads : {1, 3}) run_case(*pw, w, s, variant, threads, rng);
    ++variant;
    aiayn::linear_free(pw);
  }
}

}  // namespace

void test_gemm() {
  Rng rng(11);
  const int64_t Ns[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 193, 257};
  const int64_t Ms[] = {0, 1, 2, 3, 5, 6, 7, 8, 11, 12, 13, 17, 23, 191, 193, 200};
  const int64_t Ks[] = {1, 2, 3, 7, 8, 9, 16, 17, 63, 64, 65, 511, 512, 513, 1024, 1031};
  int variant = 0;
  std::vector<Shape> shapes;
  // Every column tail with every row tail (one pack per shape: packing is per N, K).
  for (int64_t N : Ns)
    for (int64_t M : Ms) shapes.push_back({M, N, 33});
  // Every depth edge (block splits at 512) with row tiles and decode tiles.
  for (int64_t K : Ks)
    for (int64_t M : {1, 6, 7, 12, 13, 31}) shapes.push_back({M, 65, K});
  // Random corners of the three sets.
  for (int i = 0; i < 40; ++i) {
    shapes.push_back({Ms[rng.below(16)], Ns[rng.below(19)], Ks[rng.below(16)]});
  }
  run_shapes(shapes, variant, rng);

  // Streamed weights (>= 32 MiB packed): decode tiles of 1, 7, 8 and 12 rows.
  const Shape big{0, 2049, 4096};
  Vec<float> w = rng.floats(big.N * big.K);
  aiayn::PackedWeights* pw = aiayn::linear_pack(w.data(), big.N, big.K);
  if (pw == nullptr) {
    Case c("linear_pack N=2049 K=4096");
    c.fail("linear_pack returned null");
    return;
  }
  for (int64_t M : {1, 7, 8, 12}) {
    for (int threads : {1, 3}) run_case(*pw, w, {M, big.N, big.K}, variant, threads, rng);
    ++variant;
  }
  aiayn::linear_free(pw);
}

}  // namespace kt
