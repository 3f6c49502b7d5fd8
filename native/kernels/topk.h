// Top-k over the last dimension, optionally of the log-softmax: the candidates
// of beam search and of top-k / top-p sampling over a vocabulary.
//
// For each row r of x [rows, N], values[r*k .. r*k+k) and indices[r*k ..) are
// the k largest entries of the row and their positions, best first:
//   order   by value descending; equal values by the lower index first. NaN
//           counts as larger than any number (as argmax), all NaNs equal
//           (so by index); -0 and +0 are equal; denormals are ordered as
//           the numbers they are (the order compares bit patterns, so it does
//           not depend on FTZ/DAZ).
//   log_softmax  when true, the values ranked and returned are those of
//           log_softmax(x) (ops.h) at the chosen indices: the row's max and
//           log-sum-exp come from the same routine as the log_softmax kernel
//           of the active ISA, so each value equals what log_softmax would
//           write, bit for bit, and the result equals topk of log_softmax(x).
//           A row of all -inf gives -inf values at indices 0..k-1 (as
//           log_softmax gives -inf everywhere).
// The order is a strict total order on (value, index), so the result is
// unique: every ISA and the reference give the same indices (and, without
// log_softmax, the same values). 1 <= k <= N; values and indices must not
// overlap x or each other. Rows are independent (split over the thread pool),
// so a row's result does not depend on the other rows or the thread count.
#pragma once

#include <cstdint>

namespace aiayn {

void topk(const float* x, int64_t rows, int64_t N, int64_t k, bool log_softmax, float* values,
          int32_t* indices);

}  // namespace aiayn
