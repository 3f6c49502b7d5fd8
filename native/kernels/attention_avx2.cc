// AVX2 + FMA attention kernels (compiled with -mavx2 -mfma -mf16c).
//
// Same algorithm as attention_avx512.cc with 8-lane vectors and 16 registers:
// prefill blocks of up to 32 query rows, kv blocks of 64 keys, scores kept
// transposed (S^T[key][query]) so Q^T is packed once (scale * log2(e) folded
// in) and Q K^T is a 3-key x 32-query register tile fed by broadcasts of K from
// the caller's strided rows; online softmax as vertical vector ops; P V as a
// 4-query x 24-column tile accumulating O[query][Dh] in scratch, Dh tail by
// masked loads. Causal blocks past the diagonal are skipped, blocks crossing
// it masked. Decode: 8 keys at a time as 8 dot products reduced by a shuffle
// tree. Position bias as in attention_avx512.cc (decode: one fma per vector
// of scores; prefill: a reversed, log2(e)-scaled copy in scratch). fp32
// throughout, exp2 within 1 ulp; max abs error against a double reference
// 1e-5 over the test sweep (inputs in [-3, 3], Dh <= 200).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "attention_kernels.h"
#include "vecmath_avx2.h"

namespace aiayn {
namespace {

constexpr int W = 8;
constexpr int QB = static_cast<int>(kAttnQBlockAvx2);  // query rows per call
constexpr int KB = 64;                                   // keys per kv block
constexpr int RK = 3;  // keys per Q K^T tile
constexpr int RQ = 4;  // query rows per P V tile
constexpr int DC = 3;  // vectors of Dh per P V tile
constexpr float kLog2e = 1.44269504088896341f;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

inline __m256i iota() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }

// Lanes [0, n) set.
inline __m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < W ? n : W)), iota());
}

inline __m256i full_mask() { return _mm256_set1_epi32(-1); }

