#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sketch/ast.hpp"

namespace anvil::sketch {

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  Location loc;
  std::string message;
};

bool has_errors(const std::vector<Diagnostic>& diagnostics);

// `FILE:LINE:COL: error: message`, then the source line and a caret under the column; one block
// per diagnostic, in source order. This exact text is what the Designer receives.
std::string render_diagnostics(const std::vector<Diagnostic>& diagnostics, std::string_view source,
                               const std::string& path);

}  // namespace anvil::sketch
