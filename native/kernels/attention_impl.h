// The attention kernels of attention_kernels.h written once over a
// vector-traits struct S (W lanes) and a tile shape, instantiated by
// attention_avx2.cc and attention_avx512.cc. Include only from an ISA
// translation unit, after its traits.
//
// Prefill, one (b, h, block of up to QB query rows) per call, FlashAttention
// style: kv blocks of 64 keys, online softmax, never more than 64 x QB scores.
// Scores are kept transposed, S^T[key][query], so that
//   * Q^T is packed once per call by W x W register transposes (scale *
//     log2(e) folded in, rows padded with zeros to a multiple of W) and
//     Q K^T (qk_tile) is an RK-key x QB-query register tile fed by
//     broadcasts of K straight from the caller's strided rows: any Dh, no K
//     packing, no remainder masks on Dh;
//   * the per-query running max and sum are plain vertical vector ops;
//   * P V (pv_tile) is an RQ-query x (DC W)-column tile of broadcasts of P
//     times rows of V, accumulating O[query][Dh] in scratch; the Dh tail uses
//     masked loads.
// Causal blocks past the diagonal are never visited; only blocks crossing it
// are masked. Decode (few query rows): W keys at a time as W dot products
// along Dh reduced by a shuffle tree (S::sums_of), then the same online
// softmax; with kPrefetch, the K and V rows of the next 64-key block are
// prefetched meanwhile.
// Position bias (attention.h): decode adds bias * log2(e) to each vector of
// W scores (one fma, masked load at the tail); prefill first copies the bias
// the block needs, times log2(e) and reversed, to scratch, so that a key's
// bias over consecutive query rows is one contiguous load added to its row
// of S^T (before the causal mask).
// Accuracy: fp32 throughout, exp2 within 1 ulp; max abs error against a double
// reference 1e-5 over the test sweep (inputs in [-3, 3], Dh <= 200), the same
// as the scalar path: fp32 rounding of the scores dominates.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attention_kernels.h"
#include "vecmath.h"

namespace aiayn {
namespace {

// QB query rows per prefill call, RK keys per Q K^T tile, DC vectors of Dh
// per P V tile (the tiles fill the ISA's registers), kPrefetch: decode
// prefetches the next kv block.
template <class S, int QB, int RK, int DC, bool kPrefetch>
struct Attention {
  using V = typename S::V;
  using M = typename S::M;
  static constexpr int W = S::W;
  static constexpr int KB = 64;  // keys per kv block
  static constexpr int RQ = 4;   // query rows per P V tile
  static constexpr int QVMax = QB / W;
  static constexpr float kLog2e = 1.44269504088896341f;

  static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

