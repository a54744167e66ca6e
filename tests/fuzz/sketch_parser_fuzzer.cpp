// libFuzzer target: any input must parse (or fail with diagnostics) without crashing, and every
// input that parses must survive check and print, and print -> parse must give the same AST.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sketch/checker.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  auto parsed = anvil::sketch::parse_sketch_source(source, "fuzz.sketch");
  (void)anvil::sketch::render_diagnostics(parsed.diagnostics, source, "fuzz.sketch");
  if (!parsed.ok()) return 0;
  (void)anvil::sketch::check_sketch_file(parsed.file);
  auto printed = anvil::sketch::format_sketch_file(parsed.file);
  auto reparsed = anvil::sketch::parse_sketch_source(printed, "printed.sketch");
  if (!reparsed.ok() || !anvil::sketch::same_file(parsed.file, reparsed.file)) std::abort();
  return 0;
}
