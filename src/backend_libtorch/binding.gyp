{
  "variables": {
    "libtorch_dir%": "<!(node -p \"process.env.LIBTORCH_DIR || ''\")",
  },
  "targets": [
    {
      "target_name": "protoseg_libtorch",
      "sources": [
        "csrc/storage.cc",
        "csrc/elementwise.cc",
        "csrc/nn.cc",
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
        }]
      ]
    }
  ]
}
