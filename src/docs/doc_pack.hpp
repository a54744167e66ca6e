#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace anvil::docs {

// One document of a DocSpec pack. Files may start with a header block
// (`---` / `name: ...` / `kind: ...` / `signature: ...` / `tags: [a, b]` / `---`).
struct DocEntry {
  std::string name;
  std::string kind;  // basic | api | suggestion | hardware
  std::string signature;
  std::vector<std::string> tags;
  std::string text;  // the whole file
  std::filesystem::path path;
};

// `knowledge/<dsl>/`: basic/, api/, suggestions/, examples/<frontend>/.
struct DocPack {
  std::string dsl;
  std::vector<DocEntry> basic, api, suggestions;
  std::vector<std::filesystem::path> examples;  // candidate files
};

DocPack load_doc_pack(const std::filesystem::path& knowledge_root, const std::string& dsl);

DocEntry parse_doc_entry(const std::filesystem::path& path, const std::string& default_kind);

// The Coder's documents: all basic documents, the API entries whose tags meet the sketch's
// functions (most shared tags first), then the expert suggestions, cut to `budget_chars`.
// `shorten`, when given, rewrites each entry longer than `long_entry_chars` (LLM compression).
using EntryShortener = std::function<std::string(const DocEntry& entry)>;
inline constexpr std::size_t kLongEntryChars = 6000;
std::string select_coder_documents(const DocPack& pack, const std::vector<std::string>& functions,
                                   std::size_t budget_chars, const EntryShortener& shorten = {});

// All suggestions, cut to `budget_chars` (for the Conductor).
std::string suggestions_text(const DocPack& pack, std::size_t budget_chars);

}  // namespace anvil::docs
