#pragma once

#include <string>

#include "sketch/ast.hpp"

namespace anvil::sketch {

// The canonical text of a sketch file: two-space indentation, one declaration section of each
// kind in the order symbols, tensors, constexpr, a blank line before the body, hints merged into
// one decorator per loop, minimal parentheses, comments kept.
std::string format_sketch_file(const SketchFile& file);

std::string format_expr(const Expr& expr);

}  // namespace anvil::sketch
