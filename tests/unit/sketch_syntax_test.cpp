// Lexer, parser, printer, diagnostics and checker of the Unified Sketch language.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "sketch/checker.hpp"
#include "sketch/lexer.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"

namespace anvil::sketch {
namespace {

// The RMSNorm example of knowledge/sketch/LANGUAGE.md, in canonical form.
std::string rmsnorm_sketch() {
  std::ifstream in(std::string(ANVIL_SOURCE_DIR) + "/tests/fixtures/sketches/rmsnorm.sketch");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string kRmsNorm = rmsnorm_sketch();

// A sketch body wrapped in the declarations most tests share.
std::string with_body(const std::string& body) {
  return "sketch t {\n  symbols: M, N\n  tensors:\n    x: [M, N] f32\n    h: [N] f16\n    y: [M, "
         "N] f32\n"
         "  constexpr:\n    B = 64\n\n" +
         body + "}\n";
}

std::vector<Diagnostic> diagnose(const std::string& source) {
  auto parsed = parse_sketch_source(source, "t.sketch");
  if (!parsed.ok()) return parsed.diagnostics;
  return check_sketch_file(parsed.file);
}

std::string render(const std::string& source) {
  return render_diagnostics(diagnose(source), source, "t.sketch");
}

int count(const std::vector<Diagnostic>& diagnostics, Diagnostic::Severity severity) {
  return static_cast<int>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [&](const Diagnostic& d) { return d.severity == severity; }));
}

TEST(SketchLexer, IndentationAndBracketJoining) {
  auto lexed = lex_sketch("for i in range(\n    4):\n  a = 1  # note\nb = 2\n");
  std::vector<Token::Kind> kinds;
  for (const auto& t : lexed.tokens) kinds.push_back(t.kind);
  using K = Token::Kind;
  std::vector<K> expected{K::identifier, K::identifier, K::identifier, K::identifier, K::op,
                          K::integer,    K::op,         K::op,         K::newline,    K::indent,
                          K::identifier, K::op,         K::integer,    K::newline,    K::dedent,
                          K::identifier, K::op,         K::integer,    K::newline,    K::end};
  EXPECT_EQ(kinds, expected);
  ASSERT_EQ(lexed.comments.size(), 1u);
  EXPECT_EQ(lexed.comments[0].text, "note");
  EXPECT_FALSE(lexed.comments[0].own_line);
  EXPECT_TRUE(lexed.diagnostics.empty());
}

TEST(SketchParser, ParsesTheLanguageReferenceExample) {
  auto parsed = parse_sketch_source(kRmsNorm, "rmsnorm.sketch");
  ASSERT_TRUE(parsed.ok()) << render_diagnostics(parsed.diagnostics, kRmsNorm, "rmsnorm.sketch");
  ASSERT_EQ(parsed.file.sketches.size(), 1u);
  const auto& s = parsed.file.sketches[0];
  EXPECT_EQ(s.name, "rmsnorm");
  ASSERT_EQ(s.symbols.size(), 2u);
  ASSERT_EQ(s.tensors.size(), 3u);
  EXPECT_EQ(s.tensors[1].name, "weight");
  EXPECT_EQ(s.tensors[1].dtype, "f32");
  ASSERT_EQ(s.constexprs.size(), 2u);
  EXPECT_DOUBLE_EQ(s.constexprs[1].value->float_value, 1e-6);
  ASSERT_EQ(s.body.size(), 1u);
  const auto& loop = s.body[0];
  EXPECT_EQ(loop.kind, Stmt::Kind::for_loop);
  ASSERT_EQ(loop.hints.size(), 1u);
  EXPECT_EQ(loop.hints[0].name, "parallel");
  EXPECT_EQ(*loop.hints[0].value, "grididx");
  ASSERT_EQ(loop.body.size(), 4u);
  const auto& load = loop.body[1].body[1];
  ASSERT_EQ(load.kind, Stmt::Kind::call);
  EXPECT_EQ(load.value->text, "load");
  const auto& transfer = load.value->args[0];
  ASSERT_TRUE(transfer.destination);
  EXPECT_EQ(transfer.value->kind, Expr::Kind::subscript);
  ASSERT_EQ(transfer.value->subscripts.size(), 2u);
  EXPECT_TRUE(transfer.value->subscripts[1].is_slice);
  EXPECT_EQ(output_tensor_names(s), std::vector<std::string>{"y"});
}

TEST(SketchParser, ReportsIndependentSyntaxErrorsInOneRun) {
  std::string source = with_body(
      "  for i in range(M)\n"  // line 10: missing ':'
      "    a = 1\n"
      "  b = (1 + \n"          // line 12: unclosed '('
      "  c = 3 +\n"            // line 13: missing operand
      "  for k in rang(M):\n"  // line 14: not range(...)
      "    d = 1\n"
      "  store(x -> y)\n");
  auto parsed = parse_sketch_source(source, "t.sketch");
  ASSERT_FALSE(parsed.ok());
  std::vector<int> lines;
  for (const auto& d : parsed.diagnostics) lines.push_back(d.loc.line);
  EXPECT_EQ(lines, (std::vector<int>{10, 12, 13, 14}))
      << render_diagnostics(parsed.diagnostics, source, "t");
}

TEST(SketchParser, DeepNestingIsAnErrorNotACrash) {
  std::string deep = with_body("  a = " + std::string(500, '(') + "1" + std::string(500, ')') +
                               "\n  store(x -> y)\n");
  auto parsed = parse_sketch_source(deep, "t.sketch");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.diagnostics[0].message.find("nesting is too deep"), std::string::npos);
}

