// decoder_step (decoder_step.h) against a decoder step written out in double
// loops: tiny models in every configuration the families use (post-/pre-LN,
// LayerNorm/RMSNorm, plain or gated feed-forward, each activation, absolute
// positions by offset or by id, relative position bias, embedding and final
// norms or none), 1 and 3 rows at one position or at different ones, each
// over a cache already holding its earlier positions, with fp32, bf16 and
// int8 weights (the reference multiplies the unpacked weights, so only the
// per-call rounding of activations differs). Checked: the logits, and the
// keys and values written at each row's position (and nothing else of the
// cache). Tolerances, of the largest |value|: fp32 2^-12 (the step chains ~10
// fp32 ops per layer, each within a few hundred u of its inputs' magnitudes,
// see the kernels' own tests); bf16 2^-5 and int8 2^-3 (activations rounded
// to 8 significant bits, or to 1/254 of their row's largest |value|, at every
// linear layer of 2 layers of 12 features: measured up to 0.013 and 0.031).
// All below the O(1) error of a wrong index, row or slot.
#include <algorithm>
#include <vector>

#include "check.h"
#include "decoder_step.h"
#include "gemm.h"
#include "threadpool.h"

namespace kt {
namespace {

struct RefLinear {
  int64_t N = 0, K = 0;
  Vec<float> w, b;  // [N, K], [N] or empty
  aiayn::PackedWeights* packed = nullptr;
};

struct RefNorm {
  Vec<float> gamma, beta;  // beta empty: RMSNorm; gamma empty: none
};

struct RefLayer {
  RefLinear self_q, self_kv, self_out, cross_q, cross_out, ff1, ff2;
  RefNorm norm1, norm2, norm3;
};

struct Config {
  aiayn::DType dtype;
  bool norm_first, rms, gated, bias, positions, by_id, relative, embedding_norm, final_norm;
  int act;
  int64_t R;
  bool one_position;
};

constexpr int64_t D = 12, H = 3, Dh = 4, A = H * Dh, F = 10, V = 11, P = 9, L = 9, kLayers = 2;
constexpr int64_t Tcap = 8, Scap = 5;
constexpr float kEps = 1e-5f;

// Packed as `dtype`; w holds the values the kernel multiplies (unpacked).
RefLinear make_linear(Rng& rng, int64_t N, int64_t K, bool bias, aiayn::DType dtype) {
  RefLinear l;
  l.N = N;
  l.K = K;
  l.w = rng.floats(N * K, -0.5f, 0.5f);
  if (bias) l.b = rng.floats(N, -0.2f, 0.2f);
  l.packed = aiayn::linear_pack(l.w.data(), N, K, dtype);
  aiayn::linear_unpack(*l.packed, l.w.data());
  return l;
}

RefNorm make_norm(Rng& rng, bool rms) {
  RefNorm n;
  n.gamma = rng.floats(D, 0.5f, 1.5f);
  if (!rms) n.beta = rng.floats(D, -0.3f, 0.3f);
  return n;
}

std::vector<double> linear_ref(const RefLinear& l, const std::vector<double>& x, int act) {
  std::vector<double> y(static_cast<size_t>(l.N));
  for (int64_t n = 0; n < l.N; ++n) {
    double s = l.b.empty() ? 0.0 : l.b[n];
    for (int64_t k = 0; k < l.K; ++k) s += x[k] * l.w[n * l.K + k];
    y[n] = activate_ref(s, act);
  }
  return y;
}

std::vector<double> norm_ref(const RefNorm& p, const std::vector<double>& z) {
  double mean = 0, ss = 0;
  if (!p.beta.empty()) {
    for (const double v : z) mean += v;
    mean /= D;
  }
  for (const double v : z) ss += (v - mean) * (v - mean);
  const double rstd = 1 / std::sqrt(ss / D + kEps);
  std::vector<double> y(static_cast<size_t>(D));
  for (int64_t i = 0; i < D; ++i) y[i] = (z[i] - mean) * rstd * p.gamma[i] + (p.beta.empty() ? 0.0 : p.beta[i]);
  return y;
}

std::vector<double> add(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> y(a.size());
  for (size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
  return y;
}

// Attention of q [A] over n positions of kv (position j at kv + j * 2A: keys, then values).
std::vector<double> attend_ref(const std::vector<double>& q, const std::vector<double>& kv, int64_t n, double scale,
                               const float* bias, int64_t p) {
  std::vector<double> out(static_cast<size_t>(A), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<double> s(static_cast<size_t>(n));
    double m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < Dh; ++d) dot += q[h * Dh + d] * kv[j * 2 * A + h * Dh + d];
      s[j] = scale * dot + (bias ? bias[h * (2 * L - 1) + (j - p) + L - 1] : 0.0);
      m = std::max(m, s[j]);
    }
    double sum = 0;
    for (auto& v : s) sum += (v = std::exp(v - m));
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t d = 0; d < Dh; ++d) out[h * Dh + d] += s[j] / sum * kv[j * 2 * A + A + h * Dh + d];
    }
  }
  return out;
}

