{
  "variables": {
    "kernel_cflags": ["-std=c++17", "-O3", "-fno-math-errno", "-fPIC", "-fvisibility=hidden"],
    "avx2_cflags": ["-mavx2", "-mfma", "-mf16c"],
    "avx512_cflags": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c", "-Wno-maybe-uninitialized", "-Wno-uninitialized"]
  },
  "targets": [
    {
      "target_name": "aiayn_kernels_avx2",
      "type": "static_library",
      "sources": [
        "native/kernels/gemm_avx2.cc",
        "native/kernels/attention_avx2.cc",
        "native/kernels/ops_avx2.cc",
        "native/kernels/topk_avx2.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["<@(kernel_cflags)", "<@(avx2_cflags)"]
    },
    {
      "target_name": "aiayn_kernels_avx512",
      "type": "static_library",
      "sources": [
        "native/kernels/gemm_avx512.cc",
        "native/kernels/attention_avx512.cc",
        "native/kernels/ops_avx512.cc",
        "native/kernels/topk_avx512.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["<@(kernel_cflags)", "<@(avx512_cflags)"]
    },
    {
      "target_name": "aiayn_kernels_avx512vnni",
      "type": "static_library",
      "sources": ["native/kernels/gemm_avx512vnni.cc"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["<@(kernel_cflags)", "<@(avx512_cflags)", "-mavx512vnni"]
    },
    {
      "target_name": "aiayn_kernels_avx512bf16",
      "type": "static_library",
      "sources": ["native/kernels/gemm_avx512bf16.cc"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["<@(kernel_cflags)", "<@(avx512_cflags)", "-mavx512vnni", "-mavx512bf16"]
    },
    {
      "target_name": "aiayn",
      "dependencies": ["aiayn_kernels_avx2", "aiayn_kernels_avx512", "aiayn_kernels_avx512vnni", "aiayn_kernels_avx512bf16"],
      "sources": [
        "native/kernels/cpu.cc",
        "native/kernels/threadpool.cc",
        "native/kernels/gemm.cc",
        "native/kernels/gemm_scalar.cc",
        "native/kernels/attention.cc",
        "native/kernels/attention_scalar.cc",
        "native/kernels/ops.cc",
        "native/kernels/ops_scalar.cc",
        "native/kernels/topk.cc",
        "native/kernels/topk_scalar.cc",
        "native/kernels/decoder_step.cc",
        "native/addon/addon.cc",
        "native/addon/linear.cc",
        "native/addon/attention.cc",
        "native/addon/ops.cc",
        "native/addon/decoder_step.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["<@(kernel_cflags)"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["OS=='linux'", {"ldflags": ["-Wl,-z,nodelete"]}]
      ]
    }
  ]
}
