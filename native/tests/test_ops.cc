// layernorm, rmsnorm, glu, softmax, log_softmax, argmax, embedding (ops.h; its table in fp32, bf16 or int8)
// against double loops.
//
// Row lengths straddle the vector widths (8, 16), their unrolls (32, 64) and
// the scalar sum block (128); row counts 0, 1, odd, and enough rows times
// columns for the pool to split rows. Tolerances (u = 2^-24):
//   layernorm/rmsnorm  the fp32 mean and sum of squares are blocked sums,
//                      within (128 + D/128 + 8) u of exact relative to the
//                      sum of magnitudes; that moves y by the same relative
//                      amount of rstd |z| |gamma| (+ |beta|); times 4 for the
//                      roundings of the subtract, scale and fma
//   glu                one rounding of the product plus the activation's
//                      2 ulp of max(1, |act|), scaled by |b|
//   softmax            the sum: (128 + N/128 + 8) u relative; exp: its ulps,
//                      applied to the fp32 x - max (rounded: |x - max| u)
//   log_softmax        (x - max) - lse: 2 roundings of |y| plus the lse's
//                      (128 + N/128 + 8) u
//   argmax, embedding  exact (embedding: two roundings, e * scale then + p)
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "check.h"
#include "ops.h"
#include "threadpool.h"

namespace kt {
namespace {

const int64_t kCols[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 257, 1000, 4099};
const int64_t kRows[] = {0, 1, 2, 3, 7, 64};

// Large rows only with few of them, so a case stays fast under sanitizers.
bool small_enough(int64_t rows, int64_t cols) { return rows * cols <= 70000; }

double sum_tol(int64_t n) { return (128 + n / 128 + 8) * kU; }

void check_norm(bool rms, int64_t rows, int64_t D, bool with_residual, bool in_place, int threads,
                Rng& rng) {
  Case c(fmt("%s rows=%lld D=%lld residual=%d in_place=%d threads=%d", rms ? "rmsnorm" : "layernorm",
             (long long)rows, (long long)D, with_residual, in_place, threads));
  Vec<float> x = rng.floats(rows * D, -3, 5), res = rng.floats(with_residual ? rows * D : 0);
  Vec<float> gamma = rng.floats(D, 0.5f, 2.0f), beta = rng.floats(D);
  Vec<float> y(static_cast<size_t>(rows * D));
  Vec<float> x0 = x;
  const float eps = 1e-5f;
  float* out = in_place ? x.data() : y.data();
  aiayn::set_threads(threads);
  if (rms) {
    aiayn::rmsnorm(x.data(), with_residual ? res.data() : nullptr, gamma.data(), eps, rows, D, out);
  } else {
    aiayn::layernorm(x.data(), with_residual ? res.data() : nullptr, gamma.data(), beta.data(), eps,
                     rows, D, out);
  }
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> z(static_cast<size_t>(D));
    double mean = 0, ss = 0, zmax = 0;
    for (int64_t i = 0; i < D; ++i) {
      z[i] = static_cast<double>(x0[r * D + i]) + (with_residual ? res[r * D + i] : 0.0f);
      mean += z[i];
    }
    mean = rms ? 0 : mean / D;
    for (int64_t i = 0; i < D; ++i) {
      ss += (z[i] - mean) * (z[i] - mean);
      zmax = std::max(zmax, std::fabs(z[i]));
    }
    const double rstd = 1 / std::sqrt(ss / D + eps);
    for (int64_t i = 0; i < D; ++i) {
      const double want = (z[i] - mean) * rstd * gamma[i] + (rms ? 0.0 : beta[i]);
      const double tol = 4 * sum_tol(D) * (rstd * zmax * gamma[i] + (rms ? 0 : std::fabs(beta[i])));
      c.close("y", r * D + i, out[r * D + i], want, tol);
    }
  }
}

void check_glu(int64_t rows, int64_t F, int act, int threads, Rng& rng) {
  Case c(fmt("glu rows=%lld F=%lld act=%s threads=%d", (long long)rows, (long long)F,
             activation_name(act), threads));
  Vec<float> x = rng.floats(rows * 2 * F, -4, 4), y(static_cast<size_t>(rows * F));
  aiayn::set_threads(threads);
  aiayn::glu(x.data(), rows, F, static_cast<aiayn::Activation>(act), y.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t f = 0; f < F; ++f) {
      const double a = activate_ref(x[r * 2 * F + f], act), b = x[r * 2 * F + F + f];
      const double tol = (4 * kU * std::max(1.0, std::fabs(a)) + kU * std::fabs(a)) * std::fabs(b);
      c.close("y", r * F + f, y[r * F + f], a * b, tol);
    }
  }
}

