#pragma once

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace anvil {

// A run's folder (DESIGN.md, "Run outputs"): trace.jsonl, attempts/<n>/, best/, summary.json,
// state.json (what --resume continues from). Writes are whole-file replacements or appended lines,
// so a crash never leaves a half-written state.
class RunDirectory {
 public:
  // Creates `<root>/<YYYYmmdd-HHMMSS>-<task>` (with a numeric suffix if it exists).
  static RunDirectory create(const std::filesystem::path& root, const std::string& task_name);
  // Opens an existing run folder to resume it.
  static RunDirectory open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path attempt_dir(int iteration) const;

  // Appends one JSON line to trace.jsonl, with the time added.
  void trace(nlohmann::json event);

  void write_json(const std::string& relative, const nlohmann::json& value) const;
  void write_text(const std::string& relative, const std::string& text) const;
  nlohmann::json read_json(const std::string& relative) const;
  bool exists(const std::string& relative) const;

 private:
  explicit RunDirectory(std::filesystem::path path) : path_(std::move(path)) {}

  std::filesystem::path path_;
  std::shared_ptr<std::mutex> trace_mutex_ = std::make_shared<std::mutex>();
};

// Writes `text` to `path` through a temporary file and a rename.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

std::string utc_timestamp();

}  // namespace anvil
