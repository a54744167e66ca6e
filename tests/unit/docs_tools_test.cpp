#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/process.hpp"
#include "core/temp_dir.hpp"
#include "docs/doc_pack.hpp"
#include "docs/doc_tools.hpp"

namespace anvil::docs {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string all_problems(const std::vector<PackProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += format_problem(p) + "\n";
  return out;
}

std::vector<PackProblem> with_severity(const std::vector<PackProblem>& problems,
                                       const std::string& severity) {
  std::vector<PackProblem> out;
  std::copy_if(problems.begin(), problems.end(), std::back_inserter(out),
               [&](const PackProblem& p) { return p.severity == severity; });
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool starts_with_header(const std::string& text) { return text.rfind("---\n", 0) == 0; }

TEST(DocsCheckPack, RealCppPackHasNoErrors) {
  auto problems = check_pack(fs::path(ANVIL_SOURCE_DIR) / "knowledge" / "cpp");
  EXPECT_TRUE(with_severity(problems, "error").empty()) << all_problems(problems);
}

// A small pack with nothing wrong; each test below breaks one thing.
class DocsCheckPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write(pack_ / "basic" / "intro.md",
          "---\nname: intro\nkind: basic\ntags: [candidate]\n---\n\n# Intro\n\nText.\n");
    write(pack_ / "api" / "load.md",
          "---\nname: load\nkind: api\nsignature: load(ptr, mask) -> block\n"
          "tags: [load, mask]\n---\n\n# load\n\n```python\nx = load(p, m)\n```\n");
    write(pack_ / "suggestions" / "tiling.md",
          "---\nname: tiling\nkind: suggestion\ntags: [gemm]\n---\n\nTile it.\n");
    write(pack_ / "examples" / "torch" / "add.py",
          "import torch\n\nclass ModelNew(torch.nn.Module):\n    pass\n");
  }

  std::vector<PackProblem> errors() { return with_severity(check_pack(pack_), "error"); }
  std::vector<PackProblem> warnings() { return with_severity(check_pack(pack_), "warning"); }

  TempDir dir_{"anvil-docs-test"};
  fs::path pack_ = dir_.path() / "mini";
};

TEST_F(DocsCheckPackTest, CleanPackHasNoProblems) {
  auto problems = check_pack(pack_);
  EXPECT_TRUE(problems.empty()) << all_problems(problems);
}