  // s[r][0 .. W QV) = sum_d k_r[d] qt[d][.] for RK key rows (row stride QB).
  template <int QV>
  static void qk_tile(const float* const* krow, const float* qt, int64_t Dh, float* s) {
    V acc[RK][QV];
    for (int r = 0; r < RK; ++r)
      for (int v = 0; v < QV; ++v) acc[r][v] = S::zero();
    for (int64_t d = 0; d < Dh; ++d) {
      V qv[QV];
      for (int v = 0; v < QV; ++v) qv[v] = S::load(qt + d * QB + v * W);
      for (int r = 0; r < RK; ++r) {
        const V kb = S::set1(krow[r][d]);
        for (int v = 0; v < QV; ++v) acc[r][v] = S::fmadd(kb, qv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < RK; ++r)
      for (int v = 0; v < QV; ++v) S::store(s + r * QB + v * W, acc[r][v]);
  }

  // o[r][c] = alpha[r] o[r][c] + sum_jj p[jj][r] v_jj[c] for RQ rows and CN
  // vectors of Dh; the last vector is loaded under `last`.
  template <int CN>
  static void pv_tile(const float* p, const float* alpha, const float* v, int64_t v_stride, int64_t jn, float* o,
                      int64_t o_stride, M last) {
    V acc[RQ][CN];
    for (int r = 0; r < RQ; ++r) {
      const V al = S::set1(alpha[r]);
      for (int c = 0; c < CN; ++c) acc[r][c] = S::mul(al, S::load(o + r * o_stride + c * W));
    }
    for (int64_t jj = 0; jj < jn; ++jj) {
      const float* vr = v + jj * v_stride;
      V vv[CN];
      for (int c = 0; c < CN - 1; ++c) vv[c] = S::loadu(vr + c * W);
      vv[CN - 1] = S::maskz_loadu(last, vr + (CN - 1) * W);
      for (int r = 0; r < RQ; ++r) {
        const V pb = S::set1(p[jj * QB + r]);
        for (int c = 0; c < CN; ++c) acc[r][c] = S::fmadd(pb, vv[c], acc[r][c]);
      }
    }
    for (int r = 0; r < RQ; ++r)
      for (int c = 0; c < CN; ++c) S::store(o + r * o_stride + c * W, acc[r][c]);
  }

  // pv_tile<cn> for 1 <= cn <= CN.
  template <int CN>
  static void pv_tile_n(int64_t cn, const float* p, const float* alpha, const float* v, int64_t v_stride, int64_t jn,
                        float* o, int64_t o_stride, M last) {
    if constexpr (CN > 1) {
      if (cn < CN) return pv_tile_n<CN - 1>(cn, p, alpha, v, v_stride, jn, o, o_stride, last);
    }
    pv_tile<CN>(p, alpha, v, v_stride, jn, o, o_stride, last);
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

  // One kv block [j0, j0 + jn): scores, masks, online softmax update, P V.
  template <int QV>
  static void prefill_kv_block(Prefill& st, int64_t j0, int64_t jn, bool diag) {
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
          S::store(sp, S::add(S::load(sp), S::loadu(rb + v * W)));
        }
      }
    }
    const V ninf = S::set1(-__builtin_inff());
    if (diag) {
      // Query lane r sees key j iff r >= j - off - i0: the lanes below hide.
      for (int64_t jj = 0; jj < jn; ++jj) {
        const int64_t first = j0 + jj - st.off - st.i0;
        for (int v = 0; v < QV; ++v) {
          float* sp = st.s + jj * QB + v * W;
          S::store(sp, S::blend(S::tail(first - v * W), S::load(sp), ninf));
        }
      }
    }
    for (int v = 0; v < QV; ++v) {
      const V m_old = S::load(st.m + v * W);
      V mx = m_old;
      for (int64_t jj = 0; jj < jn; ++jj) mx = S::max(mx, S::load(st.s + jj * QB + v * W));
      // A query with nothing visible yet keeps max -inf; subtract 0 instead so
      // exp2(-inf - 0) = 0 rather than NaN.
      const V m_use = S::blend(S::eq(mx, ninf), mx, S::zero());
      const V al = Math<S>::exp2(S::sub(m_old, m_use));
      V sum0 = S::zero(), sum1 = S::zero();
      int64_t jj = 0;
      for (; jj + 1 < jn; jj += 2) {
        float* s0 = st.s + jj * QB + v * W;
        const V p0 = Math<S>::exp2(S::sub(S::load(s0), m_use));
        const V p1 = Math<S>::exp2(S::sub(S::load(s0 + QB), m_use));
        S::store(s0, p0);
        S::store(s0 + QB, p1);
        sum0 = S::add(sum0, p0);
        sum1 = S::add(sum1, p1);
      }
      if (jj < jn) {
        float* s0 = st.s + jj * QB + v * W;
        const V p0 = Math<S>::exp2(S::sub(S::load(s0), m_use));
        S::store(s0, p0);
        sum0 = S::add(sum0, p0);
      }
      const V l_old = S::load(st.l + v * W);
      S::store(st.l + v * W, S::fmadd(l_old, al, S::add(sum0, sum1)));
      S::store(st.m + v * W, mx);
      S::store(st.alpha + v * W, al);
    }
    const int64_t nd = st.Dhp / W;
    const M tail = S::tail(st.Dh - (nd - 1) * W);
    const int64_t vs = a.v_strides.time;
    const float* vb = st.v + j0 * vs;
    for (int64_t r0 = 0; r0 < st.nq; r0 += RQ) {
      for (int64_t c0 = 0; c0 < nd; c0 += DC) {
        const int64_t cn = nd - c0 < DC ? nd - c0 : DC;
        pv_tile_n<DC>(cn, st.s + r0, st.alpha + r0, vb + c0 * W, vs, jn, st.o + r0 * st.Dhp + c0 * W, st.Dhp,
                      c0 + cn == nd ? tail : S::all());
      }
    }
  }