template <int QV>
void qk_tile(const float* const* krow, const float* qt, int64_t Dh, float* s) {
  __m256 acc[RK][QV];
  for (int r = 0; r < RK; ++r)
    for (int v = 0; v < QV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t d = 0; d < Dh; ++d) {
    __m256 qv[QV];
    for (int v = 0; v < QV; ++v) qv[v] = _mm256_load_ps(qt + d * QB + v * W);
    for (int r = 0; r < RK; ++r) {
      const __m256 kb = _mm256_broadcast_ss(krow[r] + d);
      for (int v = 0; v < QV; ++v) acc[r][v] = _mm256_fmadd_ps(kb, qv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < RK; ++r)
    for (int v = 0; v < QV; ++v) _mm256_store_ps(s + r * QB + v * W, acc[r][v]);
}

template <int CN>
void pv_tile(const float* p, const float* alpha, const float* v, int64_t v_stride, int64_t jn,
             float* o, int64_t o_stride, __m256i last) {
  __m256 acc[RQ][CN];
  for (int r = 0; r < RQ; ++r) {
    const __m256 al = _mm256_broadcast_ss(alpha + r);
    for (int c = 0; c < CN; ++c) acc[r][c] = _mm256_mul_ps(al, _mm256_load_ps(o + r * o_stride + c * W));
  }
  for (int64_t jj = 0; jj < jn; ++jj) {
    const float* vr = v + jj * v_stride;
    __m256 vv[CN];
    for (int c = 0; c < CN - 1; ++c) vv[c] = _mm256_loadu_ps(vr + c * W);
    vv[CN - 1] = _mm256_maskload_ps(vr + (CN - 1) * W, last);
    for (int r = 0; r < RQ; ++r) {
      const __m256 pb = _mm256_broadcast_ss(p + jj * QB + r);
      for (int c = 0; c < CN; ++c) acc[r][c] = _mm256_fmadd_ps(pb, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < RQ; ++r)
    for (int c = 0; c < CN; ++c) _mm256_store_ps(o + r * o_stride + c * W, acc[r][c]);
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
  alignas(64) float s[(KB + RK - 1) / RK * RK * QB];  // whole Q K^T tiles
  alignas(64) float m[QB];
  alignas(64) float l[QB];
  alignas(64) float alpha[QB];
};

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
    qk_tile<QV>(krow, st.qt, st.Dh, st.s + jj * QB);
  }
  if (st.rev) {
    for (int64_t jj = 0; jj < jn; ++jj) {
      const float* rb = st.rev + (st.jend - 1 - (j0 + jj));
      for (int v = 0; v < QV; ++v) {
        float* sp = st.s + jj * QB + v * W;
        _mm256_store_ps(sp, _mm256_add_ps(_mm256_load_ps(sp), _mm256_loadu_ps(rb + v * W)));
      }
    }
  }
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  if (diag) {
    // Query lane r sees key j iff r >= j - off - i0.
    for (int64_t jj = 0; jj < jn; ++jj) {
      int64_t first = j0 + jj - st.off - st.i0;
      first = first < 0 ? 0 : (first > QB ? QB : first);
      const __m256i fv = _mm256_set1_epi32(static_cast<int>(first));
      for (int v = 0; v < QV; ++v) {
        const __m256i lane = _mm256_add_epi32(iota(), _mm256_set1_epi32(v * W));
        const __m256 hide = _mm256_castsi256_ps(_mm256_cmpgt_epi32(fv, lane));
        float* sp = st.s + jj * QB + v * W;
        _mm256_store_ps(sp, _mm256_blendv_ps(_mm256_load_ps(sp), ninf, hide));
      }
    }
  }
  for (int v = 0; v < QV; ++v) {
    const __m256 m_old = _mm256_load_ps(st.m + v * W);
    __m256 mx = m_old;
    for (int64_t jj = 0; jj < jn; ++jj) mx = _mm256_max_ps(mx, _mm256_load_ps(st.s + jj * QB + v * W));
    // A query with nothing visible yet keeps max -inf; subtract 0 instead so
    // exp2(-inf - 0) = 0 rather than NaN.
    const __m256 m_use = _mm256_blendv_ps(mx, _mm256_setzero_ps(), _mm256_cmp_ps(mx, ninf, _CMP_EQ_OQ));
    const __m256 al = Math<VecAvx2>::exp2(_mm256_sub_ps(m_old, m_use));
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    int64_t jj = 0;
    for (; jj + 1 < jn; jj += 2) {
      float* s0 = st.s + jj * QB + v * W;
      const __m256 p0 = Math<VecAvx2>::exp2(_mm256_sub_ps(_mm256_load_ps(s0), m_use));
      const __m256 p1 = Math<VecAvx2>::exp2(_mm256_sub_ps(_mm256_load_ps(s0 + QB), m_use));
      _mm256_store_ps(s0, p0);
      _mm256_store_ps(s0 + QB, p1);
      sum0 = _mm256_add_ps(sum0, p0);
      sum1 = _mm256_add_ps(sum1, p1);
    }
    if (jj < jn) {
      float* s0 = st.s + jj * QB + v * W;
      const __m256 p0 = Math<VecAvx2>::exp2(_mm256_sub_ps(_mm256_load_ps(s0), m_use));
      _mm256_store_ps(s0, p0);
      sum0 = _mm256_add_ps(sum0, p0);
    }
    const __m256 l_old = _mm256_load_ps(st.l + v * W);
    _mm256_store_ps(st.l + v * W, _mm256_fmadd_ps(l_old, al, _mm256_add_ps(sum0, sum1)));
    _mm256_store_ps(st.m + v * W, mx);
    _mm256_store_ps(st.alpha + v * W, al);
  }
  const int64_t nd = st.Dhp / W;
  const __m256i tail = tail_mask(st.Dh - (nd - 1) * W);
  const int64_t vs = a.v_strides.time;
  const float* vb = st.v + j0 * vs;
  for (int64_t r0 = 0; r0 < st.nq; r0 += RQ) {
    for (int64_t c0 = 0; c0 < nd; c0 += DC) {
      const int64_t cn = nd - c0 < DC ? nd - c0 : DC;
      const __m256i last = c0 + cn == nd ? tail : full_mask();
      float* o = st.o + r0 * st.Dhp + c0 * W;
      const float* p = st.s + r0;
      const float* al = st.alpha + r0;
      const float* vc = vb + c0 * W;
      switch (cn) {
        case 3: pv_tile<3>(p, al, vc, vs, jn, o, st.Dhp, last); break;
        case 2: pv_tile<2>(p, al, vc, vs, jn, o, st.Dhp, last); break;
        default: pv_tile<1>(p, al, vc, vs, jn, o, st.Dhp, last); break;
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

// 8 vectors -> one vector of their horizontal sums (lane k = sum of v[k]).
inline __m256 reduce8(const __m256* v) {
  __m256 s[4];
  for (int k = 0; k < 4; ++k)
    s[k] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                         _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  const __m256 g0 = _mm256_add_ps(_mm256_shuffle_ps(s[0], s[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 g1 = _mm256_add_ps(_mm256_shuffle_ps(s[2], s[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
}

}  // namespace

size_t attention_prefill_scratch_floats_avx2(const AttentionArgs& a) {
  // qt, o, and the reversed bias of up to Tk + QB - 1 entries.
  return static_cast<size_t>(a.Dh * QB + QB * round_up(a.Dh, W) + (a.position_bias ? a.Tk + QB : 0));
}

size_t attention_decode_scratch_floats_avx2(int64_t Dh) {
  return static_cast<size_t>(round_up(Dh, W));
}

void attention_prefill_block_avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0,
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
  int64_t jend = kv_len;   // keys any row of the block sees
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
    for (int64_t d = 0; d < st.Dh; ++d) {
      float* row = st.qt + d * QB;
      for (int64_t r = 0; r < st.nq; ++r) row[r] = q[r * a.q_strides.time + d] * sc;
      for (int64_t r = st.nq; r < QV * W; ++r) row[r] = 0.0f;
    }
    for (int64_t r = 0; r < round_up(st.nq, RQ); ++r)
      for (int64_t d = 0; d < st.Dhp; d += W) _mm256_store_ps(st.o + r * st.Dhp + d, _mm256_setzero_ps());
    for (int v = 0; v < QV; ++v) {
      _mm256_store_ps(st.m + v * W, _mm256_set1_ps(-__builtin_inff()));
      _mm256_store_ps(st.l + v * W, _mm256_setzero_ps());
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
  const __m256i tail = tail_mask(st.Dh - (nd - 1) * W);
  for (int64_t r = 0; r < st.nq; ++r) {
    float* out = a.out + b * a.out_strides.batch + (i0 + r) * a.out_strides.time + h * a.out_strides.head;
    const float lr = st.l[r];
    const __m256 inv = _mm256_set1_ps(lr > 0.0f ? 1.0f / lr : 0.0f);
    for (int64_t c = 0; c < nd; ++c) {
      const __m256 x = jend > 0 ? _mm256_mul_ps(_mm256_load_ps(st.o + r * st.Dhp + c * W), inv)
                                : _mm256_setzero_ps();
      _mm256_maskstore_ps(out + c * W, c + 1 == nd ? tail : full_mask(), x);
    }
  }
}

void attention_decode_row_avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t i,
                               int64_t j0, int64_t j1, float* acc, float* ml, float* scratch) {
  const int64_t Dh = a.Dh, nd = round_up(Dh, W) / W;
  const __m256i tail = tail_mask(Dh - (nd - 1) * W);
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
    const __m256i mk = c + 1 == nd ? tail : full_mask();
    _mm256_store_ps(qs + c * W, _mm256_mul_ps(_mm256_maskload_ps(q + c * W, mk), _mm256_set1_ps(sc)));
    _mm256_store_ps(acc + c * W, _mm256_setzero_ps());
  }
  constexpr int KD = 64;  // keys per online-softmax step
  alignas(64) float s[KD];
  const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
  float m = -__builtin_inff(), l = 0.0f;
  for (int64_t jb = j0; jb < j1; jb += KD) {
    const int64_t jn = j1 - jb < KD ? j1 - jb : KD;
    __m256 bmax = ninf;
    for (int64_t g = 0; g < jn; g += W) {
      const float* krow[W];
      for (int r = 0; r < W; ++r) krow[r] = kb + (jb + (g + r < jn ? g + r : jn - 1)) * ks;
      __m256 dots[W];
      for (int r = 0; r < W; ++r) dots[r] = _mm256_setzero_ps();
      for (int64_t c = 0; c + 1 < nd; ++c) {
        const __m256 qv = _mm256_load_ps(qs + c * W);
        for (int r = 0; r < W; ++r) dots[r] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(krow[r] + c * W), dots[r]);
      }
      const __m256 ql = _mm256_load_ps(qs + (nd - 1) * W);
      for (int r = 0; r < W; ++r)
        dots[r] = _mm256_fmadd_ps(ql, _mm256_maskload_ps(krow[r] + (nd - 1) * W, tail), dots[r]);
      const __m256i vmask = tail_mask(jn - g);
      __m256 dv = reduce8(dots);
      if (bias) dv = _mm256_fmadd_ps(_mm256_maskload_ps(bias + jb + g, vmask), _mm256_set1_ps(kLog2e), dv);
      const __m256 sv = _mm256_blendv_ps(ninf, dv, _mm256_castsi256_ps(vmask));
      _mm256_store_ps(s + g, sv);
      bmax = _mm256_max_ps(bmax, sv);
    }
    const float mx = VecAvx2::reduce_max(bmax);
    const float m_new = mx > m ? mx : m;
    const float al = __builtin_exp2f(m - m_new);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t g = 0; g < jn; g += W) {
      const __m256 p = Math<VecAvx2>::exp2(_mm256_sub_ps(_mm256_load_ps(s + g), _mm256_set1_ps(m_new)));
      _mm256_store_ps(s + g, p);
      sum = _mm256_add_ps(sum, p);
    }
    l = l * al + VecAvx2::reduce_add(sum);
    m = m_new;
    const float* vr0 = vb + jb * vs;
    for (int64_t c0 = 0; c0 < nd; c0 += DC) {
      const int64_t cn = nd - c0 < DC ? nd - c0 : DC;
      __m256 o[DC];
      __m256i mk[DC];
      for (int c = 0; c < DC; ++c) {
        mk[c] = c < cn ? (c0 + c + 1 == nd ? tail : full_mask()) : _mm256_setzero_si256();
        o[c] = _mm256_mul_ps(_mm256_set1_ps(al), _mm256_maskload_ps(acc + (c0 + c) * W, mk[c]));
      }
      for (int64_t jj = 0; jj < jn; ++jj) {
        const __m256 pb = _mm256_broadcast_ss(s + jj);
        const float* vr = vr0 + jj * vs + c0 * W;
        for (int c = 0; c < DC; ++c) o[c] = _mm256_fmadd_ps(pb, _mm256_maskload_ps(vr + c * W, mk[c]), o[c]);
      }
      for (int c = 0; c < DC; ++c) _mm256_maskstore_ps(acc + (c0 + c) * W, mk[c], o[c]);
    }
  }
  ml[0] = m;
  ml[1] = l;
}

}  // namespace aiayn
