// AVX-512 attention kernels (compiled with -mavx512f/bw/dq/vl -mfma).
//
// Prefill, one (b, h, block of up to 64 query rows) per call, FlashAttention
// style: kv blocks of 64 keys, online softmax, never more than 64 x 64 scores.
// Scores are kept transposed, S^T[key][query], so that
//   * Q^T is packed once per call by 16 x 16 register transposes (scale *
//     log2(e) folded in, rows padded with zeros to a multiple of 16) and
//     Q K^T (qk_4x16qv_avx512) is a 4-key x 64-query register tile
//     (16 accumulators) fed by broadcasts of K straight from the caller's
//     strided rows: any Dh, no K packing, no remainder masks on Dh;
//   * the per-query running max and sum are plain vertical vector ops;
//   * P V (pv_4x16cn_avx512) is a 4-query x 64-column tile (16 accumulators)
//     of broadcasts of P times rows of V, accumulating O[query][Dh] in
//     scratch; the Dh tail uses masked loads.
// Causal blocks past the diagonal are never visited; only blocks crossing it
// are masked. Decode (few query rows): 16 keys at a time as 16 dot products
// along Dh reduced by a shuffle tree, then the same online softmax; the K and
// V rows of the next 64-key block are prefetched meanwhile.
// Position bias (attention.h): decode adds bias * log2(e) to each vector of
// 16 scores (one fma, masked load at the tail); prefill first copies the
// bias the block needs, times log2(e) and reversed, to scratch, so that a
// key's bias over consecutive query rows is one contiguous load added to its
// row of S^T (before the causal mask).
// Accuracy: fp32 throughout, exp2 within 1 ulp; max abs error against a double
// reference 1e-5 over the test sweep (inputs in [-3, 3], Dh <= 200), the same
// as the scalar path: fp32 rounding of the scores dominates.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "attention_kernels.h"
#include "vecmath_avx512.h"

