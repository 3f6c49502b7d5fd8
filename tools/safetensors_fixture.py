# Writes test/fixtures/safetensors/reference.safetensors with the upstream writer
# (safetensors 0.8.0 and numpy), so test/safetensors.test.ts checks our reader
# against a file we did not write ourselves. Dev-only: python3 tools/safetensors_fixture.py
from pathlib import Path

import numpy as np
from safetensors import TensorSpec, serialize_file

f32 = (np.arange(12, dtype=np.float32) * 0.25 - 1).reshape(3, 4)
f16 = np.array([[1.0, -2.5, 65504.0], [2.0**-24, np.inf, -np.inf]], dtype=np.float16)
bf16 = np.array([0x4049, 0x3F80, 0xC000, 0x7F80], dtype=np.uint16)  # 3.140625, 1, -2, inf
scalar = np.array(7.5, dtype=np.float32)
empty = np.zeros((0, 3), dtype=np.float32)


def spec(dtype, a):
    return TensorSpec(dtype=dtype, shape=a.shape, data_ptr=a.ctypes.data, data_len=a.nbytes)


serialize_file(
    {
        "encoder.layers.0.linear1.weight": spec("float32", f32),
        "half": spec("float16", f16),
        "brain": spec("bfloat16", bf16),
        "scalar": spec("float32", scalar),
        "empty": spec("float32", empty),
    },
    str(Path(__file__).resolve().parent.parent / "test/fixtures/safetensors/reference.safetensors"),
    metadata={"format": "pt", "writer": "safetensors 0.8.0"},
)