TEST_F(DocsCheckPackTest, MissingHeader) {
  write(pack_ / "api" / "store.md", "# store\n\nStores a block.\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "api" / "store.md");
  EXPECT_EQ(found[0].line, 1);
  EXPECT_TRUE(contains(found[0].message, "no header block"));
}

TEST_F(DocsCheckPackTest, UnclosedHeader) {
  write(pack_ / "basic" / "open.md", "---\nname: open\nkind: basic\n\nText.\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].line, 1);
  EXPECT_TRUE(contains(found[0].message, "never closed"));
}

TEST_F(DocsCheckPackTest, WrongKind) {
  write(pack_ / "api" / "store.md",
        "---\nname: store\nkind: basic\nsignature: store(ptr, x)\ntags: [store]\n---\n\nText.\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "api" / "store.md");
  EXPECT_EQ(found[0].line, 3);
  EXPECT_TRUE(contains(found[0].message, "kind 'basic' does not match the folder api/"));
}

TEST_F(DocsCheckPackTest, DuplicateNames) {
  write(pack_ / "suggestions" / "load_tips.md",
        "---\nkind: suggestion\nname: load\ntags: [load]\n---\n\nMask the tail.\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "suggestions" / "load_tips.md");
  EXPECT_EQ(found[0].line, 3);
  EXPECT_TRUE(contains(found[0].message, "name 'load' is already used by"));
  EXPECT_TRUE(contains(found[0].message, (pack_ / "api" / "load.md").string()));
}

TEST_F(DocsCheckPackTest, UnbalancedFences) {
  write(pack_ / "basic" / "code.md",
        "---\nname: code\nkind: basic\ntags: []\n---\n\nText.\n\n```cpp\nint x;\n```\n\n"
        "```python\nx = 1\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "basic" / "code.md");
  EXPECT_EQ(found[0].line, 13);
  EXPECT_TRUE(contains(found[0].message, "never closed"));
}

TEST_F(DocsCheckPackTest, FenceWithLanguageInsideOpenBlockWarns) {
  write(pack_ / "basic" / "code.md",
        "---\nname: code\nkind: basic\ntags: []\n---\n\n```cpp\nint x;\n\n```python\nx = 1\n"
        "```\n");
  auto found = warnings();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].line, 10);
  EXPECT_TRUE(contains(found[0].message, "opened at line 7"));
  EXPECT_TRUE(errors().empty());  // `cpp` closes at line 12: balanced, but suspicious
}

TEST_F(DocsCheckPackTest, MissingSignature) {
  write(pack_ / "api" / "store.md",
        "---\nname: store\nkind: api\ntags: [store]\n---\n\nStores a block.\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "api" / "store.md");
  EXPECT_EQ(found[0].line, 1);
  EXPECT_TRUE(contains(found[0].message, "no `signature:`"));
}

TEST_F(DocsCheckPackTest, MissingFolder) {
  fs::remove_all(pack_ / "suggestions");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "suggestions");
  EXPECT_EQ(found[0].line, 0);
  EXPECT_TRUE(contains(found[0].message, "missing required folder suggestions/"));
}

TEST_F(DocsCheckPackTest, MissingExamplesIsAWarning) {
  fs::remove_all(pack_ / "examples");
  EXPECT_TRUE(errors().empty());
  auto found = warnings();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "examples");
}

TEST_F(DocsCheckPackTest, HeaderKeysAndTags) {
  write(pack_ / "api" / "store.md",
        "---\nname: store\nkind: api\nsignature: store(p, x)\nauthor: me\ntags: store, mask\n"
        "---\n\nText.\n");
  write(pack_ / "basic" / "more.md",
        "---\nname: more\nkind: basic\ntags: [two words, , ok]\nno colon here\n---\n\nText.\n");
  auto found = errors();
  ASSERT_EQ(found.size(), 5u) << all_problems(found);
  // basic/ comes first; key syntax, then the values.
  EXPECT_EQ(found[0].file, pack_ / "basic" / "more.md");
  EXPECT_EQ(found[0].line, 5);
  EXPECT_TRUE(contains(found[0].message, "not `key: value`"));
  EXPECT_EQ(found[1].line, 4);
  EXPECT_TRUE(contains(found[1].message, "tag 'two words' is not a single token"));
  EXPECT_EQ(found[2].line, 4);
  EXPECT_TRUE(contains(found[2].message, "empty tag"));
  EXPECT_EQ(found[3].file, pack_ / "api" / "store.md");
  EXPECT_EQ(found[3].line, 5);
  EXPECT_TRUE(contains(found[3].message, "unknown header key 'author'"));
  EXPECT_EQ(found[4].line, 6);
  EXPECT_TRUE(contains(found[4].message, "bracketed list"));
}

TEST_F(DocsCheckPackTest, EmptyBody) {
  write(pack_ / "basic" / "empty.md", "---\nname: empty\nkind: basic\ntags: []\n---\n\n  \n");
  auto found = errors();
  ASSERT_EQ(found.size(), 1u) << all_problems(found);
  EXPECT_EQ(found[0].line, 5);
  EXPECT_TRUE(contains(found[0].message, "empty body"));
}

TEST_F(DocsCheckPackTest, Warnings) {
  write(pack_ / "api" / "store.md",
        "---\nname: store\nkind: api\nsignature: store(p, x)\ntags: []\n---\n\n" +
            std::string(13 * 1024, 'x') + "\n");
  write(pack_ / "examples" / "torch" / "broken.py", "class Model(torch.nn.Module):\n    pass\n");
  write(pack_ / "api" / "notes.txt", "stray");
  EXPECT_TRUE(errors().empty());
  auto found = warnings();
  ASSERT_EQ(found.size(), 4u) << all_problems(found);
  EXPECT_EQ(found[0].file, pack_ / "api" / "notes.txt");
  EXPECT_EQ(found[1].file, pack_ / "api" / "store.md");
  EXPECT_TRUE(contains(found[1].message, "over 12 KB"));
  EXPECT_EQ(found[2].line, 5);
  EXPECT_TRUE(contains(found[2].message, "no tags"));
  EXPECT_EQ(found[3].file, pack_ / "examples" / "torch" / "broken.py");
  EXPECT_TRUE(contains(found[3].message, "class ModelNew"));
}

TEST_F(DocsCheckPackTest, NotAFolderIsAUsageError) {
  EXPECT_THROW(check_pack(dir_.path() / "nope"), UsageError);
}

TEST(DocsListPacks, CountsEachPack) {
  TempDir dir("anvil-docs-test");
  fs::path root = dir.path();
  write(root / "cpp" / "basic" / "a.md", "aaaa");
  write(root / "cpp" / "basic" / "b.md", "bbbbbbbb");
  write(root / "cpp" / "basic" / "notes.txt", "not counted");
  write(root / "cpp" / "api" / "x.md", "xx");
  write(root / "cpp" / "api" / "y.md", "yy");
  write(root / "cpp" / "api" / "z.md", "zz");
  write(root / "cpp" / "suggestions" / "s.md", "ssss");
  write(root / "cpp" / "examples" / "torch" / "e1.py", std::string(100, 'e'));
  write(root / "cpp" / "examples" / "numpy" / "e2.py", std::string(50, 'f'));
  write(root / "cpp" / "README.md", "not counted");
  write(root / "triton" / "api" / "load.md", std::string(40, 't'));
  write(root / "sketch" / "basic" / "x.md", "skipped");
  write(root / "hardware" / "cpu.md", "skipped");
  write(root / "notapack" / "README.md", "skipped");

  auto packs = list_packs(root);
  ASSERT_EQ(packs.size(), 2u);
  EXPECT_EQ(packs[0].dsl, "cpp");
  EXPECT_EQ(packs[0].basic, 2);
  EXPECT_EQ(packs[0].api, 3);
  EXPECT_EQ(packs[0].suggestions, 1);
  EXPECT_EQ(packs[0].examples, 2);
  EXPECT_EQ(packs[0].bytes, 4u + 8u + 6u + 4u + 150u);
  EXPECT_EQ(packs[0].approx_tokens, (4u + 8u + 6u + 4u + 150u) / 4);
  EXPECT_EQ(packs[1].dsl, "triton");
  EXPECT_EQ(packs[1].basic, 0);
  EXPECT_EQ(packs[1].api, 1);
  EXPECT_EQ(packs[1].examples, 0);
  EXPECT_EQ(packs[1].bytes, 40u);
  EXPECT_EQ(packs[1].approx_tokens, 10u);
}

TEST(DocsListPacks, RealKnowledgeHasTheCppPack) {
  auto packs = list_packs(fs::path(ANVIL_SOURCE_DIR) / "knowledge");
  auto cpp = std::find_if(packs.begin(), packs.end(), [](const auto& p) { return p.dsl == "cpp"; });
  ASSERT_NE(cpp, packs.end());
  auto pack = load_doc_pack(fs::path(ANVIL_SOURCE_DIR) / "knowledge", "cpp");
  EXPECT_EQ(cpp->basic, static_cast<int>(pack.basic.size()));
  EXPECT_EQ(cpp->api, static_cast<int>(pack.api.size()));
  EXPECT_EQ(cpp->suggestions, static_cast<int>(pack.suggestions.size()));
  EXPECT_EQ(cpp->examples, static_cast<int>(pack.examples.size()));
  EXPECT_GT(cpp->approx_tokens, 0u);
}

const char* const kMarkdownDoc = R"(# Triton language

Triton is a language for writing GPU kernels.

## tl.load(pointer, mask=None, other=None)

Loads a block of values.

```python
x = tl.load(pointer, mask=None, other=None)
```

### Parameters

- pointer: the addresses.

## Performance tips

Use masks only on the tail.

## Memory model

## tl.store

Stores a block.

## Performance tips for `tl.dot`

Keep blocks at 16 or more.

## Allocating buffers

`empty_buffer(shape, dtype) -> tensor` allocates
without zeroing.
)";

class DocsFormatRawTest : public ::testing::Test {
 protected:
  std::string read(const fs::path& relative) { return read_text_file(out_ / relative); }
  bool flagged(const FormatReport& report, const std::string& where, const std::string& what) {
    return std::any_of(
        report.needs_review.begin(), report.needs_review.end(),
        [&](const std::string& item) { return contains(item, where) && contains(item, what); });
  }
  std::string flags(const FormatReport& report) {
    std::string out;
    for (const auto& item : report.needs_review) out += item + "\n";
    return out;
  }
  std::vector<std::string> files_in(const std::string& folder) {
    std::vector<std::string> names;
    for (const auto& item : fs::directory_iterator(out_ / folder))
      names.push_back(item.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  TempDir dir_{"anvil-docs-test"};
  fs::path out_ = dir_.path() / "triton";
};

TEST_F(DocsFormatRawTest, MarkdownSectionsBecomeEntries) {
  write(dir_.path() / "raw" / "triton.md", kMarkdownDoc);
  FormatReport report = format_raw(dir_.path() / "raw" / "triton.md", "triton", out_);

  EXPECT_EQ(report.written, 6) << flags(report);
  EXPECT_EQ(files_in("basic"), std::vector<std::string>{"triton_language.md"});
  EXPECT_EQ(files_in("api"),
            (std::vector<std::string>{"empty_buffer.md", "tl_load.md", "tl_store.md"}));
  EXPECT_EQ(files_in("suggestions"),
            (std::vector<std::string>{"performance_tips.md", "performance_tips_for_tl_dot.md"}));

  std::string load = read("api/tl_load.md");
  EXPECT_TRUE(starts_with_header(load)) << load;
  EXPECT_TRUE(contains(load,
                       "name: tl_load\nkind: api\n"
                       "signature: tl.load(pointer, mask=None, other=None)\n"
                       "tags: [tl.load, load]\n---\n"))
      << load;
  EXPECT_TRUE(contains(load, "# tl.load(pointer, mask=None, other=None)\n\nLoads a block"));
  EXPECT_TRUE(contains(load, "## Parameters\n\n- pointer: the addresses."));  // kept with it

  std::string buffer = read("api/empty_buffer.md");
  EXPECT_TRUE(contains(buffer, "signature: empty_buffer(shape, dtype) -> tensor\n")) << buffer;
  EXPECT_TRUE(contains(buffer, "tags: [empty_buffer]\n")) << buffer;

  std::string basic = read("basic/triton_language.md");
  EXPECT_TRUE(contains(basic,
                       "---\nname: triton_language\nkind: basic\ntags: []\n---\n\n"
                       "# Triton language\n\nTriton is a language"))
      << basic;
  std::string tips = read("suggestions/performance_tips.md");
  EXPECT_TRUE(contains(tips, "kind: suggestion\n")) << tips;
  EXPECT_FALSE(contains(tips, "signature:"));

  // What needs a person.
  EXPECT_TRUE(flagged(report, "api/tl_store.md", "no signature found")) << flags(report);
  EXPECT_TRUE(flagged(report, "triton.md:21", "'Memory model' has no text")) << flags(report);
  EXPECT_TRUE(flagged(report, "suggestions/performance_tips_for_tl_dot.md", "ambiguous"))
      << flags(report);
  EXPECT_EQ(report.needs_review.size(), 3u) << flags(report);
  EXPECT_FALSE(contains(read("api/tl_store.md"), "signature:"));

  std::string review = read("REVIEW.md");
  EXPECT_TRUE(contains(review, "6 documents (1 basic, 3 api, 2 suggestions)")) << review;
  for (const auto& item : report.needs_review) EXPECT_TRUE(contains(review, "- " + item + "\n"));

  // The result is a pack: only the flagged signature is an error for the checker.
  auto errors = with_severity(check_pack(out_), "error");
  ASSERT_EQ(errors.size(), 1u) << all_problems(errors);
  EXPECT_EQ(errors[0].file, out_ / "api" / "tl_store.md");
  auto pack = load_doc_pack(dir_.path(), "triton");
  EXPECT_EQ(pack.api.size(), 3u);
}

const char* const kHtmlDoc = R"(<!DOCTYPE html>
<html><head><title>Mini API</title><style>h2 { color: red; }</style></head>
<body>
<p>Mini is a small array library &amp; a test.</p>
<h2><code>mini.add(a, b)</code></h2>
<p>Adds two arrays.</p>
<pre><code class="language-python">def add(a, b):
    return a + b  # &lt;fast&gt;
</code></pre>
<h2>Best practices</h2>
<ul><li>Fuse <code>add</code> calls.</li><li>Avoid copies.</li></ul>
<h3>Examples</h3>
<p>See the tutorial.</p>
<h2>Glossary</h2>
<script>document.write("<h2>Not a heading</h2>");</script>
<h2>Memory (row_major)</h2>
<p>Row-major.</p>
</body></html>
)";

TEST_F(DocsFormatRawTest, HtmlSectionsBecomeEntries) {
  write(dir_.path() / "raw" / "mini.html", kHtmlDoc);
  FormatReport report = format_raw(dir_.path() / "raw" / "mini.html", "triton", out_);

  EXPECT_EQ(report.written, 4) << flags(report);
  EXPECT_EQ(files_in("basic"), (std::vector<std::string>{"memory_row_major.md", "mini_api.md"}));
  EXPECT_EQ(files_in("api"), std::vector<std::string>{"mini_add.md"});
  EXPECT_EQ(files_in("suggestions"), std::vector<std::string>{"best_practices.md"});

  std::string add = read("api/mini_add.md");
  EXPECT_TRUE(contains(add,
                       "name: mini_add\nkind: api\nsignature: mini.add(a, b)\n"
                       "tags: [mini.add, add]\n---\n\n# `mini.add(a, b)`\n\nAdds two arrays."))
      << add;
  EXPECT_TRUE(contains(add, "```python\ndef add(a, b):\n    return a + b  # <fast>\n```\n")) << add;

  std::string intro = read("basic/mini_api.md");  // the text before the first heading
  EXPECT_TRUE(contains(intro, "# Mini API\n\nMini is a small array library & a test.\n")) << intro;
  std::string tips = read("suggestions/best_practices.md");
  EXPECT_TRUE(contains(tips, "- Fuse `add` calls.\n- Avoid copies.\n")) << tips;
  EXPECT_TRUE(contains(tips, "## Examples\n\nSee the tutorial.")) << tips;
  for (const auto& file : {"api/mini_add.md", "basic/mini_api.md", "basic/memory_row_major.md",
                           "suggestions/best_practices.md"}) {
    std::string text = read(file);
    EXPECT_FALSE(contains(text, "</")) << file << ":\n" << text;
    EXPECT_FALSE(contains(text, "<p>")) << file;
    EXPECT_FALSE(contains(text, "Not a heading")) << file;
    EXPECT_FALSE(contains(text, "color")) << file;
  }

  EXPECT_TRUE(flagged(report, "mini.html", "'Glossary' has no text")) << flags(report);
  EXPECT_TRUE(flagged(report, "basic/memory_row_major.md", "ambiguous")) << flags(report);
  EXPECT_EQ(report.needs_review.size(), 2u) << flags(report);
  EXPECT_TRUE(with_severity(check_pack(out_), "error").empty()) << all_problems(check_pack(out_));
}

// The shape of a Sphinx API page (PyTorch, Triton): the entry is a <dt class="sig-object">.
const char* const kSphinxDoc =
    R"(<html><head><title>triton.language.load &#8212; Triton documentation</title></head>
<body><div class="related" role="navigation"><ul><li><a href="index.html">index</a></li>
<div class="inner"><p>nested navigation</p></div></ul></div>
<section id="triton-language-load">
<h1>triton.language.load<a class="headerlink" href="#triton-language-load" title="Link to this heading">&#182;</a></h1>
<dl class="py function">
<dt class="sig sig-object py" id="triton.language.load">
<span class="sig-prename descclassname"><span class="pre">triton.language.</span></span><span class="sig-name descname"><span class="pre">load</span></span><span class="sig-paren">(</span><em class="sig-param"><span class="n"><span class="pre">pointer</span></span></em>, <em class="sig-param"><span class="n"><span class="pre">mask</span></span><span class="o"><span class="pre">=</span></span><span class="default_value"><span class="pre">None</span></span></em><span class="sig-paren">)</span><a class="reference internal" href="core.html#load"><span class="viewcode-link"><span class="pre">[source]</span></span></a><a class="headerlink" href="#triton.language.load" title="Link to this definition">¶</a></dt>
<dd><p>Loads a block of data from <cite>pointer</cite>.</p>
<dl class="field-list simple"><dt class="field-odd">Parameters<span class="colon">:</span></dt>
<dd class="field-odd"><p><strong>pointer</strong> &#8211; the addresses</p></dd></dl>
</dd></dl></section>
<div class="footer">Built with Sphinx.</div>
</body></html>
)";

TEST_F(DocsFormatRawTest, SphinxSignaturesBecomeApiEntries) {
  write(dir_.path() / "raw" / "load.html", kSphinxDoc);
  FormatReport report = format_raw(dir_.path() / "raw" / "load.html", "triton", out_);
  EXPECT_EQ(files_in("api"), std::vector<std::string>{"triton_language_load.md"});
  EXPECT_TRUE(files_in("basic").empty()) << flags(report);  // the h1 only holds the entry
  std::string load = read("api/triton_language_load.md");
  EXPECT_TRUE(contains(load,
                       "name: triton_language_load\nkind: api\n"
                       "signature: triton.language.load(pointer, mask=None)\n"
                       "tags: [triton.language.load, load]\n---\n\n"
                       "# triton.language.load(pointer, mask=None)\n\n"
                       "Loads a block of data from pointer.\n\nParameters:\n\n"
                       "pointer \xE2\x80\x93 the addresses\n"))
      << load;
  for (const auto& file : {"api/triton_language_load.md"}) {
    EXPECT_FALSE(contains(read(file), "navigation")) << file;
    EXPECT_FALSE(contains(read(file), "Built with Sphinx")) << file;
    EXPECT_FALSE(contains(read(file), "[source]")) << file;
    EXPECT_FALSE(contains(read(file), "\xC2\xB6")) << file;
  }
}

TEST_F(DocsFormatRawTest, FolderOfFiles) {
  fs::path raw = dir_.path() / "raw";
  write(raw / "a.md", "# Overview\n\nText.\n");
  write(raw / "sub" / "b.txt", "Plain notes\n===========\n\nSome notes.\n");
  write(raw / "logo.png", "PNG");
  write(raw / "empty.md", "\n\n");
  write(raw / "c.html", "<h1>Overview</h1><p>Same heading again.</p>");
  FormatReport report = format_raw(raw, "triton", out_);
  EXPECT_EQ(report.written, 3) << flags(report);
  EXPECT_EQ(files_in("basic"),
            (std::vector<std::string>{"overview.md", "overview_2.md", "plain_notes.md"}));
  EXPECT_TRUE(flagged(report, "c.html", "written as 'overview_2'")) << flags(report);
  EXPECT_TRUE(flagged(report, raw.string(), "skipped 1 file(s)")) << flags(report);
  EXPECT_TRUE(flagged(report, raw.string(), "logo.png")) << flags(report);
  EXPECT_TRUE(flagged(report, "empty.md", "no text found")) << flags(report);
  EXPECT_EQ(report.needs_review.size(), 3u) << flags(report);
}

TEST_F(DocsFormatRawTest, LongSectionsAndUnclosedFencesAreFlagged) {
  std::string doc = "# Big\n\n" + std::string(13 * 1024, 'w') + "\n\n# Code\n\n```cpp\nint x;\n";
  write(dir_.path() / "raw.md", doc);
  FormatReport report = format_raw(dir_.path() / "raw.md", "triton", out_);
  EXPECT_TRUE(flagged(report, "basic/big.md", "over 12 KB")) << flags(report);
  EXPECT_TRUE(flagged(report, "basic/code.md", "never closed")) << flags(report);
  EXPECT_TRUE(contains(read("basic/code.md"), "```cpp\nint x;\n```\n"));
}

TEST_F(DocsFormatRawTest, RefinerRewritesEachSection) {
  write(dir_.path() / "raw.md", "# One\n\nFirst.\n\n# Two\n\nSecond.\n");
  std::vector<std::string> seen;
  FormatReport report =
      format_raw(dir_.path() / "raw.md", "triton", out_, [&](const std::string& section) {
        seen.push_back(section);
        return section == "# Two\n\nSecond.\n" ? std::string() : section + "\nRefined.\n";
      });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "# One\n\nFirst.\n");
  EXPECT_TRUE(contains(read("basic/one.md"), "# One\n\nFirst.\n\nRefined.\n"));
  EXPECT_TRUE(contains(read("basic/two.md"), "# Two\n\nSecond.\n"));
  EXPECT_TRUE(flagged(report, "basic/two.md", "refiner returned nothing")) << flags(report);
}