namespace aiayn {
namespace {

constexpr int W = 16;
constexpr int QB = static_cast<int>(kAttnQBlockAvx512);  // query rows per call
constexpr int KB = 64;                                     // keys per kv block
constexpr int RK = 4;  // keys per Q K^T tile
constexpr int RQ = 4;  // query rows per P V tile
constexpr int DC = 4;  // vectors of Dh per P V tile
constexpr float kLog2e = 1.44269504088896341f;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

inline __mmask16 tail_mask(int64_t n) {
  return n >= W ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// s[r][0 .. 16 QV) = sum_d k_r[d] qt[d][.] for RK key rows (row stride QB).
template <int QV>
void qk_4x16qv_avx512(const float* const* krow, const float* qt, int64_t Dh, float* s) {
  __m512 acc[RK][QV];
  for (int r = 0; r < RK; ++r)
    for (int v = 0; v < QV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t d = 0; d < Dh; ++d) {
    __m512 qv[QV];
    for (int v = 0; v < QV; ++v) qv[v] = _mm512_load_ps(qt + d * QB + v * W);
    for (int r = 0; r < RK; ++r) {
      const __m512 kb = _mm512_set1_ps(krow[r][d]);
      for (int v = 0; v < QV; ++v) acc[r][v] = _mm512_fmadd_ps(kb, qv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < RK; ++r)
    for (int v = 0; v < QV; ++v) _mm512_store_ps(s + r * QB + v * W, acc[r][v]);
}

// o[r][c] = alpha[r] o[r][c] + sum_jj p[jj][r] v_jj[c] for RQ rows and CN
// vectors of Dh; the last vector is loaded under `last`.
template <int CN>
void pv_4x16cn_avx512(const float* p, const float* alpha, const float* v, int64_t v_stride, int64_t jn,
             float* o, int64_t o_stride, __mmask16 last) {
  __m512 acc[RQ][CN];
  for (int r = 0; r < RQ; ++r) {
    const __m512 al = _mm512_set1_ps(alpha[r]);
    for (int c = 0; c < CN; ++c) acc[r][c] = _mm512_mul_ps(al, _mm512_load_ps(o + r * o_stride + c * W));
  }
  for (int64_t jj = 0; jj < jn; ++jj) {
    const float* vr = v + jj * v_stride;
    __m512 vv[CN];
    for (int c = 0; c < CN - 1; ++c) vv[c] = _mm512_loadu_ps(vr + c * W);
    vv[CN - 1] = _mm512_maskz_loadu_ps(last, vr + (CN - 1) * W);
    for (int r = 0; r < RQ; ++r) {
      const __m512 pb = _mm512_set1_ps(p[jj * QB + r]);
      for (int c = 0; c < CN; ++c) acc[r][c] = _mm512_fmadd_ps(pb, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < RQ; ++r)
    for (int c = 0; c < CN; ++c) _mm512_store_ps(o + r * o_stride + c * W, acc[r][c]);
}

struct Prefill {
  const AttentionArgs* a;
  int64_t Dh, Dhp, i0, nq, off;
  const float* k;  // key row 0 of (b, h)
  const float* v;
  float* qt;  // [Dh][QB]
  float* o;   // [QB][Dhp]
  // Position bias * log2(e), reversed: rev[t] is the bias of (query i0 + r,
  // key j) for t = r + (jend - 1 - j), so a key's bias over consecutive
  // query rows is one contiguous load; null without position bias.
  const float* rev;
  int64_t jend;
  alignas(64) float s[KB * QB];
  alignas(64) float m[QB];
  alignas(64) float l[QB];
  alignas(64) float alpha[QB];
};

// One kv block [j0, j0 + jn): scores, masks, online softmax update, P V.
template <int QV>
void prefill_kv_block(Prefill& st, int64_t j0, int64_t jn, bool diag) {
  const AttentionArgs& a = *st.a;
  const int64_t ks = a.k_strides.time;
  for (int64_t jj = 0; jj < jn; jj += RK) {
    const float* krow[RK];
    for (int r = 0; r < RK; ++r) {
      const int64_t j = j0 + (jj + r < jn ? jj + r : jn - 1);  // clamp: extra rows unused
      krow[r] = st.k + j * ks;
    }
    qk_4x16qv_avx512<QV>(krow, st.qt, st.Dh, st.s + jj * QB);
  }
  if (st.rev) {
    for (int64_t jj = 0; jj < jn; ++jj) {
      const float* rb = st.rev + (st.jend - 1 - (j0 + jj));
      for (int v = 0; v < QV; ++v) {
        float* sp = st.s + jj * QB + v * W;
        _mm512_store_ps(sp, _mm512_add_ps(_mm512_load_ps(sp), _mm512_loadu_ps(rb + v * W)));
      }
    }
  }
  if (diag) {
    // Query lane r sees key j iff r >= j - off - i0.
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    for (int64_t jj = 0; jj < jn; ++jj) {
      int64_t first = j0 + jj - st.off - st.i0;
      first = first < 0 ? 0 : (first > QB ? QB : first);
      const __m512i fv = _mm512_set1_epi32(static_cast<int>(first));
      for (int v = 0; v < QV; ++v) {
        const __m512i lane = _mm512_add_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(v * W));
        const __mmask16 hide = _mm512_cmp_epi32_mask(lane, fv, _MM_CMPINT_LT);
        float* sp = st.s + jj * QB + v * W;
        _mm512_store_ps(sp, _mm512_mask_blend_ps(hide, _mm512_load_ps(sp), ninf));
      }
    }
  }
  for (int v = 0; v < QV; ++v) {
    const __m512 m_old = _mm512_load_ps(st.m + v * W);
    __m512 mx = m_old;
    for (int64_t jj = 0; jj < jn; ++jj) mx = _mm512_max_ps(mx, _mm512_load_ps(st.s + jj * QB + v * W));
    // A query with nothing visible yet keeps max -inf; subtract 0 instead so
    // exp2(-inf - 0) = 0 rather than NaN.
    const __m512 m_use = _mm512_mask_blend_ps(
        _mm512_cmp_ps_mask(mx, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ), mx, _mm512_setzero_ps());
    const __m512 al = Math<VecAvx512>::exp2(_mm512_sub_ps(m_old, m_use));
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    int64_t jj = 0;
    for (; jj + 1 < jn; jj += 2) {
      float* s0 = st.s + jj * QB + v * W;
      const __m512 p0 = Math<VecAvx512>::exp2(_mm512_sub_ps(_mm512_load_ps(s0), m_use));
      const __m512 p1 = Math<VecAvx512>::exp2(_mm512_sub_ps(_mm512_load_ps(s0 + QB), m_use));
      _mm512_store_ps(s0, p0);
      _mm512_store_ps(s0 + QB, p1);
      sum0 = _mm512_add_ps(sum0, p0);
      sum1 = _mm512_add_ps(sum1, p1);
    }
    if (jj < jn) {
      float* s0 = st.s + jj * QB + v * W;
      const __m512 p0 = Math<VecAvx512>::exp2(_mm512_sub_ps(_mm512_load_ps(s0), m_use));
      _mm512_store_ps(s0, p0);
      sum0 = _mm512_add_ps(sum0, p0);
    }
    const __m512 l_old = _mm512_load_ps(st.l + v * W);
    _mm512_store_ps(st.l + v * W, _mm512_fmadd_ps(l_old, al, _mm512_add_ps(sum0, sum1)));
    _mm512_store_ps(st.m + v * W, mx);
    _mm512_store_ps(st.alpha + v * W, al);
  }
  const int64_t nd = st.Dhp / W;
  const __mmask16 tail = tail_mask(st.Dh - (nd - 1) * W);
  const int64_t vs = a.v_strides.time;
  const float* vb = st.v + j0 * vs;
  for (int64_t r0 = 0; r0 < st.nq; r0 += RQ) {
    for (int64_t c0 = 0; c0 < nd; c0 += DC) {
      const int64_t cn = nd - c0 < DC ? nd - c0 : DC;
      const __mmask16 last = c0 + cn == nd ? tail : static_cast<__mmask16>(0xFFFF);
      float* o = st.o + r0 * st.Dhp + c0 * W;
      const float* p = st.s + r0;
      const float* al = st.alpha + r0;
      const float* vc = vb + c0 * W;
      switch (cn) {
        case 4: pv_4x16cn_avx512<4>(p, al, vc, vs, jn, o, st.Dhp, last); break;
        case 3: pv_4x16cn_avx512<3>(p, al, vc, vs, jn, o, st.Dhp, last); break;
        case 2: pv_4x16cn_avx512<2>(p, al, vc, vs, jn, o, st.Dhp, last); break;
        default: pv_4x16cn_avx512<1>(p, al, vc, vs, jn, o, st.Dhp, last); break;
      }
    }
  }
}

template <int QV>
void prefill_loop(Prefill& st, int64_t jend, int64_t jfull) {
  for (int64_t j0 = 0; j0 < jend; j0 += KB) {
    const int64_t jn = jend - j0 < KB ? jend - j0 : KB;
    prefill_kv_block<QV>(st, j0, jn, j0 + jn > jfull);
  }
}

// In-register transpose of 16 rows of 16 floats: r[c] becomes column c.
inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4 i + j], 128-bit lane L: column 4 L + j of rows 4 i .. 4 i + 3.
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 b = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 1, 3, 1));
    r[j] = _mm512_shuffle_f32x4(a, c, _MM_SHUFFLE(2, 0, 2, 0));
    r[4 + j] = _mm512_shuffle_f32x4(b, d, _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + j] = _mm512_shuffle_f32x4(a, c, _MM_SHUFFLE(3, 1, 3, 1));
    r[12 + j] = _mm512_shuffle_f32x4(b, d, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// qt[d][r] = sc * q[r][d] for r < nq, 0 for nq <= r < 16 QV (q rows `stride`
// floats apart), by 16 x 16 register transposes: a column-wise scalar
// gather over the strided rows cost a quarter of a short prefill.
inline void pack_qt(const float* q, int64_t stride, int64_t nq, int QV, int64_t Dh, float sc, float* qt) {
  const __m512 scale = _mm512_set1_ps(sc);
  for (int v = 0; v < QV; ++v) {
    for (int64_t d0 = 0; d0 < Dh; d0 += W) {
      const __mmask16 cols = tail_mask(Dh - d0);
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t row = v * W + i;
        r[i] = row < nq ? _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(cols, q + row * stride + d0))
                        : _mm512_setzero_ps();
      }
      transpose16(r);
      const int64_t nd = Dh - d0 < W ? Dh - d0 : W;
      for (int64_t c = 0; c < nd; ++c) _mm512_store_ps(qt + (d0 + c) * QB + v * W, r[c]);
    }
  }
}

// Decode reads every cache row once: the rows of the next kv block are
// requested (into L2) while this one is computed. From DRAM the hardware
// prefetcher alone left the bus idle much of the time (measured: 9 GB/s of
// 17); an L1 hint was slower than L2, L1 being too small for a block ahead.
// n rows of Dh floats, `stride` floats apart.
inline void prefetch_rows(const float* p, int64_t stride, int64_t n, int64_t Dh) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t d = 0; d < Dh; d += W) _mm_prefetch(reinterpret_cast<const char*>(p + r * stride + d), _MM_HINT_T1);
}

