#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sketch/ast.hpp"
#include "sketch/diagnostics.hpp"

namespace anvil::sketch {

struct ParseResult {
  SketchFile file;
  std::vector<Diagnostic> diagnostics;  // syntax errors; the file holds what could be parsed
  bool ok() const { return !has_errors(diagnostics); }
};

// Parses a file of one or more sketches. Recovers at statement boundaries, so independent
// syntax errors are all reported.
ParseResult parse_sketch_source(std::string_view source, const std::string& path);

}  // namespace anvil::sketch
