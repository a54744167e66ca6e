#pragma once

#include <vector>

#include "sketch/ast.hpp"
#include "sketch/diagnostics.hpp"

namespace anvil::sketch {

// Static checks of a parsed sketch: declared names and scopes, use before alloc, subscript counts
// against ranks, statically known bounds, function arity and keywords, shape compatibility
// (symbolic where sizes are symbols), dtype rules, and that stores go only into tensors or
// buffers. Independent problems are all reported; warnings do not make a sketch invalid.
std::vector<Diagnostic> check_sketch(const Sketch& sketch);

// Every sketch of a file, plus file-level rules (distinct sketch names).
std::vector<Diagnostic> check_sketch_file(const SketchFile& file);

}  // namespace anvil::sketch
