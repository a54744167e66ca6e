#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "sketch/ast.hpp"

namespace anvil::sketch {

// A sketch lowered to one C++/OpenMP translation unit. The unit defines
//   extern "C" int ENTRY(void* const* tensors, const std::int64_t* dims)
// `tensors[i]` is the data of the i-th declared tensor (contiguous, row-major, in its dtype: f32
// float, f64 double, i64/i32/i8 intN_t, bool uint8_t 0/1, f16 and bf16 uint16_t bit patterns);
// `dims` is every declared tensor's shape, concatenated in declaration order. It returns 0, 1
// when the dims disagree with the declarations, 2 when a run-time index (a gather such as
// `logits[row, t]`) is out of range (that access is skipped). Outputs the sketch never reads are
// not zero-filled first: elements it does not store keep the caller's values.
struct CppKernel {
  std::string source;                // complete translation unit, prelude included
  std::string entry;                 // extern "C" function name: "anvil_sketch_" + sketch name
  std::vector<std::string> tensors;  // every declared tensor, declaration order = ABI order
  std::vector<std::string> outputs;  // the stored-to tensors (subset of tensors)
  std::vector<std::string> notes;    // lowering decisions a user should know
};

struct LowerOptions {
  std::map<std::string, double> constexpr_overrides;  // same meaning as InterpretOptions
};

// A sketch construct the lowering does not support, with where it is.
class LoweringError : public std::runtime_error {
 public:
  LoweringError(Location loc, const std::string& message);
  Location loc() const { return loc_; }

 private:
  Location loc_;
};

// The C++ every lowered unit starts with (src/sketch/cpp_prelude.h, embedded at build time).
const std::string& cpp_prelude();

// Lowers a sketch that passed check_sketch without errors. Deterministic: the same sketch and
// options give the same source. Throws LoweringError for what it cannot lower.
CppKernel lower_to_cpp(const Sketch& sketch, const LowerOptions& options = {});

}  // namespace anvil::sketch