TEST_F(DocsFormatRawTest, RefusesANonEmptyOutputFolder) {
  write(dir_.path() / "raw.md", "# One\n\nFirst.\n");
  write(out_ / "api" / "keep.md", "mine");
  try {
    format_raw(dir_.path() / "raw.md", "triton", out_);
    FAIL() << "format_raw wrote into a non-empty folder";
  } catch (const UsageError& e) {
    EXPECT_TRUE(contains(e.what(), "not empty")) << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
  EXPECT_EQ(read("api/keep.md"), "mine");
  EXPECT_FALSE(fs::exists(out_ / "REVIEW.md"));
  EXPECT_FALSE(fs::exists(out_ / "basic"));

  fs::remove_all(out_);
  fs::create_directories(out_);  // an empty folder is fine
  EXPECT_EQ(format_raw(dir_.path() / "raw.md", "triton", out_).written, 1);
}

TEST_F(DocsFormatRawTest, BadInputsAreUsageErrors) {
  EXPECT_THROW(format_raw(dir_.path() / "missing.md", "triton", out_), UsageError);
  write(dir_.path() / "raw.md", "# One\n\nFirst.\n");
  EXPECT_THROW(format_raw(dir_.path() / "raw.md", "bad name", out_), UsageError);
  write(dir_.path() / "images" / "a.png", "PNG");
  EXPECT_THROW(format_raw(dir_.path() / "images", "triton", out_), UsageError);
}

TEST_F(DocsFormatRawTest, FolderNamedAfterAnotherDslIsFlagged) {
  write(dir_.path() / "raw.md", "# One\n\nFirst.\n");
  FormatReport report = format_raw(dir_.path() / "raw.md", "cuda", out_);
  EXPECT_TRUE(flagged(report, out_.string(), "the DSL is 'cuda'")) << flags(report);
}

}  // namespace
}  // namespace anvil::docs