// Row r of a softmax input: random, with rows of all -inf and a -inf sprinkled.
Vec<float> softmax_input(int64_t rows, int64_t N, Rng& rng) {
  Vec<float> x = rng.floats(rows * N, -20, 20);
  for (int64_t r = 0; r < rows; ++r) {
    if (r % 3 == 2) std::fill(x.begin() + r * N, x.begin() + (r + 1) * N, -INFINITY);
    else if (N > 1) x[r * N + rng.below(N)] = -INFINITY;
  }
  return x;
}

void check_softmax(bool log, int64_t rows, int64_t N, bool in_place, int threads, Rng& rng) {
  Case c(fmt("%s rows=%lld N=%lld in_place=%d threads=%d", log ? "log_softmax" : "softmax",
             (long long)rows, (long long)N, in_place, threads));
  Vec<float> x = softmax_input(rows, N, rng), x0 = x, y(static_cast<size_t>(rows * N));
  float* out = in_place ? x.data() : y.data();
  aiayn::set_threads(threads);
  if (log) aiayn::log_softmax(x.data(), rows, N, out);
  else aiayn::softmax(x.data(), rows, N, out);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x0.data() + r * N;
    const float mx = *std::max_element(xr, xr + N);
    if (mx == -INFINITY) {  // no finite entry: zeros, or -inf for log_softmax
      for (int64_t i = 0; i < N; ++i) c.close("y", r * N + i, out[r * N + i], log ? -INFINITY : 0.0, 0);
      continue;
    }
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += std::exp(static_cast<double>(xr[i]) - mx);
    const double lse = std::log(sum);
    for (int64_t i = 0; i < N; ++i) {
      const double d = static_cast<double>(xr[i]) - mx;
      if (log) {
        const double want = d - lse;
        c.close("y", r * N + i, out[r * N + i], want,
                4 * kU * std::fabs(want) + 2 * kU * std::fabs(d) + sum_tol(N) + 4 * kU);
      } else {
        const double want = std::exp(d - lse);
        c.close("y", r * N + i, out[r * N + i], want,
                want * (sum_tol(N) + 16 * kU + 2 * kU * std::fabs(d)));
      }
    }
  }
}

void check_argmax(int64_t rows, int64_t N, int threads, Rng& rng) {
  Case c(fmt("argmax rows=%lld N=%lld threads=%d", (long long)rows, (long long)N, threads));
  // Few distinct values, so ties are common (the first index wins); a NaN in
  // every fifth row wins over everything.
  Vec<float> x(static_cast<size_t>(rows * N));
  for (auto& v : x) v = static_cast<float>(rng.below(7)) - 3.0f;
  for (int64_t r = 0; r < rows; ++r) {
    if (r % 5 == 4) x[r * N + rng.below(N)] = std::numeric_limits<float>::quiet_NaN();
    if (r % 7 == 3) x[r * N + N - 1] = 100.0f;  // the last element (a tail lane)
  }
  Vec<int32_t> out(static_cast<size_t>(rows), -1);
  aiayn::set_threads(threads);
  aiayn::argmax(x.data(), rows, N, out.data());
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t i = 1; i < N; ++i) {
      const float v = x[r * N + i], b = x[r * N + best];
      if (std::isnan(b)) break;
      if (std::isnan(v) || v > b) best = i;
    }
    c.equal("argmax", r, out[r], best);
  }
}

