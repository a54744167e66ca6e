#include "docs/doc_tools.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/process.hpp"

namespace anvil::docs {
namespace {

namespace fs = std::filesystem;

constexpr auto npos = std::string::npos;

// ---------------------------------------------------------------------------------------------
// Text helpers

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool ident_start(char c) { return is_alpha(c) || c == '_'; }
bool ident_char(char c) { return is_alnum(c) || c == '_'; }

std::string trim(std::string_view text) {
  std::size_t b = 0, e = text.size();
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  return std::string(text.substr(b, e - b));
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Lines without their '\n' (and a trailing '\r'); "a\n" is one line.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

// Runs of whitespace become one space.
std::string collapse_spaces(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string read_file(const fs::path& path) { return read_text_file(path); }

void write_new_file(const fs::path& path, const std::string& text) {
  if (fs::exists(path)) {
    throw UsageError("refusing to overwrite " + path.string(),
                     "format into a new, empty folder and merge by hand");
  }
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    throw UsageError("cannot write " + path.string(),
                     "check that the output folder is writable and has free space");
  }
}

std::vector<fs::path> sorted_entries(const fs::path& folder) {
  std::vector<fs::path> entries;
  for (const auto& item : fs::directory_iterator(folder)) entries.push_back(item.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Markdown code fences (CommonMark: up to 3 spaces of indent, 3+ backticks or tildes; a closing
// fence uses the same character, is at least as long, and carries nothing else).

struct Fence {
  char ch = 0;
  std::size_t length = 0;
  bool has_info = false;
};

std::size_t fence_indent(const std::string& line) {
  std::size_t i = 0;
  while (i < line.size() && i < 4 && line[i] == ' ') ++i;
  return i;
}

std::optional<Fence> fence_opener(const std::string& line) {
  std::size_t i = fence_indent(line);
  if (i > 3 || i >= line.size() || (line[i] != '`' && line[i] != '~')) return std::nullopt;
  char ch = line[i];
  std::size_t run = 0;
  while (i + run < line.size() && line[i + run] == ch) ++run;
  if (run < 3) return std::nullopt;
  if (ch == '`' && line.find('`', i + run) != npos) return std::nullopt;
  return Fence{ch, run, !trim(std::string_view(line).substr(i + run)).empty()};
}

bool closes_fence(const std::string& line, const Fence& fence) {
  std::size_t i = fence_indent(line);
  if (i > 3) return false;
  std::size_t run = 0;
  while (i + run < line.size() && line[i + run] == fence.ch) ++run;
  return run >= fence.length && trim(std::string_view(line).substr(i + run)).empty();
}

struct FenceScan {
  std::optional<std::size_t> unclosed;                      // index of the opener never closed
  std::vector<std::pair<std::size_t, std::size_t>> nested;  // (index, opener index)
};

// Scans lines [begin, end); `nested` lists fences with an info string met inside an open block
// (a closing fence is probably missing above them).
FenceScan scan_fences(const std::vector<std::string>& lines, std::size_t begin, std::size_t end) {
  FenceScan scan;
  std::optional<Fence> open;
  std::size_t opened_at = 0;
  for (std::size_t i = begin; i < end; ++i) {
    if (open) {
      if (closes_fence(lines[i], *open)) {
        open.reset();
      } else if (auto inner = fence_opener(lines[i]); inner && inner->ch == open->ch &&
                                                      inner->length == open->length &&
                                                      inner->has_info) {
        scan.nested.emplace_back(i, opened_at);
      }
    } else if (auto opener = fence_opener(lines[i])) {
      open = opener;
      opened_at = i;
    }
  }
  if (open) scan.unclosed = opened_at;
  return scan;
}

// ---------------------------------------------------------------------------------------------
// check_pack

struct DocFolder {
  const char* folder;
  const char* kind;
};
constexpr DocFolder kDocFolders[] = {
    {"basic", "basic"}, {"api", "api"}, {"suggestions", "suggestion"}};
constexpr const char* kKnownKeys[] = {"name", "kind", "signature", "tags"};
constexpr const char* kKnownKinds[] = {"basic", "api", "suggestion", "hardware"};

class Checker {
 public:
  explicit Checker(std::vector<PackProblem>& out) : out_(out) {}

  void error(const fs::path& file, int line, std::string message) {
    out_.push_back({file, line, "error", std::move(message)});
  }
  void warning(const fs::path& file, int line, std::string message) {
    out_.push_back({file, line, "warning", std::move(message)});
  }

  void check_document(const fs::path& file, const std::string& folder,
                      const std::string& folder_kind);
  void check_examples(const fs::path& examples);

 private:
  struct Field {
    std::string value;
    int line = 0;
  };

  void check_tags(const fs::path& file, const Field& tags, bool api);
  void check_name_unique(const fs::path& file, const std::string& name, int line);

  std::vector<PackProblem>& out_;
  std::map<std::string, fs::path> names_;
};

void Checker::check_name_unique(const fs::path& file, const std::string& name, int line) {
  auto [it, inserted] = names_.emplace(name, file);
  if (!inserted) {
    error(file, line,
          fmt::format("name '{}' is already used by {}: names must be unique within the pack", name,
                      it->second.string()));
  }
}

void Checker::check_tags(const fs::path& file, const Field& tags, bool api) {
  std::string value = tags.value;
  if (value.size() < 2 || value.front() != '[' || value.back() != ']') {
    error(file, tags.line, "tags must be a bracketed list: `tags: [a, b]`");
    return;
  }
  std::string inner = trim(std::string_view(value).substr(1, value.size() - 2));
  int count = 0;
  if (!inner.empty()) {
    std::size_t start = 0;
    while (start <= inner.size()) {
      std::size_t comma = inner.find(',', start);
      if (comma == npos) comma = inner.size();
      std::string tag = trim(std::string_view(inner).substr(start, comma - start));
      if (tag.empty()) {
        error(file, tags.line, "empty tag in the list (a stray comma?)");
      } else if (std::any_of(tag.begin(), tag.end(), [](char c) {
                   return is_space(c) || c == '[' || c == ']' || c == '"' || c == '\'';
                 })) {
        error(file, tags.line,
              fmt::format("tag '{}' is not a single token (no spaces, quotes or brackets)", tag));
      } else {
        ++count;
      }
      start = comma + 1;
    }
  }
  if (api && count == 0) {
    warning(file, tags.line, "api entry has no tags: the Coder's selection never picks it");
  }
}

void Checker::check_document(const fs::path& file, const std::string& folder,
                             const std::string& folder_kind) {
  std::string text = read_file(file);
  auto lines = split_lines(text);
  if (text.size() > kLargeDocumentBytes) {
    warning(file, 0,
            fmt::format("{} bytes (over {} KB): split it into smaller entries so the selection "
                        "can keep within its budget",
                        text.size(), kLargeDocumentBytes / 1024));
  }
  if (lines.empty() || trim(lines[0]) != "---") {
    error(file, 1,
          "no header block: the file must start with a `---` line, then `name:`, `kind:` "
          "(`signature:` for api entries), `tags: [..]`, and a closing `---`");
    check_name_unique(file, file.stem().string(), 1);
    return;
  }
  std::size_t close = 1;
  while (close < lines.size() && trim(lines[close]) != "---") ++close;
  if (close == lines.size()) {
    error(file, 1, "the header block opened here is never closed (no second `---` line)");
    return;
  }

  std::map<std::string, Field> fields;
  for (std::size_t i = 1; i < close; ++i) {
    int line_no = static_cast<int>(i) + 1;
    if (trim(lines[i]).empty()) continue;
    std::size_t colon = lines[i].find(':');
    if (colon == npos) {
      error(file, line_no, "header line is not `key: value`");
      continue;
    }
    std::string key = trim(std::string_view(lines[i]).substr(0, colon));
    std::string value = trim(std::string_view(lines[i]).substr(colon + 1));
    if (std::find(std::begin(kKnownKeys), std::end(kKnownKeys), key) == std::end(kKnownKeys)) {
      error(file, line_no,
            fmt::format("unknown header key '{}' (known: name, kind, signature, tags)", key));
      continue;
    }
    if (fields.count(key) > 0) {
      error(file, line_no,
            fmt::format("header key '{}' repeats line {} (the loader keeps the last)", key,
                        fields[key].line));
    }
    fields[key] = Field{value, line_no};
  }

  // name
  std::string name = file.stem().string();
  int name_line = 1;
  if (auto it = fields.find("name"); it == fields.end()) {
    error(file, 1, "the header has no `name:`");
  } else if (it->second.value.empty()) {
    error(file, it->second.line, "`name:` is empty");
    name_line = it->second.line;
  } else {
    name = it->second.value;
    name_line = it->second.line;
  }
  check_name_unique(file, name, name_line);

  // kind
  std::string kind = folder_kind;
  if (auto it = fields.find("kind"); it == fields.end()) {
    warning(file, 1,
            fmt::format("the header has no `kind:` (the loader assumes '{}' from {}/)", folder_kind,
                        folder));
  } else {
    const std::string& value = it->second.value;
    if (std::find(std::begin(kKnownKinds), std::end(kKnownKinds), value) == std::end(kKnownKinds)) {
      error(file, it->second.line,
            fmt::format("unknown kind '{}' (basic, api, suggestion or hardware)", value));
    } else if (value != folder_kind) {
      error(file, it->second.line,
            fmt::format("kind '{}' does not match the folder {}/ (expected '{}')", value, folder,
                        folder_kind));
    }
    kind = value;
  }
  bool api = folder_kind == "api" || kind == "api";

  // signature
  if (auto it = fields.find("signature"); it == fields.end()) {
    if (api) error(file, 1, "api entry has no `signature:` line in its header");
  } else if (api && it->second.value.empty()) {
    error(file, it->second.line, "`signature:` is empty");
  } else if (!api) {
    warning(file, it->second.line,
            fmt::format("`signature:` on a {} entry is ignored (only api entries have one)",
                        folder_kind));
  }

  // tags
  if (auto it = fields.find("tags"); it != fields.end()) {
    check_tags(file, it->second, api);
  } else if (api) {
    warning(file, 1, "api entry has no `tags:`: the Coder's selection never picks it");
  }

  // body
  bool empty_body = std::all_of(lines.begin() + static_cast<std::ptrdiff_t>(close) + 1, lines.end(),
                                [](const std::string& l) { return trim(l).empty(); });
  if (empty_body) {
    error(file, static_cast<int>(close) + 1, "empty body: the document has a header and no text");
    return;
  }
  FenceScan scan = scan_fences(lines, close + 1, lines.size());
  for (const auto& [at, opened] : scan.nested) {
    warning(file, static_cast<int>(at) + 1,
            fmt::format("a fence with a language inside the code block opened at line {}: a "
                        "closing fence is probably missing above",
                        opened + 1));
  }
  if (scan.unclosed) {
    error(file, static_cast<int>(*scan.unclosed) + 1,
          "code fence opened here is never closed (unbalanced ``` fences)");
  }
}

bool defines_model_new(const std::string& text) {
  constexpr std::string_view kClass = "class ModelNew";
  for (const auto& line : split_lines(text)) {
    if (!starts_with(line, kClass)) continue;
    if (line.size() == kClass.size()) return false;
    char next = line[kClass.size()];
    if (next == '(' || next == ':' || next == ' ') return true;
  }
  return false;
}

void Checker::check_examples(const fs::path& examples) {
  std::vector<fs::path> candidates;
  for (const auto& item : fs::recursive_directory_iterator(examples)) {
    if (item.is_regular_file() && item.path().extension() == ".py")
      candidates.push_back(item.path());
  }
  std::sort(candidates.begin(), candidates.end());
  if (candidates.empty()) {
    warning(examples, 0, "examples/ holds no candidates (examples/<frontend>/*.py)");
  }
  for (const auto& file : candidates) {
    if (file.parent_path() == examples) {
      warning(file, 0, "example candidates belong in examples/<frontend>/ (e.g. examples/torch/)");
    }
    if (!defines_model_new(read_file(file))) {
      warning(file, 0, "does not define `class ModelNew`: not a candidate the Verifier accepts");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTML to Markdown (by hand: tags, entities, <pre> kept as fenced code)

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::optional<unsigned long> parse_number(std::string_view digits, int base) {
  if (digits.empty() || digits.size() > 8) return std::nullopt;
  unsigned long value = 0;
  for (char c : digits) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0 || d >= base) return std::nullopt;
    value = value * static_cast<unsigned long>(base) + static_cast<unsigned long>(d);
  }
  return value;
}

std::string decode_entities(std::string_view text) {
  static const std::map<std::string, std::string, std::less<>> kNamed = {
      {"amp", "&"},
      {"lt", "<"},
      {"gt", ">"},
      {"quot", "\""},
      {"apos", "'"},
      {"nbsp", " "},
      {"para", ""},
      {"mdash", "\xE2\x80\x94"},
      {"ndash", "\xE2\x80\x93"},
      {"hellip", "\xE2\x80\xA6"},
      {"rarr", "\xE2\x86\x92"},
      {"larr", "\xE2\x86\x90"},
      {"times", "\xC3\x97"},
      {"le", "\xE2\x89\xA4"},
      {"ge", "\xE2\x89\xA5"},
      {"ne", "\xE2\x89\xA0"},
      {"lsquo", "'"},
      {"rsquo", "'"},
      {"ldquo", "\""},
      {"rdquo", "\""},
      {"copy", "\xC2\xA9"},
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::size_t semi = text[i] == '&' ? text.find(';', i) : npos;
    if (semi == npos || semi - i > 10) {
      out += text[i];
      continue;
    }
    std::string_view name = text.substr(i + 1, semi - i - 1);
    std::optional<unsigned long> cp;
    if (starts_with(name, "#x") || starts_with(name, "#X")) {
      cp = parse_number(name.substr(2), 16);
    } else if (starts_with(name, "#")) {
      cp = parse_number(name.substr(1), 10);
    }
    if (cp && *cp != 0 && *cp <= 0x10FFFF) {
      if (*cp == 0xA0) {
        out += ' ';
      } else if (*cp != 0xB6) {  // the pilcrow Sphinx puts after headings
        append_utf8(out, *cp);
      }
      i = semi;
    } else if (auto it = kNamed.find(name); it != kNamed.end()) {
      out += it->second;
      i = semi;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string attribute(const std::string& attrs, const std::string& name) {
  std::string low = lower(attrs);
  std::size_t at = 0;
  while ((at = low.find(name, at)) != npos) {
    bool word_start = at == 0 || is_space(low[at - 1]);
    std::size_t eq = at + name.size();
    while (eq < low.size() && is_space(low[eq])) ++eq;
    if (!word_start || eq >= low.size() || low[eq] != '=') {
      at += name.size();
      continue;
    }
    std::size_t v = eq + 1;
    while (v < attrs.size() && is_space(attrs[v])) ++v;
    if (v >= attrs.size()) return "";
    if (attrs[v] == '"' || attrs[v] == '\'') {
      std::size_t end = attrs.find(attrs[v], v + 1);
      return attrs.substr(v + 1, end == npos ? npos : end - v - 1);
    }
    std::size_t end = v;
    while (end < attrs.size() && !is_space(attrs[end])) ++end;
    return attrs.substr(v, end - v);
  }
  return "";
}

std::string code_language(const std::string& attrs) {
  std::string cls = attribute(attrs, "class");
  for (std::string_view prefix : {"language-", "lang-", "highlight-"}) {
    std::size_t at = cls.find(prefix);
    if (at == npos) continue;
    std::size_t b = at + prefix.size(), e = b;
    while (e < cls.size() && (ident_char(cls[e]) || cls[e] == '+' || cls[e] == '-')) ++e;
    std::string lang = cls.substr(b, e - b);
    if (lang != "default" && lang != "none") return lang;
  }
  return "";
}

// Navigation panels, sidebars, breadcrumbs, page headers and footers: not documentation.
bool navigation(const std::string& name, const std::string& attrs) {
  if (name == "nav") return true;
  if (name != "div") return false;
  if (lower(attribute(attrs, "role")) == "navigation") return true;
  std::string cls = lower(attribute(attrs, "class"));
  std::size_t start = 0;
  while (start < cls.size()) {
    std::size_t end = cls.find(' ', start);
    if (end == npos) end = cls.size();
    std::string token = cls.substr(start, end - start);
    if (starts_with(token, "nav") || token == "header" || token == "footer" ||
        token.find("sidebar") != npos || token.find("breadcrumb") != npos)
      return true;
    start = end + 1;
  }
  return false;
}

// "load — Triton documentation" -> "load".
std::string short_title(const std::string& title) {
  std::size_t cut = title.size();
  for (std::string_view separator : {" \xE2\x80\x94 ", " | ", " - ", " (", " \xC2\xB7 "}) {
    std::size_t at = title.find(separator);
    if (at != npos && at > 0) cut = std::min(cut, at);
  }
  return trim(std::string_view(title).substr(0, cut));
}

// Sphinx writes API entries as <dt class="sig sig-object ..."> rather than headings.
bool sphinx_signature(const std::string& attrs) {
  std::string cls = " " + attribute(attrs, "class") + " ";
  return cls.find(" sig-object ") != npos;
}

struct HtmlDocument {
  std::string markdown;
  std::string title;
};

class HtmlConverter {
 public:
  HtmlDocument convert(const std::string& html);

 private:
  std::string& target() {
    if (in_title_) return title_;
    if (heading_level_ > 0) return heading_;
    return paragraph_;
  }
  void flush(const char* separator);
  void tag(const std::string& name, bool closing, const std::string& attrs);

  std::string md_, paragraph_, heading_, title_, pre_, pre_lang_;
  std::string skip_name_;  // an element being skipped whole (navigation), with its nesting
  int skip_depth_ = 0;
  int heading_level_ = 0;
  bool in_title_ = false, in_pre_ = false, skip_source_link_ = false;
};

void HtmlConverter::flush(const char* separator) {
  std::string text = trim(collapse_spaces(paragraph_));
  paragraph_.clear();
  if (text.empty() || text == "-") return;
  // Keep text from turning into Markdown structure.
  if (text[0] == '#' || starts_with(text, "```") || starts_with(text, "~~~") ||
      text.find_first_not_of("=-") == npos) {
    text = "\\" + text;
  }
  md_ += text;
  md_ += separator;
}

void HtmlConverter::tag(const std::string& name, bool closing, const std::string& attrs) {
  if (in_pre_) {
    if (name == "pre" && closing) {
      std::string code = pre_;
      while (!code.empty() && (code.front() == '\n' || code.front() == '\r')) code.erase(0, 1);
      while (!code.empty() && is_space(code.back())) code.pop_back();
      std::string fence = code.find("```") == npos ? "```" : "~~~~";
      md_ += fence + pre_lang_ + "\n" + code + "\n" + fence + "\n\n";
      in_pre_ = false;
    } else if (name == "br") {
      pre_ += '\n';
    } else if (name == "code" && !closing && pre_lang_.empty()) {
      pre_lang_ = code_language(attrs);
    }
    return;
  }
  bool heading_tag = name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6';
  bool dt_signature = name == "dt" && !closing && sphinx_signature(attrs);
  if ((heading_tag || dt_signature) && !closing) {
    flush("\n\n");
    heading_level_ = dt_signature ? 3 : name[1] - '0';
    heading_.clear();
    return;
  }
  if ((heading_tag || name == "dt") && closing && heading_level_ > 0) {
    std::string text = heading_;
    for (std::size_t at; (at = text.find("\xC2\xB6")) != npos;) text.erase(at, 2);
    text = trim(collapse_spaces(text));
    if (!text.empty())
      md_ += std::string(static_cast<std::size_t>(heading_level_), '#') + " " + text + "\n\n";
    heading_level_ = 0;
    return;
  }
  if (name == "title") {
    in_title_ = !closing;
  } else if (name == "pre" && !closing) {
    flush("\n\n");
    in_pre_ = true;
    pre_.clear();
    pre_lang_ = code_language(attrs);
  } else if (name == "code" || name == "tt") {
    target() += '`';
  } else if (name == "br") {
    if (heading_level_ > 0 || in_title_) {
      target() += ' ';
    } else {
      flush("\n");
    }
  } else if (name == "li") {
    flush("\n");
    if (!closing) paragraph_ = "- ";
  } else if (name == "ul" || name == "ol") {
    flush("\n");
    md_ += "\n";
  } else if (name == "span" && !closing && heading_level_ > 0 &&
             attribute(attrs, "class").find("viewcode-link") != npos) {
    skip_source_link_ = true;  // Sphinx's "[source]" inside a signature
  } else if (name == "span" && closing && skip_source_link_) {
    skip_source_link_ = false;
  } else if (name == "td" || name == "th") {
    target() += ' ';
  } else {
    static const std::set<std::string> kBlocks = {
        "p",     "div",   "section", "article", "header",     "footer",     "main",   "nav",
        "aside", "table", "thead",   "tbody",   "tr",         "dl",         "dt",     "dd",
        "hr",    "body",  "html",    "figure",  "blockquote", "figcaption", "details"};
    if (kBlocks.count(name) > 0) flush("\n\n");
  }
}

HtmlDocument HtmlConverter::convert(const std::string& html) {
  const std::string low = lower(html);
  std::size_t i = 0;
  while (i < html.size()) {
    if (html[i] != '<') {
      std::size_t next = html.find('<', i);
      if (next == npos) next = html.size();
      std::string text = decode_entities(std::string_view(html).substr(i, next - i));
      if (skip_depth_ > 0) {
        // inside navigation: dropped
      } else if (in_pre_) {
        pre_ += text;
      } else if (!skip_source_link_) {
        target() += text;
      }
      i = next;
      continue;
    }
    if (low.compare(i, 4, "<!--") == 0) {
      std::size_t end = html.find("-->", i + 4);
      i = end == npos ? html.size() : end + 3;
      continue;
    }
    if (i + 1 < html.size() && (html[i + 1] == '!' || html[i + 1] == '?')) {
      std::size_t end = html.find('>', i);
      i = end == npos ? html.size() : end + 1;
      continue;
    }
    std::size_t j = i + 1;
    bool closing = j < html.size() && html[j] == '/';
    if (closing) ++j;
    std::size_t name_start = j;
    while (j < html.size() && is_alnum(html[j])) ++j;
    if (j == name_start) {  // a bare '<' in text
      (in_pre_ ? pre_ : target()) += '<';
      ++i;
      continue;
    }
    std::string name = low.substr(name_start, j - name_start);
    char quote = 0;
    std::size_t k = j;
    for (; k < html.size(); ++k) {
      char c = html[k];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
    }
    std::string attrs = html.substr(j, k - j);
    i = k < html.size() ? k + 1 : html.size();
    if (skip_depth_ > 0) {
      if (name == skip_name_) skip_depth_ += closing ? -1 : 1;
      continue;
    }
    if (!closing && !in_pre_ && navigation(name, attrs)) {
      skip_name_ = name;
      skip_depth_ = 1;
      continue;
    }
    if (!closing && (name == "script" || name == "style" || name == "template")) {
      std::size_t end = low.find("</" + name, i);
      end = end == npos ? npos : low.find('>', end);
      i = end == npos ? html.size() : end + 1;
      continue;
    }
    tag(name, closing, attrs);
  }
  if (in_pre_) tag("pre", true, "");
  if (heading_level_ > 0) tag("h1", true, "");
  flush("\n\n");
  return {md_, short_title(trim(collapse_spaces(title_)))};
}

// ---------------------------------------------------------------------------------------------
// Splitting Markdown into sections

struct RawSection {
  std::string heading;  // as written (inline code kept)
  int level = 0;        // 1..3; 0 for the text before the first heading
  std::vector<std::string> body;
  std::string source;  // "FILE:LINE" or "FILE" for flags
  bool closed_fence_for_it = false;
};

bool atx_heading(const std::string& line, int& level, std::string& text) {
  std::size_t i = fence_indent(line);
  if (i > 3) return false;
  std::size_t hashes = 0;
  while (i + hashes < line.size() && line[i + hashes] == '#') ++hashes;
  if (hashes == 0 || hashes > 6) return false;
  std::size_t after = i + hashes;
  if (after < line.size() && line[after] != ' ' && line[after] != '\t') return false;
  std::string t = trim(std::string_view(line).substr(after));
  std::size_t end = t.size();
  while (end > 0 && t[end - 1] == '#') --end;
  if (end < t.size() && (end == 0 || t[end - 1] == ' ' || t[end - 1] == '\t')) {
    t = trim(std::string_view(t).substr(0, end));
  }
  level = static_cast<int>(hashes);
  text = t;
  return true;
}

int setext_level(const std::string& line) {
  if (fence_indent(line) > 3) return 0;
  std::string t = trim(line);
  if (t.size() >= 2 && t.find_first_not_of('=') == npos) return 1;
  if (t.size() >= 3 && t.find_first_not_of('-') == npos) return 2;
  return 0;
}

// Could this line be the text of a setext heading (a one-line paragraph)?
bool paragraph_line(const std::string& line) {
  std::string t = trim(line);
  if (t.empty() || fence_indent(line) > 3 || line[0] == '\t') return false;
  for (std::string_view lead : {"- ", "* ", "+ ", ">", "|", "#", "<"}) {
    if (starts_with(t, lead)) return false;
  }
  std::size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits]))) ++digits;
  return !(digits > 0 && digits < t.size() && (t[digits] == '.' || t[digits] == ')'));
}

std::vector<RawSection> split_markdown(const std::string& text, const std::string& source,
                                       const std::string& preface_heading, bool with_lines) {
  auto lines = split_lines(text);
  std::size_t first = 0;
  if (!lines.empty() && trim(lines[0]) == "---") {  // front matter
    for (std::size_t i = 1; i < lines.size() && i < 40; ++i) {
      if (trim(lines[i]) == "---") {
        first = i + 1;
        break;
      }
    }
  }
  auto where = [&](std::size_t i) {
    return with_lines ? fmt::format("{}:{}", source, i + 1) : source;
  };
  std::vector<RawSection> sections;
  RawSection current{preface_heading, 0, {}, where(first), false};
  std::optional<Fence> fence;
  std::size_t fence_line = 0;
  for (std::size_t i = first; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (fence) {
      current.body.push_back(line);
      if (closes_fence(line, *fence)) fence.reset();
      continue;
    }
    if (auto opener = fence_opener(line)) {
      fence = opener;
      fence_line = i;
      current.body.push_back(line);
      continue;
    }
    int level = 0;
    std::string heading;
    if (atx_heading(line, level, heading) && level <= 3 && !heading.empty()) {
      sections.push_back(std::move(current));
      current = RawSection{heading, level, {}, where(i), false};
      continue;
    }
    if (i + 1 < lines.size() && paragraph_line(line) &&
        (current.body.empty() || trim(current.body.back()).empty())) {
      if (int setext = setext_level(lines[i + 1]); setext > 0) {
        sections.push_back(std::move(current));
        current = RawSection{trim(line), setext, {}, where(i), false};
        ++i;
        continue;
      }
    }
    current.body.push_back(line);
  }
  if (fence) {
    current.body.push_back(std::string(fence->length, fence->ch));
    current.closed_fence_for_it = true;
    current.source = where(fence_line);
  }
  sections.push_back(std::move(current));
  return sections;
}

// ---------------------------------------------------------------------------------------------
// Classifying sections

// "a.b::c" with every part an identifier.
bool qualified_identifier(const std::string& token, std::vector<std::string>* parts = nullptr) {
  std::vector<std::string> segments;
  std::size_t i = 0;
  while (true) {
    if (i >= token.size() || !ident_start(token[i])) return false;
    std::size_t start = i;
    while (i < token.size() && ident_char(token[i])) ++i;
    segments.push_back(token.substr(start, i - start));
    if (i == token.size()) break;
    if (token[i] == '.') {
      ++i;
    } else if (token.compare(i, 2, "::") == 0) {
      i += 2;
    } else {
      return false;
    }
  }
  if (parts != nullptr) *parts = std::move(segments);
  return true;
}

// Reads as code rather than an English word: qualified (`tl.load`), snake_case or lowerCamel.
bool code_like(const std::string& token) {
  std::vector<std::string> parts;
  if (!qualified_identifier(token, &parts)) return false;
  if (parts.size() > 1) {
    return std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.size() >= 2; });
  }
  const std::string& word = parts[0];
  if (word.find('_') != npos) return word.find_first_not_of('_') != npos;
  if (!std::islower(static_cast<unsigned char>(word[0]))) return false;
  for (std::size_t i = 1; i < word.size(); ++i) {
    if (std::islower(static_cast<unsigned char>(word[i - 1])) &&
        std::isupper(static_cast<unsigned char>(word[i])))
      return true;
  }
  return false;
}

bool qualified_char(char c) { return ident_char(c) || c == '.' || c == ':'; }

// The qualified identifier that ends right before `paren` (one space allowed), or "".
std::string callee_before(const std::string& text, std::size_t paren) {
  std::size_t end = paren;
  if (end > 0 && text[end - 1] == ' ') --end;
  std::size_t start = end;
  while (start > 0 && qualified_char(text[start - 1])) --start;
  std::string callee = text.substr(start, end - start);
  return qualified_identifier(callee) ? callee : "";
}

struct HeadingInfo {
  std::string plain;  // without backticks and Sphinx leftovers
  std::vector<std::string> identifiers;
  std::string call_name;       // `name(` in the heading
  bool parenthetical = false;  // "Loads (`mask`)": a prose '(' around code, or "()"
};

void add_unique(std::vector<std::string>& items, const std::string& item) {
  if (!item.empty() && std::find(items.begin(), items.end(), item) == items.end())
    items.push_back(item);
}

HeadingInfo analyze_heading(const std::string& heading) {
  HeadingInfo info;
  for (char c : heading) {
    if (c != '`') info.plain += c;
  }
  if (auto at = info.plain.find("[source]"); at != npos) info.plain.erase(at, 8);
  info.plain = trim(info.plain);

  // `code` spans: any identifier there counts.
  for (std::size_t open = heading.find('`'); open != npos;) {
    std::size_t close = heading.find('`', open + 1);
    if (close == npos) break;
    std::string span = heading.substr(open + 1, close - open - 1);
    std::string head = trim(std::string_view(span).substr(0, span.find('(')));
    if (qualified_identifier(head)) {
      add_unique(info.identifiers, head);
    }
    open = heading.find('`', close + 1);
  }
  // Call syntax, then code-like words outside parentheses.
  const std::string& plain = info.plain;
  for (std::size_t paren = plain.find('('); paren != npos; paren = plain.find('(', paren + 1)) {
    std::string callee = callee_before(plain, paren);
    bool tight = paren > 0 && plain[paren - 1] != ' ';
    if (!callee.empty() && (tight || code_like(callee))) {
      if (info.call_name.empty()) info.call_name = callee;
    } else {
      std::size_t close = plain.find(')', paren);
      std::string inside = plain.substr(paren + 1, close == npos ? npos : close - paren - 1);
      std::string token;
      bool code = trim(inside).empty();
      for (char c : inside + " ") {
        if (qualified_char(c)) {
          token += c;
        } else {
          code = code || code_like(token);
          token.clear();
        }
      }
      info.parenthetical = info.parenthetical || code;
    }
  }
  if (!info.call_name.empty()) {
    auto& ids = info.identifiers;
    ids.erase(std::remove(ids.begin(), ids.end(), info.call_name), ids.end());
    ids.insert(ids.begin(), info.call_name);
  }
  int depth = 0;
  std::string token;
  auto take = [&]() {
    while (!token.empty() && (token.back() == '.' || token.back() == ':')) token.pop_back();
    while (!token.empty() && (token.front() == '.' || token.front() == ':')) token.erase(0, 1);
    if (code_like(token)) add_unique(info.identifiers, token);
    token.clear();
  };
  for (char c : plain + " ") {
    if (c == '(') ++depth;
    if (depth == 0 && qualified_char(c)) {
      token += c;
    } else {
      take();
    }
    if (c == ')' && depth > 0) --depth;
  }
  return info;
}

std::set<std::string> words_of(const std::string& text) {
  std::set<std::string> words;
  std::string word;
  for (char c : lower(text) + " ") {
    if (is_alnum(c)) {
      word += c;
    } else if (!word.empty()) {
      words.insert(word);
      word.clear();
    }
  }
  return words;
}

bool suggestion_heading(const std::string& plain) {
  static const std::set<std::string> kWords = {
      "performance",   "perf",         "tip",           "tips",        "pitfall",
      "pitfalls",      "optimization", "optimizations", "optimizing",  "optimisation",
      "optimisations", "optimising",   "optimize",      "optimise",    "troubleshooting",
      "gotcha",        "gotchas",      "tuning",        "antipattern", "antipatterns"};
  auto words = words_of(plain);
  for (const auto& word : words) {
    if (kWords.count(word) > 0) return true;
  }
  std::string text = collapse_spaces(lower(plain));
  for (std::string_view phrase : {"best practice", "best-practice", "common mistake",
                                  "common error", "common pitfall", "dos and don"}) {
    if (text.find(phrase) != npos) return true;
  }
  return false;
}

// Sub-headings that belong to the section above them.
bool generic_heading(const std::string& heading) {
  static const std::set<std::string> kGeneric = {"parameters",
                                                 "params",
                                                 "arguments",
                                                 "args",
                                                 "returns",
                                                 "return",
                                                 "return value",
                                                 "yields",
                                                 "raises",
                                                 "throws",
                                                 "notes",
                                                 "note",
                                                 "example",
                                                 "examples",
                                                 "see also",
                                                 "usage",
                                                 "keyword arguments",
                                                 "attributes",
                                                 "methods"};
  std::string text = lower(trim(heading));
  while (!text.empty() && (text.back() == ':' || text.back() == '.')) text.pop_back();
  return kGeneric.count(collapse_spaces(text)) > 0;
}

int paren_balance(const std::string& text) {
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
  }
  return depth;
}

bool comment_line(const std::string& t) {
  if (starts_with(t, "#pragma") || starts_with(t, "#include")) return false;
  return starts_with(t, "#") || starts_with(t, "//") || starts_with(t, "/*") ||
         starts_with(t, "*") || starts_with(t, ">>>") || starts_with(t, "...") ||
         starts_with(t, "\"\"\"") || starts_with(t, "@");
}

// A declaration or a signature (`def f(x):`, `void f(int)`, `tl.load(ptr, mask=None) -> T`),
// not a use (`y = f(x)`, `if (x)`). In prose (`prose`), only a line that is nothing but a
// signature counts: `name(args)`, `def name(args):`, `name(args) -> type`.
bool looks_like_signature(const std::string& raw, bool prose = false) {
  std::string line = trim(raw);
  if (line.empty() || comment_line(line)) return false;
  std::size_t paren = line.find('(');
  if (paren == npos || paren == 0) return false;
  std::string callee = callee_before(line, paren);
  if (callee.empty()) return false;
  if (prose) {
    if (line[paren - 1] == ' ') return false;
    std::string before = trim(std::string_view(line).substr(0, paren - callee.size()));
    static const std::set<std::string> kLeads = {"",         "def",  "async def", "class",
                                                 "function", "func", "fn"};
    if (kLeads.count(before) == 0) return false;
    char last = line.back();
    if (last != ')' && last != ':' && last != ';' && line.find("->") == npos) return false;
  }
  static const std::set<std::string> kNotCalls = {"if",     "for",    "while", "switch",
                                                  "return", "sizeof", "print", "assert",
                                                  "catch",  "with",   "elif",  "printf"};
  if (kNotCalls.count(callee) > 0) return false;
  std::string prefix = line.substr(0, paren);
  prefix = prefix.substr(0, prefix.size() - callee.size() - (prefix.back() == ' ' ? 1 : 0));
  if (prefix.find('=') != npos || prefix.find('(') != npos) return false;
  std::size_t words = words_of(prefix).size();
  return words <= 4;
}

std::string clean_signature(std::string sig) {
  sig = trim(collapse_spaces(sig));
  if (starts_with(sig, "`") && sig.size() > 1 && sig.back() == '`') {
    sig = trim(std::string_view(sig).substr(1, sig.size() - 2));
  }
  while (!sig.empty() && (sig.back() == '{' || sig.back() == ' ')) sig.pop_back();
  if ((starts_with(sig, "def ") || starts_with(sig, "async def ") || starts_with(sig, "class ")) &&
      !sig.empty() && sig.back() == ':') {
    sig.pop_back();
  }
  return trim(sig);
}

// The signature starting at lines[at], continued while its parentheses are open.
std::string signature_from(const std::vector<std::string>& lines, std::size_t at,
                           const std::function<bool(std::size_t)>& usable) {
  std::string sig = trim(lines[at]);
  int depth = paren_balance(sig);
  for (std::size_t k = at + 1; depth > 0 && k < lines.size() && k < at + 8 && usable(k); ++k) {
    std::string t = trim(lines[k]);
    if (!sig.empty() && sig.back() != '(' && !t.empty() && t[0] != ')') sig += ' ';
    sig += t;
    depth += paren_balance(t);
  }
  return clean_signature(sig);
}

struct CodeLines {
  std::vector<bool> code;  // per body line: inside a fenced or indented block
  std::optional<std::size_t> first_nonblank;
};

CodeLines code_lines(const std::vector<std::string>& body) {
  CodeLines out;
  out.code.assign(body.size(), false);
  std::optional<Fence> fence;
  bool previous_blank = true, previous_indented = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const std::string& line = body[i];
    bool blank = trim(line).empty();
    if (!blank && !out.first_nonblank) out.first_nonblank = i;
    if (fence) {
      if (closes_fence(line, *fence)) {
        fence.reset();
      } else {
        out.code[i] = true;
      }
    } else if (auto opener = fence_opener(line)) {
      fence = opener;
    } else if (!blank && (starts_with(line, "    ") || starts_with(line, "\t")) &&
               (previous_blank || previous_indented)) {
      out.code[i] = true;
    }
    previous_indented = !blank && out.code[i] && !fence;
    if (!blank) previous_blank = false;
    if (blank) previous_blank = true;
  }
  return out;
}

struct Signature {
  std::string text;
  bool at_start = false;  // the section opens with it
  bool guessed = false;   // the first code line, not a recognizable signature
};

Signature find_signature(const std::vector<std::string>& body, const HeadingInfo& heading) {
  CodeLines code = code_lines(body);
  auto in_code = [&](std::size_t k) { return code.code[k]; };
  auto anywhere = [](std::size_t) { return true; };
  if (code.first_nonblank) {
    std::size_t f = *code.first_nonblank;
    if (fence_opener(body[f])) {  // opens with a code block: its first line
      for (std::size_t k = f + 1; k < body.size() && code.code[k]; ++k) {
        if (trim(body[k]).empty()) continue;
        if (looks_like_signature(body[k])) return {signature_from(body, k, in_code), true, false};
        break;
      }
    } else {
      std::string t = trim(body[f]);
      if (t.size() > 2 && t[0] == '`' && t[1] != '`') {  // opens with inline code: that span
        std::size_t close = t.find('`', 1);
        if (close != npos) t = t.substr(1, close - 1);
      }
      if (code.code[f] && looks_like_signature(t)) {
        return {signature_from(body, f, in_code), true, false};
      }
      if (!code.code[f] && looks_like_signature(t, true)) {
        return {signature_from({t}, 0, anywhere), true, false};
      }
    }
  }
  if (!heading.call_name.empty()) return {clean_signature(heading.plain), false, false};
  for (std::size_t k = 0; k < body.size(); ++k) {
    if (code.code[k] && looks_like_signature(body[k]))
      return {signature_from(body, k, in_code), false, false};
  }
  for (std::size_t k = 0; k < body.size(); ++k) {
    std::string t = trim(body[k]);
    if (code.code[k] && !t.empty() && !comment_line(t)) return {clean_signature(t), false, true};
  }
  return {};
}

// One blank line at most between blocks (code blocks are left as they are).
std::vector<std::string> squeeze_blank_lines(const std::vector<std::string>& body) {
  std::vector<std::string> out;
  std::vector<bool> code = code_lines(body).code;
  for (std::size_t i = 0; i < body.size(); ++i) {
    bool blank = trim(body[i]).empty() && !code[i];
    if (blank && !out.empty() && trim(out.back()).empty()) continue;
    out.push_back(blank ? "" : body[i]);
  }
  return out;
}

std::string slugify(const std::string& text) {
  std::string slug;
  for (char c : text) {
    if (is_alnum(c)) {
      slug += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!slug.empty() && slug.back() != '_') {
      slug += '_';
    }
  }
  while (!slug.empty() && slug.back() == '_') slug.pop_back();
  if (slug.size() > 60) {
    slug.resize(60);
    while (!slug.empty() && slug.back() == '_') slug.pop_back();
  }
  return slug.empty() ? "section" : slug;
}

std::string sanitize_tag(const std::string& tag) {
  std::string out;
  for (char c : tag) {
    if (qualified_char(c) || c == '-') out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// format_raw

enum class RawFormat { markdown, html, text, unknown };

RawFormat format_of(const fs::path& file) {
  std::string ext = lower(file.extension().string());
  if (ext == ".md" || ext == ".markdown" || ext == ".mdown" || ext == ".mkd")
    return RawFormat::markdown;
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return RawFormat::html;
  if (ext == ".txt" || ext == ".text" || ext == ".rst" || ext.empty()) return RawFormat::text;
  return RawFormat::unknown;
}

bool looks_like_html(const std::string& text) {
  std::string head = lower(text.substr(0, 4096));
  for (std::string_view marker : {"<html", "<!doctype html", "<body", "<h1", "<h2", "<p>"}) {
    if (head.find(marker) != npos) return true;
  }
  return false;
}

struct Planned {
  std::string folder, kind, name, signature, heading, markdown, source;
  std::vector<std::string> tags;
};

class Formatter {
 public:
  Formatter(const fs::path& raw_input, const std::string& dsl, const fs::path& out,
            const SectionRefiner& refine)
      : raw_(raw_input), out_(out), dsl_(dsl), refine_(refine) {}

  FormatReport run();

 private:
  void flag(const std::string& where, const std::string& message) {
    report_.needs_review.push_back(where + ": " + message);
  }
  std::vector<fs::path> input_files();
  std::vector<RawSection> read_sections(const fs::path& file);
  void plan(std::vector<RawSection> sections);
  std::string unique_name(const std::string& wanted, const std::string& where);
  void write_review(const std::map<std::string, int>& counts);

  fs::path raw_, out_;
  std::string dsl_;
  const SectionRefiner& refine_;
  FormatReport report_;
  std::set<std::string> names_;
  std::vector<Planned> planned_;
};

std::vector<fs::path> Formatter::input_files() {
  if (!fs::exists(raw_)) {
    throw UsageError("raw documentation not found: " + raw_.string(),
                     "pass a Markdown, HTML or text file, or a folder of them");
  }
  if (!fs::is_directory(raw_)) return {raw_};
  std::vector<fs::path> files, skipped;
  for (auto it = fs::recursive_directory_iterator(raw_); it != fs::recursive_directory_iterator();
       ++it) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    (format_of(it->path()) == RawFormat::unknown ? skipped : files).push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::sort(skipped.begin(), skipped.end());
  if (!skipped.empty()) {
    std::vector<std::string> shown;
    for (std::size_t i = 0; i < skipped.size() && i < 10; ++i)
      shown.push_back(fs::relative(skipped[i], raw_).string());
    if (skipped.size() > 10) shown.push_back(fmt::format("and {} more", skipped.size() - 10));
    flag(raw_.string(), fmt::format("skipped {} file(s) that are not Markdown, HTML or text: {}",
                                    skipped.size(), join(shown, ", ")));
  }
  if (files.empty()) {
    throw UsageError("no Markdown, HTML or text files under " + raw_.string(),
                     "point at the folder that holds the documentation (.md, .html, .txt)");
  }
  return files;
}

std::vector<RawSection> Formatter::read_sections(const fs::path& file) {
  std::string text = read_file(file);
  std::string source =
      fs::is_directory(raw_) ? fs::relative(file, raw_).string() : file.filename().string();
  RawFormat format = format_of(file);
  if (format == RawFormat::unknown || (format == RawFormat::text && looks_like_html(text))) {
    format = looks_like_html(text) ? RawFormat::html : RawFormat::text;
  }
  if (format == RawFormat::html) {
    HtmlDocument doc = HtmlConverter().convert(text);
    std::string preface = doc.title.empty() ? file.stem().string() : doc.title;
    return split_markdown(doc.markdown, source, preface, false);
  }
  return split_markdown(text, source, file.stem().string(), true);
}

std::string Formatter::unique_name(const std::string& wanted, const std::string& where) {
  std::string name = wanted;
  for (int n = 2; names_.count(name) > 0; ++n) name = fmt::format("{}_{}", wanted, n);
  if (name != wanted) {
    flag(where, fmt::format("the name '{}' was taken by an earlier section: written as '{}'",
                            wanted, name));
  }
  names_.insert(name);
  return name;
}

void Formatter::plan(std::vector<RawSection> sections) {
  // Generic sub-headings ("Parameters", "Examples") stay with the section above them.
  std::vector<RawSection> merged;
  for (auto& section : sections) {
    if (!merged.empty() && section.level > merged.back().level &&
        generic_heading(section.heading)) {
      auto& parent = merged.back();
      parent.body.push_back("");
      parent.body.push_back("## " + section.heading);
      parent.body.push_back("");
      parent.body.insert(parent.body.end(), section.body.begin(), section.body.end());
      parent.closed_fence_for_it = parent.closed_fence_for_it || section.closed_fence_for_it;
      continue;
    }
    merged.push_back(std::move(section));
  }

  for (std::size_t i = 0; i < merged.size(); ++i) {
    RawSection& section = merged[i];
    auto& body = section.body;
    while (!body.empty() && trim(body.back()).empty()) body.pop_back();
    std::size_t lead = 0;
    while (lead < body.size() && trim(body[lead]).empty()) ++lead;
    body.erase(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(lead));
    if (body.empty()) {
      bool container = i + 1 < merged.size() && merged[i + 1].level > section.level;
      if (section.level > 0 && !container) {
        flag(section.source, fmt::format("section '{}' has no text: not written (add text under "
                                         "the heading, or drop it)",
                                         section.heading));
      }
      continue;
    }

    HeadingInfo heading = analyze_heading(section.heading);
    Signature opening = find_signature(body, heading);
    bool api_cue = !heading.call_name.empty() || !heading.identifiers.empty() || opening.at_start;
    bool suggestion_cue = suggestion_heading(heading.plain);
    Planned doc;
    doc.heading = section.heading;
    doc.source = section.source;
    std::vector<std::string> notes;
    if (api_cue && suggestion_cue) {
      doc.kind = "suggestion";
      notes.push_back(
          "ambiguous classification: the heading names code and reads as advice; written as a "
          "suggestion (move it to api/ with a signature if it documents one API)");
    } else if (api_cue) {
      doc.kind = "api";
    } else if (suggestion_cue) {
      doc.kind = "suggestion";
    } else {
      doc.kind = "basic";
      if (heading.parenthetical && section.level > 0) {
        notes.push_back(
            "ambiguous classification: the heading has '(' but reads as prose; written as "
            "basic (move it to api/ if it documents an API)");
      }
    }
    doc.folder = doc.kind == "suggestion" ? "suggestions" : doc.kind;

    std::string wanted;
    if (doc.kind == "api") {
      std::size_t paren = opening.text.find('(');
      std::string callee = paren == npos ? "" : callee_before(opening.text, paren);
      wanted = !heading.call_name.empty()     ? heading.call_name
               : !heading.identifiers.empty() ? heading.identifiers.front()
               : !callee.empty()              ? callee
                                              : heading.plain;
    } else {
      wanted = heading.plain;
    }
    doc.name = unique_name(slugify(wanted), section.source);

    // Tags: identifiers in the heading (and their last part), plus the signature's callee.
    std::vector<std::string> tags;
    auto add_identifier = [&](const std::string& id) {
      add_unique(tags, sanitize_tag(id));
      std::vector<std::string> parts;
      if (qualified_identifier(id, &parts) && parts.size() > 1)
        add_unique(tags, sanitize_tag(parts.back()));
    };
    for (const auto& id : heading.identifiers) add_identifier(id);
    if (doc.kind == "api") {
      doc.signature = opening.text;
      std::size_t paren = doc.signature.find('(');
      if (paren != npos) add_identifier(callee_before(doc.signature, paren));
      if (doc.signature.empty()) {
        std::string why;
        if (heading.call_name.empty() && !heading.identifiers.empty()) {
          why = fmt::format(
              " (api only because the heading names `{}`: move it to basic/ if it is not an API)",
              heading.identifiers.front());
        }
        notes.push_back(
            "api entry with no signature found: add a `signature:` line to the header (the pack "
            "checker reports it until then)" +
            why);
      } else if (opening.guessed) {
        notes.push_back(fmt::format("signature guessed from the first code line ('{}'): check it",
                                    doc.signature));
      }
      if (tags.empty()) {
        notes.push_back(
            "api entry with no tags: add the functions and concepts it covers, or "
            "the Coder's selection never picks it");
      }
    }
    doc.tags = tags;

    std::string markdown =
        "# " + section.heading + "\n\n" + join(squeeze_blank_lines(body), "\n") + "\n";
    if (markdown.size() > kLargeDocumentBytes) {
      notes.push_back(fmt::format("{} bytes (over {} KB): split it into smaller entries",
                                  markdown.size(), kLargeDocumentBytes / 1024));
    }
    if (section.closed_fence_for_it) {
      notes.push_back(
          "a code fence in the source is never closed; it was closed at the end of this "
          "section: check where the code ends (the rest of the file may be inside it)");
    }
    if (refine_) {
      std::string refined = refine_(markdown);
      if (trim(refined).empty()) {
        notes.push_back("the refiner returned nothing: the original text was kept");
      } else {
        markdown = trim(refined) + "\n";
        auto lines = split_lines(markdown);
        if (scan_fences(lines, 0, lines.size()).unclosed) {
          notes.push_back("the refined text has an unclosed code fence");
        }
      }
    }
    doc.markdown = std::move(markdown);
    std::string where = fmt::format("{}/{}.md (from {})", doc.folder, doc.name, section.source);
    for (const auto& note : notes) flag(where, note);
    planned_.push_back(std::move(doc));
  }
}

void Formatter::write_review(const std::map<std::string, int>& counts) {
  std::string text =
      fmt::format("# Review: the '{}' pack formatted from {}\n\n", dsl_, raw_.string());
  text += fmt::format(
      "Written without an LLM: {} documents ({} basic, {} api, {} suggestions). Each item below "
      "needs a person; run the pack checker after editing.\n\n",
      report_.written, counts.count("basic") ? counts.at("basic") : 0,
      counts.count("api") ? counts.at("api") : 0,
      counts.count("suggestions") ? counts.at("suggestions") : 0);
  if (report_.needs_review.empty()) {
    text += "Nothing was flagged.\n";
  } else {
    for (const auto& item : report_.needs_review) text += "- " + item + "\n";
  }
  text +=
      "\nAlso: add verified example candidates under examples/<frontend>/ (each defines `class "
      "ModelNew`), and check every api entry's tags against the sketch's function names.\n";
  write_new_file(out_ / "REVIEW.md", text);
}

FormatReport Formatter::run() {
  if (dsl_.empty() ||
      !std::all_of(dsl_.begin(), dsl_.end(), [](char c) { return ident_char(c) || c == '-'; })) {
    throw UsageError("'" + dsl_ + "' is not a DSL name",
                     "use a plain name such as 'triton' or 'cpp' (letters, digits, '_', '-')");
  }
  if (fs::exists(out_)) {
    if (!fs::is_directory(out_)) {
      throw UsageError(out_.string() + " exists and is not a folder",
                       "choose a new folder for the pack");
    }
    if (!fs::is_empty(out_)) {
      throw UsageError(out_.string() + " already exists and is not empty",
                       "format into a new folder and merge by hand, or move the existing pack "
                       "away first: format_raw never overwrites pack files");
    }
  }
  std::vector<fs::path> files = input_files();
  for (const auto& file : files) {
    std::size_t before = planned_.size(), flags = report_.needs_review.size();
    plan(read_sections(file));
    if (planned_.size() == before && report_.needs_review.size() == flags) {
      flag(fs::is_directory(raw_) ? fs::relative(file, raw_).string() : file.filename().string(),
           "no text found: nothing written from this file");
    }
  }

  if (out_.filename() != dsl_ && !out_.filename().empty()) {
    flag(out_.string(),
         fmt::format("the pack folder is named '{}' but the DSL is '{}': the loader reads "
                     "knowledge/{}/",
                     out_.filename().string(), dsl_, dsl_));
  }
  for (const auto& folder : {"basic", "api", "suggestions"}) fs::create_directories(out_ / folder);
  std::map<std::string, int> counts;
  for (const auto& doc : planned_) {
    std::string header = "---\nname: " + doc.name + "\nkind: " + doc.kind + "\n";
    if (!doc.signature.empty()) header += "signature: " + doc.signature + "\n";
    header += "tags: [" + join(doc.tags, ", ") + "]\n---\n\n";
    write_new_file(out_ / doc.folder / (doc.name + ".md"), header + doc.markdown);
    ++counts[doc.folder];
    ++report_.written;
  }
  write_review(counts);
  return report_;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<PackProblem> check_pack(const fs::path& pack_dir) {
  if (!fs::is_directory(pack_dir)) {
    throw UsageError("no pack folder at " + pack_dir.string(),
                     "pass knowledge/<dsl>/ (the folder holding basic/, api/, suggestions/)");
  }
  std::vector<PackProblem> problems;
  Checker checker(problems);
  for (const auto& [folder, kind] : kDocFolders) {
    fs::path dir = pack_dir / folder;
    if (!fs::is_directory(dir)) {
      checker.error(dir, 0, fmt::format("missing required folder {}/", folder));
      continue;
    }
    int documents = 0;
    for (const auto& entry : sorted_entries(dir)) {
      if (fs::is_directory(entry)) {
        checker.warning(entry, 0,
                        "subfolder ignored by the loader (it reads only the *.md "
                        "files directly in " +
                            std::string(folder) + "/)");
      } else if (entry.extension() != ".md") {
        checker.warning(entry, 0, "ignored by the loader: only *.md files are documents");
      } else {
        ++documents;
        checker.check_document(entry, folder, kind);
      }
    }
    if (documents == 0) checker.warning(dir, 0, fmt::format("{}/ holds no documents", folder));
  }
  fs::path examples = pack_dir / "examples";
  if (fs::is_directory(examples)) {
    checker.check_examples(examples);
  } else {
    checker.warning(examples, 0,
                    "no examples/ folder: add verified candidates under examples/<frontend>/");
  }
  return problems;
}

std::string format_problem(const PackProblem& problem) {
  if (problem.line > 0) {
    return fmt::format("{}:{}: {}: {}", problem.file.string(), problem.line, problem.severity,
                       problem.message);
  }
  return fmt::format("{}: {}: {}", problem.file.string(), problem.severity, problem.message);
}

std::vector<PackSummary> list_packs(const fs::path& knowledge_root) {
  if (!fs::is_directory(knowledge_root)) {
    throw UsageError("no knowledge folder at " + knowledge_root.string(),
                     "pass the folder that holds the packs (knowledge/)");
  }
  std::vector<PackSummary> packs;
  for (const auto& dir : sorted_entries(knowledge_root)) {
    std::string dsl = dir.filename().string();
    if (!fs::is_directory(dir) || dsl == "sketch" || dsl == "hardware" || dsl.empty() ||
        dsl[0] == '.')
      continue;
    PackSummary summary;
    summary.dsl = dsl;
    bool pack = false;
    for (const auto& [folder, kind] : kDocFolders) {
      fs::path sub = dir / folder;
      if (!fs::is_directory(sub)) continue;
      pack = true;
      int count = 0;
      for (const auto& item : fs::directory_iterator(sub)) {
        if (item.is_regular_file() && item.path().extension() == ".md") {
          ++count;
          summary.bytes += item.file_size();
        }
      }
      std::string_view f = folder;
      (f == "basic" ? summary.basic : f == "api" ? summary.api : summary.suggestions) = count;
    }
    if (!pack) continue;
    if (fs::is_directory(dir / "examples")) {
      for (const auto& item : fs::recursive_directory_iterator(dir / "examples")) {
        if (item.is_regular_file() && item.path().extension() == ".py") {
          ++summary.examples;
          summary.bytes += item.file_size();
        }
      }
    }
    summary.approx_tokens = summary.bytes / 4;
    packs.push_back(std::move(summary));
  }
  return packs;
}

FormatReport format_raw(const fs::path& raw_input, const std::string& dsl,
                        const fs::path& out_pack_dir, const SectionRefiner& refine) {
  return Formatter(raw_input, dsl, out_pack_dir, refine).run();
}

}  // namespace anvil::docs
