#include "core/run_dir.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include "core/error.hpp"
#include "core/process.hpp"

namespace anvil {

std::string utc_timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  auto partial = path;
  partial += ".partial";
  {
    std::ofstream out(partial, std::ios::binary);
    out << text;
    if (!out)
      throw Error("cannot write " + partial.string(), "check free disk space and permissions");
  }
  std::filesystem::rename(partial, path);
}

RunDirectory RunDirectory::create(const std::filesystem::path& root, const std::string& task_name) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  auto base = root / fmt::format("{}-{}", stamp, task_name);
  auto path = base;
  for (int n = 2; std::filesystem::exists(path); ++n) path = fmt::format("{}-{}", base.string(), n);
  std::filesystem::create_directories(path / "attempts");
  return RunDirectory(path);
}

RunDirectory RunDirectory::open(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path / "state.json")) {
    throw UsageError("no resumable run in " + path.string() + " (state.json is missing)",
                     "pass the folder `anvil generate` printed when the run started");
  }
  return RunDirectory(path);
}

std::filesystem::path RunDirectory::attempt_dir(int iteration) const {
  return path_ / "attempts" / std::to_string(iteration);
}

void RunDirectory::trace(nlohmann::json event) {
  event["time"] = utc_timestamp();
  std::lock_guard lock(*trace_mutex_);
  std::ofstream out(path_ / "trace.jsonl", std::ios::app);
  out << event.dump() << "\n";
}

void RunDirectory::write_json(const std::string& relative, const nlohmann::json& value) const {
  write_file_atomically(path_ / relative, value.dump(2) + "\n");
}

void RunDirectory::write_text(const std::string& relative, const std::string& text) const {
  write_file_atomically(path_ / relative, text);
}

nlohmann::json RunDirectory::read_json(const std::string& relative) const {
  return nlohmann::json::parse(read_text_file(path_ / relative));
}

bool RunDirectory::exists(const std::string& relative) const {
  return std::filesystem::exists(path_ / relative);
}

}  // namespace anvil
