#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace anvil::docs {

// Documents over this size should be split: a warning in check_pack, a flag in format_raw.
inline constexpr std::size_t kLargeDocumentBytes = 12 * 1024;

// One finding of check_pack. `line` is 1-based; 0 means the whole file or folder.
struct PackProblem {
  std::filesystem::path file;
  int line = 0;
  std::string severity;  // error | warning
  std::string message;
};

// Validates a pack folder `knowledge/<dsl>/`: the required folders (basic/, api/, suggestions/;
// a warning without examples/), every document's header block (opening and closing `---`, known
// keys, `name`, `kind` matching the folder, `signature` on api entries, `tags: [a, b]` of single
// tokens), names unique within the pack, a non-empty body, balanced code fences; warnings for api
// entries without tags (never selected), documents over kLargeDocumentBytes, files the loader
// ignores, and example candidates (`examples/<frontend>/*.py`) without `class ModelNew`.
// Problems come in folder order (basic, api, suggestions, examples), files sorted.
// Throws UsageError when `pack_dir` is not a folder.
std::vector<PackProblem> check_pack(const std::filesystem::path& pack_dir);

// "FILE:LINE: SEVERITY: MESSAGE" (no LINE when it is 0), for the command line.
std::string format_problem(const PackProblem& problem);

struct PackSummary {
  std::string dsl;
  int basic = 0, api = 0, suggestions = 0, examples = 0;
  std::size_t bytes = 0;          // the counted documents and candidates together
  std::size_t approx_tokens = 0;  // bytes / 4
};

// Every subfolder of `knowledge_root` with at least one of basic/, api/, suggestions/ (not
// `sketch`, `hardware` or hidden folders), sorted by name. Documents are counted as the loader
// reads them (top-level *.md of each folder), examples as *.py anywhere under examples/.
// Throws UsageError when `knowledge_root` is not a folder.
std::vector<PackSummary> list_packs(const std::filesystem::path& knowledge_root);

// Rewrites one section (`# heading` and its Markdown body) before it is written: the hook for an
// LLM that splits and normalizes text. Its result replaces the section's text under the header.
using SectionRefiner = std::function<std::string(const std::string& section_markdown)>;

struct FormatReport {
  int written = 0;                        // documents written (REVIEW.md not counted)
  std::vector<std::string> needs_review;  // also listed in <out>/REVIEW.md
};

// Turns raw documentation (a Markdown, HTML or plain-text file, or a folder of them) into a
// DocSpec pack without an LLM: splits by headings (Markdown `#`..`###` and setext, HTML
// `<h1>`..`<h3>` and Sphinx signature `<dt>`s; generic sub-headings such as "Parameters" or
// "Examples" stay with their parent), classifies each section as api, suggestion or basic, writes
// `<folder>/<name>.md` with a header block, and flags what needs a person in `<out>/REVIEW.md`.
// Throws UsageError when `out_pack_dir` exists and is not empty (nothing is ever overwritten),
// when `raw_input` is missing or holds no documentation, or when `dsl` is not a plain name.
FormatReport format_raw(const std::filesystem::path& raw_input, const std::string& dsl,
                        const std::filesystem::path& out_pack_dir,
                        const SectionRefiner& refine = {});

}  // namespace anvil::docs
