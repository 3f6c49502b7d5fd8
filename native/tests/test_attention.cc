// attention (attention.h) against a double loop: prefill (Tq > 4) and decode
// (Tq <= 4, keys cut into up to 4 chunks from 2048 visible keys, split KV
// when there are fewer rows than threads), causal, per-row kv_lengths with
// empty (0) rows, position bias with and without query offsets, and three
// layouts: [B,T,H,Dh], [B,H,T,Dh] and a [B,H,Tcap,Dh] cache (Tcap > Tk).
//
// Each tensor is a buffer ending exactly at its last addressed element, and
// keys no query may see (past kv_lengths[b]) hold NaN: a kernel that reads
// them into a result gives NaN. Output stride gaps must stay untouched.
// Tolerance: a score s_j = scale q.k (+ bias) is within (Dh + 4) u scale
// sum|q k| + 4 u |bias| of exact (dot product, log2(e) folded into q by the
// SIMD kernels, bias fma); softmax moves each output by at most 2 max|ds|
// max|v| (|d p|_1 <= 2 |d s|_inf); the weighted sum and its normalisation add
// (Tk + 8) u sum_j p_j |v_j| <= (Tk + 8) u max|v|; and exp is within 8 ulp.
#include <algorithm>
#include <limits>
#include <vector>

#include "attention.h"
#include "check.h"
#include "threadpool.h"

namespace kt {
namespace {

constexpr float kGap = 12345.0f;

enum Layout { bthd, bhtd, cache };

struct View {
  Vec<float> data;
  aiayn::AttentionStrides s;
  float* at(int64_t b, int64_t t, int64_t h) { return data.data() + b * s.batch + t * s.time + h * s.head; }
};

// A [B,T,H,Dh] tensor in `layout`; `pad` widens the row stride (output gaps).
View make_view(Layout layout, int64_t B, int64_t T, int64_t H, int64_t Dh, int64_t pad, float fill) {
  View v;
  const int64_t row = Dh + pad;
  if (layout == bthd) v.s = {T * H * row, H * row, row};
  else if (layout == bhtd) v.s = {H * T * row, row, T * row};
  else v.s = {H * (T + 3) * row, row, (T + 3) * row};  // cache: capacity T + 3
  // One past the last addressed element (of b, t, h = B-1, T-1, H-1).
  const int64_t end = (B - 1) * v.s.batch + (T - 1) * v.s.time + (H - 1) * v.s.head + Dh;
  v.data.assign(static_cast<size_t>(end), fill);
  return v;
}

struct Config {
  int64_t B, Tq, Tk, H, Dh;
  Layout layout;
  bool causal;
  int lengths;  // 0 none; 1 per-row lengths incl. 0 and Tk; 2 all rows empty
  int bias;     // 0 none; 1 position bias; 2 with query offsets
};

void run(Config cf, int threads, Rng& rng) {
  if (cf.bias == 1 && cf.Tq > cf.Tk) cf.bias = 2;
  const int64_t B = cf.B, Tq = cf.Tq, Tk = cf.Tk, H = cf.H, Dh = cf.Dh;
  static const char* layouts[] = {"bthd", "bhtd", "cache"};
  Case c(fmt("attention B=%lld Tq=%lld Tk=%lld H=%lld Dh=%lld %s causal=%d lengths=%d bias=%d threads=%d",
             (long long)B, (long long)Tq, (long long)Tk, (long long)H, (long long)Dh,
             layouts[cf.layout], cf.causal, cf.lengths, cf.bias, threads));
  Vec<int32_t> lengths;
  if (cf.lengths) {
    lengths.resize(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t pick = cf.lengths == 2 ? 0 : b % 4 == 0 ? 0 : b % 4 == 1 ? Tk : 1 + rng.below(Tk);
      lengths[b] = static_cast<int32_t>(pick);
    }
  }
  auto length = [&](int64_t b) { return cf.lengths ? lengths[b] : Tk; };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  View q = make_view(cf.layout, B, Tq, H, Dh, 0, 0.0f);
  View k = make_view(cf.layout, B, Tk, H, Dh, 0, nan);
  View v = make_view(cf.layout, B, Tk, H, Dh, 0, nan);
  View out = make_view(cf.layout, B, Tq, H, Dh, cf.layout == bthd ? 2 : 0, kGap);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t d = 0; d < Dh; ++d) q.at(b, i, h)[d] = rng.uniform(-2, 2);
      for (int64_t j = 0; j < length(b); ++j)
        for (int64_t d = 0; d < Dh; ++d) {
          k.at(b, j, h)[d] = rng.uniform(-2, 2);
          v.at(b, j, h)[d] = rng.uniform(-1, 1);
        }
    }
  // Position bias: L = max(Tk, Tq) + 2 positions; query positions in [0, L)
  // (attention.h: the caller checks it), so without offsets only Tq <= Tk.
  const int64_t L = std::max(Tk, Tq) + 2;
  Vec<float> bias = cf.bias ? rng.floats(H * (2 * L - 1), -3, 3) : Vec<float>();
  Vec<int32_t> qoff;
  if (cf.bias == 2) {
    qoff.resize(static_cast<size_t>(B));
    for (auto& o : qoff) o = static_cast<int32_t>(rng.below(L - Tq + 1));
  }

