#include "docs/doc_pack.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/process.hpp"

namespace anvil::docs {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& text) {
  auto b = text.find_first_not_of(" \t\r");
  auto e = text.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : text.substr(b, e - b + 1);
}

// `"a \"b\""` -> `a "b"`: header values may be written as quoted strings.
std::string unquote(const std::string& value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return value;
  std::string out;
  for (std::size_t i = 1; i + 1 < value.size(); ++i) {
    if (value[i] == '\\' && i + 2 < value.size()) ++i;
    out += value[i];
  }
  return out;
}

std::vector<std::string> parse_list(std::string value) {
  value = trim(value);
  if (!value.empty() && value.front() == '[') value = value.substr(1);
  if (!value.empty() && value.back() == ']') value.pop_back();
  std::vector<std::string> items;
  std::stringstream in(value);
  for (std::string item; std::getline(in, item, ',');) {
    item = trim(item);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::vector<DocEntry> load_folder(const fs::path& folder, const std::string& kind) {
  std::vector<DocEntry> entries;
  if (!fs::is_directory(folder)) return entries;
  std::vector<fs::path> files;
  for (const auto& item : fs::directory_iterator(folder)) {
    if (item.path().extension() == ".md") files.push_back(item.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) entries.push_back(parse_doc_entry(file, kind));
  return entries;
}

// Appends documents while they fit the budget; says what was left out.
std::string join_within(const std::vector<const DocEntry*>& entries, std::size_t budget,
                        const EntryShortener& shorten = {}) {
  std::string out;
  std::vector<std::string> skipped;
  for (const auto* entry : entries) {
    bool long_entry = shorten && entry->text.size() > kLongEntryChars;
    std::string block = fmt::format("<!-- {} -->\n{}\n\n", entry->path.filename().string(),
                                    long_entry ? shorten(*entry) : entry->text);
    if (out.size() + block.size() > budget) {
      skipped.push_back(entry->name);
      continue;
    }
    out += block;
  }
  if (!skipped.empty()) out += fmt::format("(left out for length: {})\n", fmt::join(skipped, ", "));
  return out;
}

}  // namespace

DocEntry parse_doc_entry(const fs::path& path, const std::string& default_kind) {
  DocEntry entry;
  entry.path = path;
  entry.name = path.stem().string();
  entry.kind = default_kind;
  entry.text = read_text_file(path);
  std::istringstream in(entry.text);
  std::string line;
  if (!std::getline(in, line) || trim(line) != "---") return entry;
  while (std::getline(in, line) && trim(line) != "---") {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    if (key == "name") entry.name = value;
    if (key == "kind") entry.kind = value;
    if (key == "signature") entry.signature = unquote(value);
    if (key == "tags") entry.tags = parse_list(value);
  }
  return entry;
}

DocPack load_doc_pack(const fs::path& knowledge_root, const std::string& dsl) {
  fs::path root = knowledge_root / dsl;
  if (!fs::is_directory(root)) {
    throw UsageError("no document pack for DSL '" + dsl + "' (" + root.string() + " is missing)",
                     "add knowledge/" + dsl + "/ with basic/, api/, suggestions/ and examples/");
  }
  DocPack pack;
  pack.dsl = dsl;
  pack.basic = load_folder(root / "basic", "basic");
  pack.api = load_folder(root / "api", "api");
  pack.suggestions = load_folder(root / "suggestions", "suggestion");
  if (fs::is_directory(root / "examples")) {
    for (const auto& item : fs::recursive_directory_iterator(root / "examples")) {
      if (item.is_regular_file() && item.path().extension() == ".py")
        pack.examples.push_back(item.path());
    }
    std::sort(pack.examples.begin(), pack.examples.end());
  }
  return pack;
}

std::string select_coder_documents(const DocPack& pack, const std::vector<std::string>& functions,
                                   std::size_t budget_chars, const EntryShortener& shorten) {
  std::set<std::string> wanted(functions.begin(), functions.end());
  std::vector<std::pair<int, const DocEntry*>> ranked;
  for (const auto& entry : pack.api) {
    int shared = static_cast<int>(
        std::count_if(entry.tags.begin(), entry.tags.end(),
                      [&](const std::string& tag) { return wanted.count(tag) > 0; }));
    if (shared > 0) ranked.emplace_back(shared, &entry);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<const DocEntry*> chosen;
  for (const auto& entry : pack.basic) chosen.push_back(&entry);
  for (const auto& [shared, entry] : ranked) chosen.push_back(entry);
  for (const auto& entry : pack.suggestions) chosen.push_back(&entry);
  return join_within(chosen, budget_chars, shorten);
}

std::string suggestions_text(const DocPack& pack, std::size_t budget_chars) {
  std::vector<const DocEntry*> all;
  for (const auto& entry : pack.suggestions) all.push_back(&entry);
  return join_within(all, budget_chars);
}

}  // namespace anvil::docs
