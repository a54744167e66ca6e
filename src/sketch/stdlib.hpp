#pragma once

#include <string_view>
#include <vector>

namespace anvil::sketch {

// What a standard-library function does, as far as the checker and interpreter need to know.
enum class FunctionKind {
  alloc,          // alloc([dims], dtype=f32, llm_hint=[...])
  load,           // load(src -> dst, pad=0)
  store,          // store(value -> dst)
  unary,          // exp(a), relu(a), ...
  binary,         // add(a, b), max(a, b), ...
  where,          // where(cond, a, b)
  cast,           // cast(a, dtype)
  fill,           // fill(a, value)
  reduction,      // reduce_sum(a, axis=None, keepdims=False), ...
  arg_reduction,  // argmax(a, axis=None, keepdims=False), argmin
  scan,           // cumsum(a, axis=-1), cumprod
  gemm,           // gemm(a, b, c=None, trans_a=False, trans_b=False)
  ceil_div,       // ceil(a, b) on integers
};

struct FunctionSpec {
  std::string_view name;
  FunctionKind kind;
  int min_positional;
  int max_positional;
  std::vector<std::string_view> keywords;  // accepted keyword arguments
};

// The function called `name`, or null when there is none.
const FunctionSpec* find_function(std::string_view name);

const std::vector<FunctionSpec>& all_functions();

// Loop hints (`@llm_hint(...)`) and buffer hints (`alloc(..., llm_hint=[...])`) Anvil knows;
// others are accepted with a warning.
bool is_known_loop_hint(std::string_view name);
bool is_known_parallel_level(std::string_view level);
bool is_known_buffer_hint(std::string_view name);

// Binary operators written infix and the function each one means ("+" -> "add"); comparisons
// and `and`/`or` map to themselves; "//" and "%" are integer-only.
std::string_view operator_function(std::string_view op);

}  // namespace anvil::sketch