// mode 0: no positions; 1: pos_offset; 2: pos_offsets; 3: pos_ids (some negative).
// The table in `dtype` (ops.h EmbeddingTable): fp32, bf16 bits (any bf16
// value: the top half of a random float), or int8 values with a scale per row,
// whose value is fp32(q * s).
void check_embedding(int64_t B, int64_t T, int64_t D, int mode, aiayn::DType dtype, int threads, Rng& rng) {
  Case c(fmt("embedding B=%lld T=%lld D=%lld mode=%s dtype=%d threads=%d", (long long)B, (long long)T,
             (long long)D, (const char*[]){"none", "offset", "offsets", "ids"}[mode], static_cast<int>(dtype), threads));
  const int64_t V = 37, P = T + 5;
  Vec<int32_t> ids(static_cast<size_t>(B * T)), offsets, pos_ids;
  for (auto& id : ids) id = static_cast<int32_t>(rng.below(V));
  ids.empty() || (ids.back() = V - 1);  // the table's last row
  Vec<float> table = rng.floats(V * D), positions = rng.floats(mode ? P * D : 0);
  const int64_t offset = mode == 1 ? 5 : 0;
  if (mode == 2) {
    offsets.resize(static_cast<size_t>(B));
    for (auto& o : offsets) o = static_cast<int32_t>(rng.below(P - T + 1));
  }
  if (mode == 3) {
    pos_ids.resize(static_cast<size_t>(B * T));
    for (auto& p : pos_ids) p = static_cast<int32_t>(rng.below(P + 2)) - 2;  // -2, -1: none
    pos_ids.empty() || (pos_ids.back() = static_cast<int32_t>(P - 1));
  }
  Vec<uint16_t> bits(dtype == aiayn::DType::bf16 ? table.size() : 0);
  Vec<int8_t> q(dtype == aiayn::DType::int8 ? table.size() : 0);
  Vec<float> row_scale(dtype == aiayn::DType::int8 ? static_cast<size_t>(V) : 0);
  for (size_t i = 0; i < bits.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &table[i], 4);
    bits[i] = static_cast<uint16_t>(u >> 16);
    u = static_cast<uint32_t>(bits[i]) << 16;
    std::memcpy(&table[i], &u, 4);  // the value the kernel reads
  }
  for (auto& s : row_scale) s = 0.01f + 0.02f * static_cast<float>(rng.below(100)) / 100.0f;
  for (size_t i = 0; i < q.size(); ++i) {
    q[i] = static_cast<int8_t>(static_cast<int>(rng.below(255)) - 127);
    table[i] = static_cast<float>(q[i]) * row_scale[i / static_cast<size_t>(D)];
  }
  aiayn::EmbeddingTable view{dtype, table.data(), nullptr};
  if (dtype == aiayn::DType::bf16) view.data = bits.data();
  if (dtype == aiayn::DType::int8) view = {dtype, q.data(), row_scale.data()};
  const float scale = 1.7f;
  Vec<float> y(static_cast<size_t>(B * T * D));
  aiayn::set_threads(threads);
  aiayn::embedding(ids.data(), B, T, view, V, D, scale, mode ? positions.data() : nullptr,
                   offset, mode == 2 ? offsets.data() : nullptr, mode == 3 ? pos_ids.data() : nullptr,
                   y.data());
  for (int64_t r = 0; r < B * T; ++r) {
    int64_t p = -1;
    if (mode == 1) p = offset + r % T;
    if (mode == 2) p = offsets[r / T] + r % T;
    if (mode == 3) p = pos_ids[r];
    for (int64_t d = 0; d < D; ++d) {
      const double e = static_cast<double>(table[ids[r] * D + d]) * scale;
      const double pv = p >= 0 ? positions[p * D + d] : 0.0;
      c.close("y", r * D + d, y[r * D + d], e + pv, 2 * kU * (std::fabs(e) + std::fabs(pv)));
    }
  }
}

}  // namespace

void test_ops() {
  Rng rng(13);
  for (int threads : {1, 3}) {
    for (int64_t D : kCols) {
      for (int64_t rows : kRows) {
        if (!small_enough(rows, D)) continue;
        const int v = static_cast<int>(rows + D);
        check_norm(false, rows, D, v % 2 == 0, v % 3 == 0, threads, rng);
        check_norm(true, rows, D, v % 2 == 1, v % 3 == 1, threads, rng);
        check_glu(rows, D, v % kActivations, threads, rng);
        check_softmax(false, rows, D, v % 2 == 0, threads, rng);
        check_softmax(true, rows, D, v % 2 == 1, threads, rng);
        check_argmax(rows, D, threads, rng);
        check_embedding(rows == 0 ? 0 : 2, rows == 0 ? 3 : (rows + 1) / 2, D, v % 4,
                        static_cast<aiayn::DType>(v % (aiayn::kDTypeMax + 1)), threads, rng);
      }
    }
    // Every activation of glu at vector tails; every embedding mode at a tail.
    for (int act = 0; act < kActivations; ++act) check_glu(3, 17, act, threads, rng);
    for (int mode = 0; mode < 4; ++mode) {
      for (int dt = 0; dt <= aiayn::kDTypeMax; ++dt) check_embedding(3, 5, 33, mode, static_cast<aiayn::DType>(dt), threads, rng);
    }
  }
}

}  // namespace kt