TEST(SketchDiagnostics, FileLineColumnSourceAndCaret) {
  std::string source = with_body("  store(x -> yy)\n");
  auto text = render(source);
  // Sorted by position; each: FILE:LINE:COL: severity: message, the source line, a caret.
  EXPECT_EQ(
      text.substr(0, text.find("t.sketch:10:")),
      "t.sketch:1:1: error: sketch 't' stores into no tensor, so it has no outputs: store(...) its "
      "results into a declared tensor\n"
      "  sketch t {\n"
      "  ^\n")
      << text;
  EXPECT_NE(
      text.find(
          "t.sketch:10:14: error: 'yy' is used before it is allocated: add `yy = alloc([...])` "
          "before this statement\n"
          "    store(x -> yy)\n"
          "               ^\n"),
      std::string::npos)
      << text;
}

TEST(SketchPrinter, CanonicalFormAndRoundTrip) {
  std::string messy =
      "# leading comment\n"
      "sketch   t{\n"
      "    tensors:\n"
      "        x: [ M , N ] f32\n"
      "        y: [M,N] f32\n"
      "    symbols: M,N\n"
      "    @llm_hint(parallel = \"grididx\")\n"
      "    @llm_hint(unroll=2)\n"
      "    for i in range(M):   # rows\n"
      "        v = ((x[i, :] * 2.0)) + (1 - (2 - 3))\n"
      "        store(v -> y[i, :])\n"
      "}\n";
  auto parsed = parse_sketch_source(messy, "messy.sketch");
  ASSERT_TRUE(parsed.ok()) << render_diagnostics(parsed.diagnostics, messy, "messy.sketch");
  std::string canonical = format_sketch_file(parsed.file);
  EXPECT_EQ(canonical,
            "# leading comment\n"
            "sketch t {\n"
            "  symbols: M, N\n"
            "  tensors:\n"
            "    x: [M, N] f32\n"
            "    y: [M, N] f32\n"
            "\n"
            "  @llm_hint(parallel=\"grididx\", unroll=2)\n"
            "  for i in range(M):  # rows\n"
            "    v = x[i, :] * 2.0 + (1 - (2 - 3))\n"
            "    store(v -> y[i, :])\n"
            "}\n");
  auto reparsed = parse_sketch_source(canonical, "canonical.sketch");
  ASSERT_TRUE(reparsed.ok());
  EXPECT_TRUE(same_file(parsed.file, reparsed.file));
  EXPECT_EQ(format_sketch_file(reparsed.file), canonical) << "formatting is idempotent";
  auto reference = parse_sketch_source(kRmsNorm, "r");
  EXPECT_EQ(format_sketch_file(reference.file), kRmsNorm) << "the reference example is canonical";
}

TEST(SketchPrinter, KeepsEveryComment) {
  std::string source =
      "# sketch comment\n"
      "sketch p {\n"
      "  symbols: N  # sizes\n"
      "  tensors:\n"
      "    # inputs first\n"
      "    x: [N] f32  # the input\n"
      "    y: [N] f32\n"
      "  constexpr:  # tiles\n"
      "    B = 4  # tile\n"
      "\n"
      "  # copy\n"
      "  for i in range(0, N, B):  # tiles\n"
      "    t = alloc([B])\n"
      "    load(x[i:i + B] -> t)  # clamped\n"
      "    store(t -> y[i:i + B])\n"
      "  # before the brace\n"
      "}\n"
      "# after the sketch\n";
  auto parsed = parse_sketch_source(source, "c.sketch");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(format_sketch_file(parsed.file), source);
}

TEST(SketchPrinter, PrecedenceNeedsNoExtraParentheses) {
  auto parsed = parse_sketch_source(
      with_body(
          "  a = (1 < 2) == (3 < 4)\n  b = not (1 < 2 and 3 > 4) or -(-5)\n  c = 2 * (3 // 4) % 5\n"
          "  store(x -> y)\n"),
      "p");
  ASSERT_TRUE(parsed.ok());
  const auto& body = parsed.file.sketches[0].body;
  EXPECT_EQ(format_expr(*body[0].value), "(1 < 2) == (3 < 4)");
  EXPECT_EQ(format_expr(*body[1].value), "not (1 < 2 and 3 > 4) or --5");
  EXPECT_EQ(format_expr(*body[2].value), "2 * (3 // 4) % 5");
}

