#pragma once

#include <optional>
#include <string_view>

namespace anvil::sketch {

// Element types of tensors and buffers. Index arithmetic is i64.
enum class ScalarType { f16, bf16, f32, f64, i8, i32, i64, boolean };

std::optional<ScalarType> parse_scalar_type(std::string_view name);  // "f32", "bool", ...
std::string_view scalar_type_name(ScalarType type);
bool is_float(ScalarType type);
bool is_integer(ScalarType type);  // i8, i32, i64 (not bool)

}  // namespace anvil::sketch
