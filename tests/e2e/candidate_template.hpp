#pragma once

#include <string>

namespace anvil::testing {

// Parts of a scale_add candidate (tests/fixtures/tasks/scale_add.py: x * alpha + y) that a test
// may replace to build one bad behaviour at a time.
struct CandidateParts {
  std::string kernel_body =
      "    #pragma omp parallel for\n"
      "    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * alpha + y[i];\n";
  std::string init_extra;
  std::string forward_body =
      "        out = torch.empty_like(x)\n"
      "        _lib.scale_add(x.data_ptr(), y.data_ptr(), out.data_ptr(), self.alpha, x.numel())\n"
      "        return out\n";
  std::string class_line = "class ModelNew(nn.Module):\n";
  std::string prelude;
};

inline std::string render_candidate(const CandidateParts& parts) {
  return "import ctypes\n\nimport torch\nimport torch.nn as nn\nfrom anvil_rt import cpp\n\n" +
         parts.prelude +
         "SOURCE = r\"\"\"\n#include <cstdint>\n"
         "extern \"C\" void scale_add(const float* x, const float* y, float* out, float alpha, "
         "int64_t n) {\n" +
         parts.kernel_body +
         "}\n\"\"\"\n\n_lib = cpp.load(SOURCE)\n"
         "_lib.scale_add.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, "
         "ctypes.c_float, ctypes.c_int64]\n\n\n" +
         parts.class_line +
         "    def __init__(self, alpha):\n        super().__init__()\n        self.alpha = "
         "alpha\n" +
         parts.init_extra + "\n    def forward(self, x, y):\n" + parts.forward_body;
}

}  // namespace anvil::testing