  template <int QV>
  static void prefill_loop(Prefill& st, int64_t jend, int64_t jfull) {
    for (int64_t j0 = 0; j0 < jend; j0 += KB) {
      const int64_t jn = jend - j0 < KB ? jend - j0 : KB;
      prefill_kv_block<QV>(st, j0, jn, j0 + jn > jfull);
    }
  }

  // prefill_loop<qv> for 1 <= qv <= QV.
  template <int QV>
  static void prefill_loop_n(int qv, Prefill& st, int64_t jend, int64_t jfull) {
    if constexpr (QV > 1) {
      if (qv < QV) return prefill_loop_n<QV - 1>(qv, st, jend, jfull);
    }
    prefill_loop<QV>(st, jend, jfull);
  }

  // qt[d][r] = sc * q[r][d] for r < nq, 0 for nq <= r < W QV (q rows `stride`
  // floats apart), by W x W register transposes: a column-wise scalar
  // gather over the strided rows cost a quarter of a short prefill.
  static void pack_qt(const float* q, int64_t stride, int64_t nq, int QV, int64_t Dh, float sc, float* qt) {
    const V scale = S::set1(sc);
    for (int v = 0; v < QV; ++v) {
      for (int64_t d0 = 0; d0 < Dh; d0 += W) {
        const M cols = S::tail(Dh - d0);
        V r[W];
        for (int i = 0; i < W; ++i) {
          const int64_t row = v * W + i;
          r[i] = row < nq ? S::mul(scale, S::maskz_loadu(cols, q + row * stride + d0)) : S::zero();
        }
        S::transpose(r);
        const int64_t nd = Dh - d0 < W ? Dh - d0 : W;
        for (int64_t c = 0; c < nd; ++c) S::store(qt + (d0 + c) * QB + v * W, r[c]);
      }
    }
  }

  // Decode reads every cache row once: with kPrefetch the rows of the next kv
  // block are requested (into L2) while this one is computed. From DRAM the
  // hardware prefetcher alone left the bus idle much of the time (measured
  // with AVX-512: 9 GB/s of 17); an L1 hint was slower than L2, L1 being too
  // small for a block ahead. n rows of Dh floats, `stride` floats apart.
  static void prefetch_rows(const float* p, int64_t stride, int64_t n, int64_t Dh) {
    for (int64_t r = 0; r < n; ++r)
      for (int64_t d = 0; d < Dh; d += W) __builtin_prefetch(p + r * stride + d, 0, 2);  // prefetcht1
  }

  static size_t prefill_scratch(const AttentionArgs& a) {
    // qt, o, and the reversed bias of up to Tk + QB - 1 entries.
    return static_cast<size_t>(a.Dh * QB + QB * round_up(a.Dh, W) + (a.position_bias ? a.Tk + QB : 0));
  }

  static size_t decode_scratch(int64_t Dh) { return static_cast<size_t>(round_up(Dh, W)); }

  static void prefill(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1, float* scratch) {
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
      pack_qt(q, a.q_strides.time, st.nq, QV, st.Dh, sc, st.qt);
      for (int64_t r = 0; r < round_up(st.nq, RQ); ++r)
        for (int64_t d = 0; d < st.Dhp; d += W) S::store(st.o + r * st.Dhp + d, S::zero());
      for (int v = 0; v < QV; ++v) {
        S::store(st.m + v * W, S::set1(-__builtin_inff()));
        S::store(st.l + v * W, S::zero());
      }
      prefill_loop_n<QVMax>(QV, st, jend, jfull);
    } else {
      for (int64_t r = 0; r < st.nq; ++r) st.l[r] = 0.0f;
    }
    const int64_t nd = st.Dhp / W;
    const M tail = S::tail(st.Dh - (nd - 1) * W);
    for (int64_t r = 0; r < st.nq; ++r) {
      float* out = a.out + b * a.out_strides.batch + (i0 + r) * a.out_strides.time + h * a.out_strides.head;
      const float lr = st.l[r];
      const V inv = S::set1(lr > 0.0f ? 1.0f / lr : 0.0f);
      for (int64_t c = 0; c < nd; ++c) {
        const V x = jend > 0 ? S::mul(S::load(st.o + r * st.Dhp + c * W), inv) : S::zero();
        S::mask_storeu(out + c * W, c + 1 == nd ? tail : S::all(), x);
      }
    }
  }