TEST(SketchChecker, EveryExampleOfTheLanguageReferenceIsCleanAndCanonical) {
  std::ifstream in(std::string(ANVIL_SOURCE_DIR) + "/knowledge/sketch/LANGUAGE.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int examples = 0;
  for (auto at = doc.find("```\nsketch "); at != std::string::npos;
       at = doc.find("```\nsketch ", at + 1)) {
    auto start = at + 4;
    std::string example = doc.substr(start, doc.find("```", start) - start);
    auto diagnostics = diagnose(example);
    EXPECT_TRUE(diagnostics.empty()) << render(example);
    EXPECT_EQ(format_sketch_file(parse_sketch_source(example, "doc").file), example);
    ++examples;
  }
  EXPECT_GE(examples, 3);
  EXPECT_NE(doc.find(kRmsNorm), std::string::npos)
      << "tests/fixtures/sketches/rmsnorm.sketch is the reference's example";
}

TEST(SketchChecker, ReferenceExampleIsClean) {
  auto diagnostics = diagnose(kRmsNorm);
  EXPECT_TRUE(diagnostics.empty()) << render(kRmsNorm);
}

TEST(SketchChecker, SymbolicTileExtentsCancel) {
  // start:start + B is B long whatever start is, so it fits a [B] buffer; start:N does not.
  auto clean = diagnose(
      with_body("  for r in range(M):\n    for s in range(0, N, B):\n      t = alloc([B])\n"
                "      load(x[r, s:s + B] -> t)\n      store(t -> y[r, s:s + B])\n"));
  EXPECT_EQ(count(clean, Diagnostic::Severity::error), 0);
  auto wrong =
      render(with_body("  for r in range(M):\n    for s in range(0, N, B):\n      t = alloc([B])\n"
                       "      load(x[r, s:N] -> t)\n      store(t -> y[r, s:s + B])\n"));
  EXPECT_NE(wrong.find("the load's source slice is [N - s] but its destination is [64]"),
            std::string::npos)
      << wrong;
}

TEST(SketchChecker, DtypeRulesAndWeakLiterals) {
  auto ok =
      diagnose(with_body("  for r in range(M):\n    t = alloc([N])\n    load(x[r, :] -> t)\n"
                         "    store(t * 2 + 0.5 -> y[r, :])\n"));
  EXPECT_EQ(count(ok, Diagnostic::Severity::error), 0) << "literals adopt the buffer's dtype";
  auto mixed = render(
      with_body("  for r in range(M):\n    t = alloc([N])\n    load(x[r, :] -> t)\n"
                "    v = alloc([N], dtype=f16)\n    load(h -> v)\n    store(t + v -> y[r, :])\n"));
  EXPECT_NE(mixed.find("operands have different dtypes f32 and f16"), std::string::npos) << mixed;
  auto cast =
      diagnose(with_body("  for r in range(M):\n    v = alloc([N], dtype=f16)\n    load(h -> v)\n"
                         "    store(cast(v, f32) -> y[r, :])\n"));
  EXPECT_EQ(count(cast, Diagnostic::Severity::error), 0);
}

TEST(SketchChecker, WarningsDoNotFailButAreReported) {
  auto diagnostics = diagnose(with_body(
      "  @llm_hint(teleport)\n  for r in range(M):\n    acc = alloc([N], llm_hint=[\"shiny\"])\n"
      "    acc = acc + 1\n    store(acc -> y[r, :])\n"));
  EXPECT_EQ(count(diagnostics, Diagnostic::Severity::error), 0);
  EXPECT_EQ(count(diagnostics, Diagnostic::Severity::warning), 3)
      << "unknown loop hint, unknown buffer hint, "
         "read before write without init_zero";
}

TEST(SketchChecker, ScopesEndWithTheirBlock) {
  auto text = render(with_body(
      "  for r in range(M):\n    t = alloc([N])\n  store(x[0, :] -> t)\n  store(x -> y)\n"));
  EXPECT_NE(text.find("'t' is used before it is allocated"), std::string::npos) << text;
  auto loop_var =
      render(with_body("  for r in range(M):\n    store(x -> y)\n  store(x[r, :] -> y[0, :])\n"));
  EXPECT_NE(loop_var.find("'r' is not defined"), std::string::npos) << loop_var;
}

TEST(SketchChecker, CheckedArithmeticNeverOverflows) {
  auto text =
      render(with_body("  a = 9223372036854775807 * 9223372036854775807 + 1\n  b = a // -1\n"
                       "  for i in range(9223372036854775807, 9223372036854775807 + 1):\n"
                       "    store(x -> y)\n"));
  EXPECT_EQ(text.find("error"), std::string::npos) << text;
}

}  // namespace
}  // namespace anvil::sketch
