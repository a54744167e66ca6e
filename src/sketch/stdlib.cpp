#include "sketch/stdlib.hpp"

#include <algorithm>
#include <array>

#include "sketch/types.hpp"

namespace anvil::sketch {
namespace {

using K = FunctionKind;

std::vector<FunctionSpec> build_table() {
  std::vector<FunctionSpec> table{
      {"alloc", K::alloc, 1, 1, {"dtype", "llm_hint"}},
      {"load", K::load, 1, 1, {"pad"}},
      {"store", K::store, 1, 1, {}},
      {"where", K::where, 3, 3, {}},
      {"cast", K::cast, 2, 2, {}},
      {"fill", K::fill, 2, 2, {}},
      {"gemm", K::gemm, 2, 3, {"c", "trans_a", "trans_b"}},
      {"ceil", K::ceil_div, 2, 2, {}},
  };
  for (auto name :
       {"exp", "log", "sqrt", "rsqrt", "abs", "neg", "tanh", "sigmoid", "relu", "gelu", "erf"}) {
    table.push_back({name, K::unary, 1, 1, {}});
  }
  for (auto name : {"add", "sub", "mul", "div", "max", "min", "pow"}) {
    table.push_back({name, K::binary, 2, 2, {}});
  }
  for (auto name : {"reduce_sum", "reduce_max", "reduce_min", "reduce_mean", "reduce_prod"}) {
    table.push_back({name, K::reduction, 1, 2, {"axis", "keepdims"}});
  }
  for (auto name : {"argmax", "argmin"})
    table.push_back({name, K::arg_reduction, 1, 2, {"axis", "keepdims"}});
  for (auto name : {"cumsum", "cumprod"}) table.push_back({name, K::scan, 1, 2, {"axis"}});
  return table;
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

constexpr std::array<std::string_view, 4> kLoopHints{"parallel", "pipeline", "vectorize", "unroll"};
constexpr std::array<std::string_view, 4> kParallelLevels{"grididx", "blockidx", "threadidx",
                                                          "coreidx"};
constexpr std::array<std::string_view, 8> kBufferHints{
    "fastest",   "fast",        "slow",          "accumulator",
    "init_zero", "input_cache", "output_buffer", "temp_workspace"};

}  // namespace

const std::vector<FunctionSpec>& all_functions() {
  static const std::vector<FunctionSpec> table = build_table();
  return table;
}

const FunctionSpec* find_function(std::string_view name) {
  for (const auto& spec : all_functions()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool is_known_loop_hint(std::string_view name) { return contains(kLoopHints, name); }
bool is_known_parallel_level(std::string_view level) { return contains(kParallelLevels, level); }
bool is_known_buffer_hint(std::string_view name) { return contains(kBufferHints, name); }

std::string_view operator_function(std::string_view op) {
  if (op == "+") return "add";
  if (op == "-") return "sub";
  if (op == "*") return "mul";
  if (op == "/") return "div";
  return op;
}

std::optional<ScalarType> parse_scalar_type(std::string_view name) {
  constexpr std::array<std::pair<std::string_view, ScalarType>, 8> names{{
      {"f16", ScalarType::f16},
      {"bf16", ScalarType::bf16},
      {"f32", ScalarType::f32},
      {"f64", ScalarType::f64},
      {"i8", ScalarType::i8},
      {"i32", ScalarType::i32},
      {"i64", ScalarType::i64},
      {"bool", ScalarType::boolean},
  }};
  for (const auto& [text, type] : names) {
    if (text == name) return type;
  }
  return std::nullopt;
}

std::string_view scalar_type_name(ScalarType type) {
  switch (type) {
    case ScalarType::f16:
      return "f16";
    case ScalarType::bf16:
      return "bf16";
    case ScalarType::f32:
      return "f32";
    case ScalarType::f64:
      return "f64";
    case ScalarType::i8:
      return "i8";
    case ScalarType::i32:
      return "i32";
    case ScalarType::i64:
      return "i64";
    case ScalarType::boolean:
      return "bool";
  }
  return "?";
}

bool is_float(ScalarType type) {
  return type == ScalarType::f16 || type == ScalarType::bf16 || type == ScalarType::f32 ||
         type == ScalarType::f64;
}

bool is_integer(ScalarType type) {
  return type == ScalarType::i8 || type == ScalarType::i32 || type == ScalarType::i64;
}

}  // namespace anvil::sketch