  static void decode(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j0, int64_t j1, float* acc,
                     float* ml, float* scratch) {
    const int64_t Dh = a.Dh, nd = round_up(Dh, W) / W;
    const M tail = S::tail(Dh - (nd - 1) * W);
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
      const M mk = c + 1 == nd ? tail : S::all();
      S::store(qs + c * W, S::mul(S::maskz_loadu(mk, q + c * W), S::set1(sc)));
      S::store(acc + c * W, S::zero());
    }
    constexpr int KD = 64;  // keys per online-softmax step
    constexpr int PF = KD;  // prefetch distance in keys
    alignas(64) float s[KD];
    const V ninf = S::set1(-__builtin_inff());
    float m = -__builtin_inff(), l = 0.0f;
    if (kPrefetch) {
      // No earlier block prefetched the first one: ask for all its K and V rows
      // at once, so that over a short cold cache their misses overlap instead
      // of queueing behind the dot products.
      prefetch_rows(kb + j0 * ks, ks, j1 - j0 < KD ? j1 - j0 : KD, Dh);
      prefetch_rows(vb + j0 * vs, vs, j1 - j0 < KD ? j1 - j0 : KD, Dh);
    }
    for (int64_t jb = j0; jb < j1; jb += KD) {
      const int64_t jn = j1 - jb < KD ? j1 - jb : KD;
      V bmax = ninf;
      const bool pf = kPrefetch && jb + PF < j1;
      for (int64_t g = 0; g < jn; g += W) {
        const float* krow[W];
        for (int r = 0; r < W; ++r) krow[r] = kb + (jb + (g + r < jn ? g + r : jn - 1)) * ks;
        if (pf) prefetch_rows(kb + (jb + PF + g) * ks, ks, j1 - (jb + PF + g) < W ? j1 - (jb + PF + g) : W, Dh);
        V dots[W];
        for (int r = 0; r < W; ++r) dots[r] = S::zero();
        for (int64_t c = 0; c + 1 < nd; ++c) {
          const V qv = S::load(qs + c * W);
          for (int r = 0; r < W; ++r) dots[r] = S::fmadd(qv, S::loadu(krow[r] + c * W), dots[r]);
        }
        const V ql = S::load(qs + (nd - 1) * W);
        for (int r = 0; r < W; ++r) dots[r] = S::fmadd(ql, S::maskz_loadu(tail, krow[r] + (nd - 1) * W), dots[r]);
        const M valid = S::tail(jn - g);
        V dv = S::sums_of(dots);
        if (bias) dv = S::fmadd(S::maskz_loadu(valid, bias + jb + g), S::set1(kLog2e), dv);
        const V sv = S::blend(valid, ninf, dv);
        S::store(s + g, sv);
        bmax = S::max(bmax, sv);
      }
      const float mx = S::reduce_max(bmax);
      const float m_new = mx > m ? mx : m;
      const float al = __builtin_exp2f(m - m_new);
      V sum = S::zero();
      for (int64_t g = 0; g < jn; g += W) {
        const V p = Math<S>::exp2(S::sub(S::load(s + g), S::set1(m_new)));
        S::store(s + g, p);
        sum = S::add(sum, p);
      }
      l = l * al + S::reduce_add(sum);
      m = m_new;
      const float* vr0 = vb + jb * vs;
      for (int64_t c0 = 0; c0 < nd; c0 += DC) {
        const int64_t cn = nd - c0 < DC ? nd - c0 : DC;
        V o[DC];
        M mk[DC];
        for (int c = 0; c < DC; ++c) {
          mk[c] = c < cn ? (c0 + c + 1 == nd ? tail : S::all()) : S::none();
          o[c] = S::mul(S::set1(al), S::maskz_loadu(mk[c], acc + (c0 + c) * W));
        }
        for (int64_t jj = 0; jj < jn; ++jj) {
          if (pf && c0 == 0 && jb + PF + jj < j1) prefetch_rows(vr0 + (PF + jj) * vs, vs, 1, Dh);
          const V pb = S::set1(s[jj]);
          const float* vr = vr0 + jj * vs + c0 * W;
          for (int c = 0; c < DC; ++c) o[c] = S::fmadd(pb, S::maskz_loadu(mk[c], vr + c * W), o[c]);
        }
        for (int c = 0; c < DC; ++c) S::mask_storeu(acc + (c0 + c) * W, mk[c], o[c]);
      }
    }
    ml[0] = m;
    ml[1] = l;
  }
};

}  // namespace
}  // namespace aiayn