  aiayn::AttentionArgs a;
  a.q = q.data.data();
  a.k = k.data.data();
  a.v = v.data.data();
  a.out = out.data.data();
  a.q_strides = q.s;
  a.k_strides = k.s;
  a.v_strides = v.s;
  a.out_strides = out.s;
  a.B = B, a.Tq = Tq, a.Tk = Tk, a.H = H, a.Dh = Dh;
  a.kv_lengths = cf.lengths ? lengths.data() : nullptr;
  a.causal = cf.causal;
  a.scale = static_cast<float>(1 / std::sqrt(static_cast<double>(Dh)));
  a.position_bias = cf.bias ? bias.data() : nullptr;
  a.bias_positions = cf.bias ? L : 0;
  a.query_offsets = cf.bias == 2 ? qoff.data() : nullptr;
  aiayn::set_threads(threads);
  aiayn::attention(a);

  std::vector<double> s(static_cast<size_t>(Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t h = 0; h < H; ++h) {
        int64_t end = length(b);
        if (cf.causal) end = std::min(end, i + (Tk - Tq) + 1);
        const float* o = out.at(b, i, h);
        const int64_t base = o - out.data.data();
        if (cf.layout == bthd)
          for (int64_t d = Dh; d < Dh + 2 && base + d < (int64_t)out.data.size(); ++d)
            c.close("out gap", base + d, o[d], kGap, 0);
        if (end <= 0) {  // sees no key: zeros
          for (int64_t d = 0; d < Dh; ++d) c.close("out", base + d, o[d], 0.0, 0);
          continue;
        }
        const int64_t p = cf.bias == 2 ? qoff[b] + i : i + (Tk - Tq);
        double mx = -INFINITY, ds = 0;
        for (int64_t j = 0; j < end; ++j) {
          double dot = 0, mag = 0;
          for (int64_t d = 0; d < Dh; ++d) {
            const double t = static_cast<double>(q.at(b, i, h)[d]) * k.at(b, j, h)[d];
            dot += t;
            mag += std::fabs(t);
          }
          const double pb = cf.bias ? bias[h * (2 * L - 1) + (j - p) + L - 1] : 0.0;
          s[j] = a.scale * dot + pb;
          ds = std::max(ds, (Dh + 4) * kU * a.scale * mag + 4 * kU * std::fabs(pb));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < end; ++j) sum += std::exp(s[j] - mx);
        for (int64_t d = 0; d < Dh; ++d) {
          double want = 0, vmax = 0;
          for (int64_t j = 0; j < end; ++j) {
            want += std::exp(s[j] - mx) / sum * v.at(b, j, h)[d];
            vmax = std::max(vmax, static_cast<double>(std::fabs(v.at(b, j, h)[d])));
          }
          const double tol = (2 * ds + (end + 8) * kU + 8 * kU) * std::max(vmax, 1e-30);
          c.close("out", base + d, o[d], want, 2 * tol);
        }
      }
}

}  // namespace

void test_attention() {
  Rng rng(17);
  std::vector<Config> cases;
  const int64_t Dhs[] = {1, 3, 8, 15, 16, 17, 32, 33, 64, 65, 128};
  const int64_t Tqs[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129};
  const int64_t Tks[] = {1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200};
  // Every head size with every query count (prefill blocks 16/32/64 and the
  // decode path), key counts rotating, every mask and layout in turn.
  int n = 0;
  for (int64_t Dh : Dhs)
    for (int64_t Tq : Tqs) {
      const int64_t Tk = Tks[n % 12];
      cases.push_back({1 + n % 3, Tq, Tk, 1 + n % 2, Dh, static_cast<Layout>(n % 3), n % 2 == 0,
                       n % 5 == 4 ? 2 : n % 3 == 1, n % 4 == 3 ? 2 : n % 4 == 1});
      ++n;
    }
  // Every key count with decode and prefill, causal, per-row lengths (B = 5:
  // rows of 0, Tk and random lengths).
  for (int64_t Tk : Tks)
    for (int64_t Tq : {1, 4, 5, 65}) {
      cases.push_back({5, Tq, Tk, 2, 33, static_cast<Layout>(n % 3), n % 2 == 1, 1, n % 3});
      ++n;
    }
  // Causal with more queries than keys (the first queries see nothing).
  cases.push_back({2, 40, 17, 2, 16, bthd, true, 0, 0});
  cases.push_back({2, 3, 2, 2, 16, bhtd, true, 0, 1});
  // Long decode rows: 2, 3 and 4 chunks (from 2048 visible keys); B * H = 1
  // row is split KV with 3 threads, B * H = 4 rows are not.
  for (int64_t Tk : {2047, 2048, 3073, 4096, 5000})
    for (int64_t B : {1, 2}) {
      cases.push_back({B, 1, Tk, B, 64, static_cast<Layout>(n % 3), n % 2 == 0, B == 2, n % 3});
      ++n;
    }
  cases.push_back({3, 2, 4100, 1, 17, cache, true, 1, 0});
  // Common head sizes over many key blocks, lengths ending inside blocks.
  for (int64_t Dh : {80, 96, 256}) {
    cases.push_back({3, 70, 700, 2, Dh, static_cast<Layout>(n % 3), n % 2 == 0, 1, n % 3});
    cases.push_back({3, 3, 700, 2, Dh, static_cast<Layout>(n % 3), n % 2 == 1, 1, n % 3});
    ++n;
  }
  // Split KV (2 rows < 3 threads) with an empty row next to a full one, and
  // with two causal query rows of one batch row.
  cases.push_back({2, 1, 4500, 1, 64, bhtd, false, 1, 0});
  cases.push_back({1, 2, 5000, 1, 32, cache, true, 0, 2});
  for (const Config& cf : cases)
    for (int threads : {1, 3}) run(cf, threads, rng);
}

}  // namespace kt
