{
  "variables": {
    "kernel_cflags": ["-std=c++17", "-O3", "-fno-math-errno", "-fPIC", "-fvisibility=hidden"],
    "avx2_cflags": ["-mavx2", "-mfma", "-mf16c"],
    "avx512_cflags": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
    "neondot_cflags": ["-march=armv8.2-a+dotprod"],
    "neon_i8mm_bf16_cflags": ["-march=armv8.6-a+bf16+i8mm"]
  },
  "targets": [
    {
      "target_name": "aiayn",
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
        ["target_arch=='x64'", {"dependencies": ["aiayn_kernels_avx2", "aiayn_kernels_avx512", "aiayn_kernels_avx512vnni", "aiayn_kernels_avx512bf16"]}],
        ["target_arch=='arm64'", {"dependencies": ["aiayn_kernels_neon", "aiayn_kernels_neondot", "aiayn_kernels_neon_i8mm_bf16"]}],
        ["OS=='linux'", {"ldflags": ["-Wl,-z,nodelete"]}],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno", "-fvisibility=hidden"]
          }
        }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "aiayn_kernels_avx2",
          "type": "static_library",
          "sources": ["native/kernels/gemm_avx2.cc", "native/kernels/attention_avx2.cc", "native/kernels/ops_avx2.cc", "native/kernels/topk_avx2.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)", "<@(avx2_cflags)"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)", "<@(avx2_cflags)"]}
        },
        {
          "target_name": "aiayn_kernels_avx512",
          "type": "static_library",
          "sources": ["native/kernels/gemm_avx512.cc", "native/kernels/attention_avx512.cc", "native/kernels/ops_avx512.cc", "native/kernels/topk_avx512.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)", "<@(avx512_cflags)"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)", "<@(avx512_cflags)"]}
        },
        {
          "target_name": "aiayn_kernels_avx512vnni",
          "type": "static_library",
          "sources": ["native/kernels/gemm_avx512vnni.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)", "<@(avx512_cflags)", "-mavx512vnni"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)", "<@(avx512_cflags)", "-mavx512vnni"]}
        },
        {
          "target_name": "aiayn_kernels_avx512bf16",
          "type": "static_library",
          "sources": ["native/kernels/gemm_avx512bf16.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)", "<@(avx512_cflags)", "-mavx512vnni", "-mavx512bf16"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)", "<@(avx512_cflags)", "-mavx512vnni", "-mavx512bf16"]}
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "aiayn_kernels_neon",
          "type": "static_library",
          "sources": ["native/kernels/gemm_neon.cc", "native/kernels/attention_neon.cc", "native/kernels/ops_neon.cc", "native/kernels/topk_neon.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)"]}
        },
        {
          "target_name": "aiayn_kernels_neondot",
          "type": "static_library",
          "sources": ["native/kernels/gemm_neondot.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)", "<@(neondot_cflags)"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)", "<@(neondot_cflags)"]}
        },
        {
          "target_name": "aiayn_kernels_neon_i8mm_bf16",
          "type": "static_library",
          "sources": ["native/kernels/gemm_neonbf16.cc", "native/kernels/gemm_neoni8mm.cc"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["<@(kernel_cflags)", "<@(neon_i8mm_bf16_cflags)"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["<@(kernel_cflags)", "<@(neon_i8mm_bf16_cflags)"]}
        }
      ]
    }]
  ]
}