void check_step(const Config& cfg, int threads, Rng& rng) {
  Case c(fmt("decoder_step %s %s %s %s act=%s bias=%d positions=%d by_id=%d relative=%d norms=%d%d R=%lld %s threads=%d",
             cfg.dtype == aiayn::DType::fp32 ? "fp32" : cfg.dtype == aiayn::DType::bf16 ? "bf16" : "int8",
             cfg.norm_first ? "pre-LN" : "post-LN", cfg.rms ? "rmsnorm" : "layernorm", cfg.gated ? "gated" : "plain",
             activation_name(cfg.act), cfg.bias, cfg.positions, cfg.by_id, cfg.relative, cfg.embedding_norm,
             cfg.final_norm, static_cast<long long>(cfg.R), cfg.one_position ? "one position" : "positions apart",
             threads));
  const int64_t R = cfg.R;
  const double tol = cfg.dtype == aiayn::DType::fp32 ? 1.0 / 4096 : cfg.dtype == aiayn::DType::bf16 ? 1.0 / 32 : 1.0 / 8;
  const auto make_linear = [&](Rng& g, int64_t N, int64_t K, bool b) { return kt::make_linear(g, N, K, b, cfg.dtype); };
  std::vector<RefLayer> layers(kLayers);
  for (auto& l : layers) {
    l.self_q = make_linear(rng, A, D, cfg.bias);
    l.self_kv = make_linear(rng, 2 * A, D, cfg.bias);
    l.self_out = make_linear(rng, D, A, cfg.bias);
    l.cross_q = make_linear(rng, A, D, cfg.bias);
    l.cross_out = make_linear(rng, D, A, cfg.bias);
    l.ff1 = make_linear(rng, cfg.gated ? 2 * F : F, D, cfg.bias);
    l.ff2 = make_linear(rng, D, F, cfg.bias);
    l.norm1 = make_norm(rng, cfg.rms);
    l.norm2 = make_norm(rng, cfg.rms);
    l.norm3 = make_norm(rng, cfg.rms);
  }
  RefLinear generator = make_linear(rng, V, D, cfg.bias);
  const Vec<float> embedding = rng.floats(V * D), positions = rng.floats(P * D), bias = rng.floats(H * (2 * L - 1));
  const RefNorm embedding_norm = make_norm(rng, cfg.rms), final_norm = make_norm(rng, cfg.rms);

  std::vector<aiayn::DecoderLayerParams> params(kLayers);
  for (int64_t l = 0; l < kLayers; ++l) {
    const RefLayer& s = layers[l];
    const auto lp = [](const RefLinear& x) { return aiayn::LinearParams{x.packed, x.b.empty() ? nullptr : x.b.data()}; };
    const auto np = [](const RefNorm& n) { return aiayn::NormParams{n.gamma.data(), n.beta.empty() ? nullptr : n.beta.data()}; };
    params[l] = {lp(s.self_q), lp(s.self_kv), lp(s.self_out), lp(s.cross_q), lp(s.cross_out), lp(s.ff1), lp(s.ff2),
                 np(s.norm1), np(s.norm2), np(s.norm3)};
  }
  aiayn::DecoderStepModel m;
  m.D = D;
  m.H = H;
  m.Dh = Dh;
  m.F = F;
  m.V = V;
  m.norm_first = cfg.norm_first;
  m.gated = cfg.gated;
  m.act = static_cast<aiayn::Activation>(cfg.act);
  m.eps = kEps;
  m.attention_scale = 0.5f;
  m.embedding = {aiayn::DType::fp32, embedding.data(), nullptr};
  m.embedding_scale = 1.5f;
  if (cfg.positions) {
    m.positions = positions.data();
    m.P = P;
  }
  if (cfg.relative) {
    m.position_bias = bias.data();
    m.L = L;
  }
  if (cfg.embedding_norm) m.embedding_norm = {embedding_norm.gamma.data(), cfg.rms ? nullptr : embedding_norm.beta.data()};
  if (cfg.final_norm) m.final_norm = {final_norm.gamma.data(), cfg.rms ? nullptr : final_norm.beta.data()};
  m.generator = {generator.packed, generator.b.empty() ? nullptr : generator.b.data()};
  m.layers = params.data();
  m.n_layers = kLayers;

  Vec<int32_t> tokens(static_cast<size_t>(R)), pos(static_cast<size_t>(R)), ids(static_cast<size_t>(R)),
      src_lengths(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) {
    tokens[r] = static_cast<int32_t>(rng.below(V));
    pos[r] = static_cast<int32_t>(cfg.one_position ? 5 : (r * 3 + 2) % (Tcap - 1));
    ids[r] = r == 1 ? -1 : static_cast<int32_t>(rng.below(P));
    src_lengths[r] = static_cast<int32_t>(1 + rng.below(Scap));
  }
  std::vector<Vec<float>> self(kLayers), self0(kLayers), cross(kLayers);
  std::vector<aiayn::DecoderLayerCache> caches(kLayers);
  for (int64_t l = 0; l < kLayers; ++l) {
    self[l] = rng.floats(R * Tcap * 2 * A);
    self0[l] = self[l];
    cross[l] = rng.floats(R * Scap * 2 * A);
    caches[l] = {self[l].data(), cross[l].data()};
  }
  Vec<float> logits(static_cast<size_t>(R * V));
  aiayn::DecoderStepArgs a;
  a.R = R;
  a.tokens = tokens.data();
  a.positions = pos.data();
  a.position_ids = cfg.positions && cfg.by_id ? ids.data() : nullptr;
  a.src_lengths = src_lengths.data();
  a.Tcap = Tcap;
  a.Scap = Scap;
  a.caches = caches.data();
  a.logits = logits.data();
  aiayn::set_threads(threads);
  aiayn::DecoderStepScratch scratch;
  if (!scratch.reserve(m, R)) {
    c.fail("scratch allocation failed");
    return;
  }
  aiayn::decoder_step(m, a, scratch);

  // The reference, row by row: each row sees only its own cache and source.
  std::vector<std::vector<double>> written(kLayers, std::vector<double>(static_cast<size_t>(R * 2 * A)));
  double scale_kv = 0;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t p = pos[r];
    std::vector<double> y(static_cast<size_t>(D));
    const int64_t prow = a.position_ids ? ids[r] : (cfg.positions ? p : -1);
    for (int64_t i = 0; i < D; ++i) {
      y[i] = static_cast<double>(embedding[tokens[r] * D + i]) * 1.5 + (prow >= 0 ? positions[prow * D + i] : 0.0);
    }
    if (cfg.embedding_norm) y = norm_ref(embedding_norm, y);
    for (int64_t l = 0; l < kLayers; ++l) {
      const RefLayer& s = layers[l];
      std::vector<double> kv(static_cast<size_t>((p + 1) * 2 * A));
      for (int64_t i = 0; i < p * 2 * A; ++i) kv[i] = self0[l][(r * Tcap) * 2 * A + i];
      std::vector<double> src(static_cast<size_t>(src_lengths[r] * 2 * A));
      for (size_t i = 0; i < src.size(); ++i) src[i] = cross[l][r * Scap * 2 * A + i];
      const auto self_attention = [&](const std::vector<double>& x) {
        const std::vector<double> kvn = linear_ref(s.self_kv, x, 0);
        std::copy(kvn.begin(), kvn.end(), kv.begin() + p * 2 * A);
        std::copy(kvn.begin(), kvn.end(), written[l].begin() + r * 2 * A);
        for (const double v : kvn) scale_kv = std::max(scale_kv, std::fabs(v));
        return linear_ref(s.self_out, attend_ref(linear_ref(s.self_q, x, 0), kv, p + 1, 0.5, cfg.relative ? bias.data() : nullptr, p), 0);
      };
      const auto cross_attention = [&](const std::vector<double>& x) {
        return linear_ref(s.cross_out, attend_ref(linear_ref(s.cross_q, x, 0), src, src_lengths[r], 0.5, nullptr, 0), 0);
      };
      const auto feed_forward = [&](const std::vector<double>& x) {
        std::vector<double> h = linear_ref(s.ff1, x, cfg.gated ? 0 : cfg.act);
        if (cfg.gated) {
          std::vector<double> g(static_cast<size_t>(F));
          for (int64_t i = 0; i < F; ++i) g[i] = activate_ref(h[i], cfg.act) * h[F + i];
          h = g;
        }
        return linear_ref(s.ff2, h, 0);
      };
      if (cfg.norm_first) {
        y = add(y, self_attention(norm_ref(s.norm1, y)));
        y = add(y, cross_attention(norm_ref(s.norm2, y)));
        y = add(y, feed_forward(norm_ref(s.norm3, y)));
      } else {
        y = norm_ref(s.norm1, add(y, self_attention(y)));
        y = norm_ref(s.norm2, add(y, cross_attention(y)));
        y = norm_ref(s.norm3, add(y, feed_forward(y)));
      }
    }
    if (cfg.final_norm) y = norm_ref(final_norm, y);
    const std::vector<double> want = linear_ref(generator, y, 0);
    double scale = 1;
    for (const double v : want) scale = std::max(scale, std::fabs(v));
    for (int64_t v = 0; v < V; ++v) c.close("logits", r * V + v, logits[r * V + v], want[v], scale * tol);
  }
  for (int64_t l = 0; l < kLayers; ++l) {
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t t = 0; t < Tcap; ++t) {
        for (int64_t i = 0; i < 2 * A; ++i) {
          const int64_t at = (r * Tcap + t) * 2 * A + i;
          if (t == pos[r]) {
            c.close("self cache", at, self[l][at], written[l][r * 2 * A + i], std::max(1.0, scale_kv) * tol);
          } else {
            c.close("self cache (untouched)", at, self[l][at], self0[l][at], 0);
          }
        }
      }
    }
  }
  for (auto& l : layers) {
    for (RefLinear* x : {&l.self_q, &l.self_kv, &l.self_out, &l.cross_q, &l.cross_out, &l.ff1, &l.ff2}) {
      aiayn::linear_free(x->packed);
    }
  }
  aiayn::linear_free(generator.packed);
}

}  // namespace

void test_decoder_step() {
  Rng rng(23);
  const int acts[] = {1, 2, 3, 4};  // relu, gelu, gelu_tanh, silu
  const aiayn::DType dtypes[] = {aiayn::DType::fp32, aiayn::DType::bf16, aiayn::DType::int8};
  int n = 0;
  for (int i = 0; i < 3 * 2 * 2 * 2 * 2 * 2; ++i) {
    const bool norm_first = i & 1, rms = i & 2, gated = i & 4, one_position = i & 16;
    const int64_t R = i & 8 ? 3 : 1;
    if (R == 1 && !one_position) continue;
    // The rest cycles, so that every value of each is met across the cases.
    const Config cfg{dtypes[i / 32], norm_first, rms, gated, n % 2 == 0, n % 3 != 0, n % 2 == 1, n % 4 == 1,
                     n % 3 == 2, n % 2 == 0, acts[n % 4], R, one_position};
    for (const int threads : {1, 2}) check_step(cfg, threads, rng);
    ++n;
  }
}

}  // namespace kt
