// The sketch corpus (tests/sketch_corpus): every valid sketch parses, checks without errors and is
// in canonical form; every invalid sketch gets the diagnostics its `# expect:` lines announce.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "sketch/ast.hpp"
#include "sketch/checker.hpp"
#include "sketch/diagnostics.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"

namespace anvil::sketch {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(ANVIL_SOURCE_DIR) / "tests" / "sketch_corpus";
// The benchmark tasks' sketches live with the knowledge examples (the kernel database is seeded
// from them); they are valid corpus sketches too.
const fs::path kExampleSketches = fs::path(ANVIL_SOURCE_DIR) / "knowledge" / "sketch" / "examples";

// The `.sketch` files of a folder as full paths, sorted; empty when the folder is missing.
std::vector<std::string> sketch_paths(const fs::path& folder) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".sketch") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::vector<std::string> corpus_files(const std::string& folder) {
  auto paths = sketch_paths(kCorpus / folder);
  if (folder == "valid") {
    auto examples = sketch_paths(kExampleSketches);
    paths.insert(paths.end(), examples.begin(), examples.end());
  }
  return paths;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A test name from a file name: gtest allows only letters, digits and '_'.
std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// Parses and checks `source`: the syntax errors when parsing fails, else the checker's findings.
std::vector<Diagnostic> diagnose(const std::string& source, const std::string& path) {
  auto parsed = parse_sketch_source(source, path);
  if (!parsed.ok()) return parsed.diagnostics;
  auto diagnostics = parsed.diagnostics;
  auto checked = check_sketch_file(parsed.file);
  diagnostics.insert(diagnostics.end(), checked.begin(), checked.end());
  return diagnostics;
}

TEST(SketchCorpus, HasEnoughSketches) {
  EXPECT_GE(corpus_files("valid").size(), 14u) << "in " << (kCorpus / "valid");
  EXPECT_GE(corpus_files("invalid").size(), 14u) << "in " << (kCorpus / "invalid");
}

// ---- valid sketches ----

class SketchCorpusValid : public testing::TestWithParam<std::string> {};

TEST_P(SketchCorpusValid, ChecksCleanAndIsCanonical) {
  const fs::path path = GetParam();
  const std::string source = read_file(path);
  ASSERT_FALSE(source.empty()) << path;

  auto parsed = parse_sketch_source(source, path.string());
  ASSERT_TRUE(parsed.ok()) << render_diagnostics(parsed.diagnostics, source, path.string());
  ASSERT_FALSE(parsed.file.sketches.empty()) << path;

  auto diagnostics = check_sketch_file(parsed.file);
  EXPECT_FALSE(has_errors(diagnostics)) << render_diagnostics(diagnostics, source, path.string());

  const std::string printed = format_sketch_file(parsed.file);
  EXPECT_EQ(printed, source) << "not in canonical form; `anvil sketch fmt --write " << path
                             << "` rewrites it";

  auto reparsed = parse_sketch_source(printed, path.string());
  ASSERT_TRUE(reparsed.ok()) << render_diagnostics(reparsed.diagnostics, printed, path.string());
  EXPECT_TRUE(same_file(parsed.file, reparsed.file)) << "parse(print(ast)) differs from the ast";
}

INSTANTIATE_TEST_SUITE_P(Files, SketchCorpusValid, testing::ValuesIn(corpus_files("valid")),
                         test_name);

// ---- invalid sketches ----

struct Expectation {
  int line = 0;
  int column = 0;
  std::string substring;
};

// The `# expect: LINE:COL: error: SUBSTRING` lines at the top of a file, or nullopt when one is
// malformed.
// One `# expect: LINE:COL: error: SUBSTRING` line. (Parsed by hand: std::regex trips g++ 12's
// -Wmaybe-uninitialized under the sanitizers.)
std::optional<Expectation> parse_expectation(const std::string& line) {
  const std::string prefix = "# expect: ";
  if (line.rfind(prefix, 0) != 0) return std::nullopt;
  std::istringstream in(line.substr(prefix.size()));
  Expectation e;
  char colon1 = 0, colon2 = 0;
  std::string severity;
  if (!(in >> e.line >> colon1 >> e.column >> colon2 >> severity) || colon1 != ':' ||
      colon2 != ':' || severity != "error:") {
    return std::nullopt;
  }
  std::getline(in >> std::ws, e.substring);
  if (e.substring.empty()) return std::nullopt;
  return e;
}

// The `# expect:` lines at the top of a file, or nullopt when one is malformed.
std::optional<std::vector<Expectation>> expectations(const std::string& source) {
  std::vector<Expectation> found;
  std::istringstream lines(source);
  std::string line;
  while (std::getline(lines, line) && line.rfind("# expect:", 0) == 0) {
    auto expectation = parse_expectation(line);
    if (!expectation) return std::nullopt;
    found.push_back(*expectation);
  }
  return found;
}

class SketchCorpusInvalid : public testing::TestWithParam<std::string> {};

TEST_P(SketchCorpusInvalid, ReportsTheExpectedDiagnostics) {
  const fs::path path = GetParam();
  const std::string source = read_file(path);
  ASSERT_FALSE(source.empty()) << path;

  auto expected = expectations(source);
  ASSERT_TRUE(expected.has_value()) << path << ": a malformed `# expect:` line";
  ASSERT_FALSE(expected->empty()) << path << " starts with no `# expect:` line";

  const auto diagnostics = diagnose(source, path.string());
  EXPECT_TRUE(has_errors(diagnostics)) << path << " is accepted";
  const std::string rendered = render_diagnostics(diagnostics, source, path.string());
  for (const auto& expect : *expected) {
    bool present = std::any_of(diagnostics.begin(), diagnostics.end(), [&](const Diagnostic& d) {
      return d.severity == Diagnostic::Severity::error && d.loc.line == expect.line &&
             d.loc.column == expect.column && d.message.find(expect.substring) != std::string::npos;
    });
    EXPECT_TRUE(present) << "expected " << expect.line << ":" << expect.column
                         << ": error: " << expect.substring << "\ngot:\n"
                         << rendered;
  }
}

INSTANTIATE_TEST_SUITE_P(Files, SketchCorpusInvalid, testing::ValuesIn(corpus_files("invalid")),
                         test_name);

}  // namespace
}  // namespace anvil::sketch
