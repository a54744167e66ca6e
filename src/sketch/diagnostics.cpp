#include "sketch/diagnostics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace anvil::sketch {
namespace {

std::string_view source_line(std::string_view source, int line) {
  std::size_t start = 0;
  for (int current = 1; current < line; ++current) {
    start = source.find('\n', start);
    if (start == std::string_view::npos) return {};
    ++start;
  }
  std::size_t end = source.find('\n', start);
  auto text =
      source.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return text;
}

}  // namespace

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

std::string render_diagnostics(const std::vector<Diagnostic>& diagnostics, std::string_view source,
                               const std::string& path) {
  auto sorted = diagnostics;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.loc.line != b.loc.line ? a.loc.line < b.loc.line : a.loc.column < b.loc.column;
  });
  std::string out;
  for (const auto& d : sorted) {
    const char* severity = d.severity == Diagnostic::Severity::error ? "error" : "warning";
    out += fmt::format("{}:{}:{}: {}: {}\n", path, d.loc.line, d.loc.column, severity, d.message);
    auto text = source_line(source, d.loc.line);
    if (text.empty()) continue;
    out += fmt::format("  {}\n  {}^\n", text,
                       std::string(static_cast<std::size_t>(std::max(d.loc.column - 1, 0)), ' '));
  }
  return out;
}

}  // namespace anvil::sketch
