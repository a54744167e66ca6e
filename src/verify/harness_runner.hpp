#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/process.hpp"
#include "verify/sandbox.hpp"

namespace anvil::verify {

// One `python -m anvil_harness COMMAND ...` process.
struct HarnessCall {
  std::string command;
  std::vector<std::string> args;
  std::filesystem::path workdir;  // gets result.json, progress.txt, stdout.log, stderr.log
  bool untrusted = false;         // candidate code runs: sandbox and memory limit apply
  std::vector<std::filesystem::path>
      writable;  // folders the sandbox lets it write (workdir always)
  std::vector<std::filesystem::path> readable;  // files it must read (the task, the candidate)
  std::map<std::string, std::string> env;
};

struct HarnessOutcome {
  ProcessOutcome process;
  std::optional<nlohmann::json> result;  // the --result object, when the process wrote one
  std::string last_progress;             // the stage it was in when it ended
  std::filesystem::path stderr_path;

  bool ok() const { return result && result->value("ok", false); }
  std::string stderr_tail(std::size_t lines = 20) const;
};

class HarnessRunner {
 public:
  HarnessRunner(const Settings& settings, Sandbox sandbox);

  HarnessOutcome run(const HarnessCall& call) const;
  const Sandbox& sandbox() const { return sandbox_; }
  const Settings& settings() const { return settings_; }

 private:
  std::map<std::string, std::string> base_environment() const;
  std::vector<std::filesystem::path> sandbox_readable(
      std::vector<std::filesystem::path> readable) const;

  Settings settings_;
  Sandbox sandbox_;
};

// Throws UsageError when a trusted harness step (describe, reference, reference timing) did not
// succeed: such a failure is the task's or the environment's, never the candidate's.
void require_success(const HarnessOutcome& outcome, const std::string& what);

}  // namespace anvil::verify
