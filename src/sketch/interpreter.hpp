#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "sketch/ast.hpp"
#include "sketch/types.hpp"

namespace anvil::sketch {

// A dense row-major array. Values are held as double; f32/f16/bf16 arrays hold values rounded to
// their dtype, integer and bool arrays hold exact integers.
struct Array {
  ScalarType dtype = ScalarType::f32;
  std::vector<std::int64_t> shape;
  std::vector<double> data;

  std::size_t size() const;
};

// A run-time failure of a sketch (out-of-range index, shape mismatch the checker could not see),
// with the location of the statement or expression that failed.
class InterpretError : public std::runtime_error {
 public:
  InterpretError(Location loc, const std::string& message);
  Location loc() const { return loc_; }

 private:
  Location loc_;
};

struct InterpretOptions {
  std::map<std::string, double> constexpr_overrides;  // replaces the sketch's constexpr values
};

// Executes `sketch` on concrete inputs: `inputs` maps each input tensor's name to its array.
// Symbols are inferred from the input shapes (a symbol seen with two values is an error);
// output tensors start at zero with their declared shapes. Returns every output tensor by name.
// Expects a sketch that passed the checker; throws InterpretError otherwise or at run time.
std::map<std::string, Array> interpret(const Sketch& sketch,
                                       const std::map<std::string, Array>& inputs,
                                       const InterpretOptions& options = {});

}  // namespace anvil::sketch
