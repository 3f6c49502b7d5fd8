// Internal pieces of topk (topk.h). Declarations only: this header is included
// by TUs compiled with different ISA flags, so it must define no code.
//
// Every ISA kernel makes the same single pass over a row: the candidate value
// v (x, or (x - max) - lse with the log_softmax option) is mapped to an int32
// order key, compared with a threshold (vectorised), and the few that pass are
// offered to a selection heap kept in the row's own output slots; at the end
// the heap is sorted in place into the output. The heap and the sort are
// plain scalar code in topk.cc (baseline flags), called by every kernel.
//
// Order key of a float v (a strict order with the index as the tie-break):
//   a = bits(v) & 0x7fffffff
//   key = kTopkKeyNaN        if a > 0x7f800000 (any NaN: above +inf)
//       = -a                 if the sign bit is set (-0 -> 0, equal to +0)
//       = a                  otherwise
// so key(u) < key(v) exactly when u < v as numbers (NaN above all), with no
// floating-point compare: FTZ/DAZ (on in the pool threads) cannot change it.
#pragma once

#include <cstdint>

namespace aiayn {

constexpr int32_t kTopkKeyNaN = 0x7f800001;
// A threshold every key passes (keys are >= -0x7f800000, the key of -inf).
constexpr int32_t kTopkAcceptAll = INT32_MIN;

// The k best (value, index) pairs of one row seen so far, as a binary heap
// with the worst pair at slot 0, stored in the row's output slots.
struct TopkRow {
  float* values;     // [k]
  int32_t* indices;  // [k]
  int64_t k;
  int64_t size = 0;  // pairs held, <= k
};

int32_t topk_key(float v);

// Offers v at index i; i must be larger than every index offered before
// (so a pair whose key equals the worst's loses). Returns the threshold: a
// later candidate can enter only if its key is larger (kTopkAcceptAll while
// fewer than k pairs are held).
int32_t topk_offer(TopkRow& row, float v, int32_t i);

// Sorts the held pairs best first (value descending, index ascending).
void topk_finish(TopkRow& row);

// A row of log_softmax -inf everywhere: -inf at indices 0..k-1.
void topk_all_neg_inf(TopkRow& row);

// The rows [0, rows) of x [rows, N] into values / indices [rows, k]
// (see topk.h), single-threaded; topk.cc picks the ISA and splits rows. The
// scalar kernel is topk_scalar.cc, the SIMD ones topk_impl.h instantiated.
using TopkFn = void(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
                    int32_t* indices);
TopkFn f32_topk__scalar, f32_topk__avx2, f32_topk__avx512, f32_topk__neon;

}  // namespace aiayn
