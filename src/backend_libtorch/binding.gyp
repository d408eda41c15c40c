{
  "variables": {
    "libtorch_dir%": "<!(node -p \"process.env.LIBTORCH_DIR || ''\")",
    # Set by scripts/build_native.mjs: 1 when c10d + Gloo headers were found and a probe linked.
    "with_distributed%": "<!(node -p \"process.env.PROTOSEG_DISTRIBUTED === '1' ? 1 : 0\")",
    # Opt-in (PROTOSEG_WITH_NCCL=1 with a CUDA libtorch): the NCCL process group. Untested.
    "with_nccl%": "<!(node -p \"process.env.PROTOSEG_DISTRIBUTED === '1' && process.env.PROTOSEG_WITH_NCCL === '1' ? 1 : 0\")",
    "cuda_home%": "<!(node -p \"process.env.CUDA_HOME || '/usr/local/cuda'\")",
  },
  "targets": [
    {
      "target_name": "protoseg_libtorch",
      "sources": [
        "csrc/storage.cc",
        "csrc/elementwise.cc",
        "csrc/nn.cc",
        "csrc/batch_norm.cc",
        "csrc/shape.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter"],
      "conditions": [
        ["libtorch_dir==''", {
          "include_dirs": ["/usr/include", "/usr/include/torch/csrc/api/include"],
          "libraries": ["-ltorch", "-ltorch_cpu", "-lc10"]
        }, {
          "include_dirs": ["<(libtorch_dir)/include", "<(libtorch_dir)/include/torch/csrc/api/include"],
          "libraries": ["-L<(libtorch_dir)/lib", "-Wl,-rpath,<(libtorch_dir)/lib", "-ltorch", "-ltorch_cpu", "-lc10"]
        }],
        ["with_distributed==1", {
          "sources": ["csrc/distributed.cc"],
          "defines": ["PROTOSEG_WITH_DISTRIBUTED", "USE_C10D_GLOO"]
        }],
        ["with_nccl==1", {
          "defines": ["PROTOSEG_WITH_NCCL", "USE_C10D_NCCL"],
          "include_dirs": ["<(cuda_home)/include"],
          "libraries": ["-ltorch_cuda", "-lc10_cuda"]
        }]
      ]
    }
  ]
}
