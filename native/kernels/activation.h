// The activations of the linear epilogue and of glu (declaration of the enum,
// plus the scalar definition every scalar kernel shares).
//
//   none       x
//   relu       max(x, 0)
//   gelu       0.5 x (1 + erf(x / sqrt 2))          exact GELU (PyTorch's default)
//   gelu_tanh  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//              (Hugging Face gelu_new / gelu_pytorch_tanh), computed as
//              x / (1 + e^(-2z)), z = sqrt(2/pi) (x + 0.044715 x^3): the same
//              function (1 + tanh z = 2 sigmoid(2z)) without the cancellation
//              of 1 + tanh z for negative x
//   silu       x sigmoid(x) = x / (1 + e^(-x))       (HF swish / silu)
// Non-finite inputs as PyTorch: NaN -> NaN; gelu_tanh and silu give +inf at
// +inf and NaN at -inf (x * 0); large finite negative x gives -0.
#pragma once

#include <cmath>

namespace aiayn {

enum class Activation : int { none = 0, relu = 1, gelu = 2, gelu_tanh = 3, silu = 4 };

constexpr float kGeluTanhC = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluTanhA = 0.044715f;

// Scalar definition (libm exp/erf). `static`: each translation unit keeps its
// own copy, so no code compiled for one ISA can be shared with another.
static inline float activate_scalar(float v, Activation act) {
  switch (act) {
    case Activation::relu: return v > 0.0f ? v : 0.0f;
    case Activation::gelu: return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
    case Activation::gelu_tanh: {
      const float z = kGeluTanhC * (v + kGeluTanhA * v * v * v);
      return v / (1.0f + std::exp(-2.0f * z));
    }
    case Activation::silu: return v / (1.0f + std::exp(-v));
    default: return v;
  }
}

}  // namespace aiayn
