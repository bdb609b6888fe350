{
  "variables": {
    "bins_dir%": "",
    "bins_rel%": "",
  },
  "targets": [
    {
      "target_name": "llama_backward",
      "sources": ["llama-backward.cpp"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../../native/vendor/llama.cpp/include",
        "../../native/vendor/llama.cpp/ggml/include",
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": [
        "-L<(bins_dir)",
        "-l:libllama.v0.4.0.so",
        "-l:libggml.v0.4.0.so",
        "-l:libggml-base.so",
        "-Wl,-rpath,'$$ORIGIN/<(bins_rel)'",
      ],
    }
  ]
}
