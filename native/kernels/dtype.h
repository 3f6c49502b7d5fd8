// Element types of stored weights (see gemm.h for the arithmetic of each).
#pragma once

namespace aiayn {

enum class DType : int { fp32 = 0, bf16 = 1, int8 = 2 };
constexpr int kDTypeMax = 2;

}  // namespace aiayn