// 16 vectors -> one vector of their horizontal sums (lane k = sum of v[k]).
inline __m512 reduce16(const __m512* v) {
  __m512 s[8], g[4];
  for (int k = 0; k < 8; ++k)
    s[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                         _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  for (int k = 0; k < 4; ++k)
    g[k] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * k], s[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(s[2 * k], s[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 h01 = _mm512_add_ps(_mm512_shuffle_f32x4(g[0], g[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(g[0], g[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 h23 = _mm512_add_ps(_mm512_shuffle_f32x4(g[2], g[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(g[2], g[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(3, 1, 3, 1)));
}

}  // namespace

size_t attention_prefill_scratch_floats_avx512(const AttentionArgs& a) {
  // qt, o, and the reversed bias of up to Tk + QB - 1 entries.
  return static_cast<size_t>(a.Dh * QB + QB * round_up(a.Dh, W) + (a.position_bias ? a.Tk + QB : 0));
}

size_t attention_decode_scratch_floats_avx512(int64_t Dh) {
  return static_cast<size_t>(round_up(Dh, W));
}

void attention_prefill_block_avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0,
                                    int64_t i1, float* scratch) {
  Prefill st;
  st.a = &a;
  st.Dh = a.Dh;
  st.Dhp = round_up(a.Dh, W);
  st.i0 = i0;
  st.nq = i1 - i0;
  st.off = a.Tk - a.Tq;
  st.k = a.k + b * a.k_strides.batch + h * a.k_strides.head;
  st.v = a.v + b * a.v_strides.batch + h * a.v_strides.head;
  st.qt = scratch;
  st.o = scratch + st.Dh * QB;
  st.rev = nullptr;

  const int64_t kv_len = a.kv_lengths ? a.kv_lengths[b] : a.Tk;
  int64_t jend = kv_len;  // keys any row of the block sees
  int64_t jfull = kv_len;  // keys every row of the block sees
  if (a.causal) {
    if (i1 + st.off < jend) jend = i1 + st.off;
    if (i0 + st.off + 1 < jfull) jfull = i0 + st.off + 1;
  }
  const int QV = static_cast<int>((st.nq + W - 1) / W);
  st.jend = jend;
  if (jend > 0 && a.position_bias) {
    // rev[t] = bias[h, idx] * log2(e), idx = (L - 1 - p0) + jend - 1 - t, p0 the
    // position of query i0; padding query lanes past the table read 0.
    const int64_t L = a.bias_positions;
    const int64_t p0 = a.query_offsets ? a.query_offsets[b] + i0 : i0 + st.off;
    const float* bh = a.position_bias + h * (2 * L - 1);
    float* rev = st.o + QB * st.Dhp;
    const int64_t top = (L - 1 - p0) + jend - 1;
    for (int64_t t = 0; t < jend + QV * W - 1; ++t) {
      const int64_t idx = top - t;
      rev[t] = idx >= 0 && idx < 2 * L - 1 ? bh[idx] * kLog2e : 0.0f;
    }
    st.rev = rev;
  }
  if (jend > 0) {
    const float sc = a.scale * kLog2e;
    const float* q = a.q + b * a.q_strides.batch + i0 * a.q_strides.time + h * a.q_strides.head;
    pack_qt(q, a.q_strides.time, st.nq, QV, st.Dh, sc, st.qt);
    for (int64_t r = 0; r < round_up(st.nq, RQ); ++r)
      for (int64_t d = 0; d < st.Dhp; d += W) _mm512_store_ps(st.o + r * st.Dhp + d, _mm512_setzero_ps());
    for (int v = 0; v < QV; ++v) {
      _mm512_store_ps(st.m + v * W, _mm512_set1_ps(-__builtin_inff()));
      _mm512_store_ps(st.l + v * W, _mm512_setzero_ps());
    }
    switch (QV) {
      case 4: prefill_loop<4>(st, jend, jfull); break;
      case 3: prefill_loop<3>(st, jend, jfull); break;
      case 2: prefill_loop<2>(st, jend, jfull); break;
      default: prefill_loop<1>(st, jend, jfull); break;
    }
  } else {
    for (int64_t r = 0; r < st.nq; ++r) st.l[r] = 0.0f;
  }
  const int64_t nd = st.Dhp / W;
  const __mmask16 tail = tail_mask(st.Dh - (nd - 1) * W);
  for (int64_t r = 0; r < st.nq; ++r) {
    float* out = a.out + b * a.out_strides.batch + (i0 + r) * a.out_strides.time + h * a.out_strides.head;
    const float lr = st.l[r];
    const __m512 inv = _mm512_set1_ps(lr > 0.0f ? 1.0f / lr : 0.0f);
    for (int64_t c = 0; c < nd; ++c) {
      const __m512 x = jend > 0 ? _mm512_mul_ps(_mm512_load_ps(st.o + r * st.Dhp + c * W), inv)
                                : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(out + c * W, c + 1 == nd ? tail : static_cast<__mmask16>(0xFFFF), x);
    }
  }
}

void attention_decode_row_avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t i,
                                 int64_t j0, int64_t j1, float* acc, float* ml, float* scratch) {
  const int64_t Dh = a.Dh, nd = round_up(Dh, W) / W;
  const __mmask16 tail = tail_mask(Dh - (nd - 1) * W);
  const float sc = a.scale * kLog2e;
  const float* q = a.q + b * a.q_strides.batch + i * a.q_strides.time + h * a.q_strides.head;
  const float* kb = a.k + b * a.k_strides.batch + h * a.k_strides.head;
  const float* vb = a.v + b * a.v_strides.batch + h * a.v_strides.head;
  const int64_t ks = a.k_strides.time, vs = a.v_strides.time;
  // bias[j]: the position bias of key j for this query (attention.h), or null.
  const float* bias = nullptr;
  if (a.position_bias) {
    const int64_t p = a.query_offsets ? a.query_offsets[b] + i : i + (a.Tk - a.Tq);
    bias = a.position_bias + h * (2 * a.bias_positions - 1) + (a.bias_positions - 1 - p);
  }
  float* qs = scratch;
  for (int64_t c = 0; c < nd; ++c) {
    const __mmask16 mk = c + 1 == nd ? tail : static_cast<__mmask16>(0xFFFF);
    _mm512_store_ps(qs + c * W, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, q + c * W), _mm512_set1_ps(sc)));
    _mm512_store_ps(acc + c * W, _mm512_setzero_ps());
  }
  constexpr int KD = 64;  // keys per online-softmax step
  constexpr int PF = KD;  // prefetch distance in keys
  alignas(64) float s[KD];
  float m = -__builtin_inff(), l = 0.0f;
  // No earlier block prefetched the first one: ask for all its K and V rows at
  // once, so that over a short cold cache their misses overlap instead of
  // queueing behind the dot products.
  prefetch_rows(kb + j0 * ks, ks, j1 - j0 < KD ? j1 - j0 : KD, Dh);
  prefetch_rows(vb + j0 * vs, vs, j1 - j0 < KD ? j1 - j0 : KD, Dh);
  for (int64_t jb = j0; jb < j1; jb += KD) {
    const int64_t jn = j1 - jb < KD ? j1 - jb : KD;
    __m512 bmax = _mm512_set1_ps(-__builtin_inff());
    const bool pf = jb + PF < j1;
    for (int64_t g = 0; g < jn; g += W) {
      const float* krow[W];
      for (int r = 0; r < W; ++r) krow[r] = kb + (jb + (g + r < jn ? g + r : jn - 1)) * ks;
      if (pf) prefetch_rows(kb + (jb + PF + g) * ks, ks, j1 - (jb + PF + g) < W ? j1 - (jb + PF + g) : W, Dh);
      __m512 dots[W];
      for (int r = 0; r < W; ++r) dots[r] = _mm512_setzero_ps();
      for (int64_t c = 0; c + 1 < nd; ++c) {
        const __m512 qv = _mm512_load_ps(qs + c * W);
        for (int r = 0; r < W; ++r) dots[r] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(krow[r] + c * W), dots[r]);
      }
      const __m512 ql = _mm512_load_ps(qs + (nd - 1) * W);
      for (int r = 0; r < W; ++r)
        dots[r] = _mm512_fmadd_ps(ql, _mm512_maskz_loadu_ps(tail, krow[r] + (nd - 1) * W), dots[r]);
      const __mmask16 valid = tail_mask(jn - g);
      __m512 dv = reduce16(dots);
      if (bias) dv = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(valid, bias + jb + g), _mm512_set1_ps(kLog2e), dv);
      const __m512 sv = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-__builtin_inff()), dv);
      _mm512_store_ps(s + g, sv);
      bmax = _mm512_max_ps(bmax, sv);
    }
    const float mx = VecAvx512::reduce_max(bmax);
    const float m_new = mx > m ? mx : m;
    const float al = __builtin_exp2f(m - m_new);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t g = 0; g < jn; g += W) {
      const __m512 p = Math<VecAvx512>::exp2(_mm512_sub_ps(_mm512_load_ps(s + g), _mm512_set1_ps(m_new)));
      _mm512_store_ps(s + g, p);
      sum = _mm512_add_ps(sum, p);
    }
    l = l * al + VecAvx512::reduce_add(sum);
    m = m_new;
    const float* vr0 = vb + jb * vs;
    for (int64_t c0 = 0; c0 < nd; c0 += DC) {
      const int64_t cn = nd - c0 < DC ? nd - c0 : DC;
      __m512 o[DC];
      __mmask16 mk[DC];
      for (int c = 0; c < DC; ++c) {
        mk[c] = c < cn ? (c0 + c + 1 == nd ? tail : static_cast<__mmask16>(0xFFFF)) : 0;
        o[c] = _mm512_mul_ps(_mm512_set1_ps(al), _mm512_maskz_load_ps(mk[c], acc + (c0 + c) * W));
      }
      for (int64_t jj = 0; jj < jn; ++jj) {
        if (pf && c0 == 0 && jb + PF + jj < j1) prefetch_rows(vr0 + (PF + jj) * vs, vs, 1, Dh);
        const __m512 pb = _mm512_set1_ps(s[jj]);
        const float* vr = vr0 + jj * vs + c0 * W;
        for (int c = 0; c < DC; ++c) o[c] = _mm512_fmadd_ps(pb, _mm512_maskz_loadu_ps(mk[c], vr + c * W), o[c]);
      }
      for (int c = 0; c < DC; ++c) _mm512_mask_store_ps(acc + (c0 + c) * W, mk[c], o[c]);
    }
  }
  ml[0] = m;
  ml[1] = l;
}

}  // namespace aiayn
