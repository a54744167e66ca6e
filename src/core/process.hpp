#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anvil {

// One child process: what to run, where its output goes, and the limits it runs under.
struct ProcessSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (or replacing in) the parent's environment
  std::filesystem::path cwd;               // empty: the parent's
  std::filesystem::path stdin_path;        // empty: /dev/null
  std::filesystem::path stdout_path;       // empty: /dev/null
  std::filesystem::path stderr_path;       // empty: /dev/null
  std::chrono::milliseconds timeout{60'000};
  std::optional<std::uint64_t> memory_limit_bytes;  // RLIMIT_AS of the child
};

struct ProcessOutcome {
  enum class Kind { exited, signaled, timed_out, failed_to_start };
  Kind kind = Kind::failed_to_start;
  int exit_code = -1;  // when exited
  int signal = 0;      // when signaled
  double seconds = 0;
  std::string start_error;  // when failed_to_start

  bool succeeded() const { return kind == Kind::exited && exit_code == 0; }
  std::string describe() const;
};

// Runs the child in its own session (so the whole process group can be killed), with no core
// dumps, killed with its group at the timeout or when Anvil itself dies. Never throws for the
// child's behaviour: every way it can end is a ProcessOutcome.
ProcessOutcome run_process(const ProcessSpec& spec);

struct CapturedRun {
  ProcessOutcome outcome;
  std::string out;
  std::string err;
};

// Runs a short command and returns what it printed (for tool probes such as `g++ --version`).
CapturedRun run_captured(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20),
                         const std::map<std::string, std::string>& env = {});

std::string signal_name(int signal);

std::string read_text_file(const std::filesystem::path& path);

// The last `max_lines` lines of a file (for evidence in reports without flooding them).
std::string tail_of_file(const std::filesystem::path& path, std::size_t max_lines);

}  // namespace anvil
