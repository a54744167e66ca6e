#include "verify/harness_runner.hpp"

#include <cstdlib>

#include "core/error.hpp"
#include "core/paths.hpp"

namespace anvil::verify {

std::string HarnessOutcome::stderr_tail(std::size_t lines) const {
  return tail_of_file(stderr_path, lines);
}

// The sandbox gives candidates a private /tmp; whatever the harness needs from the real one (an
// Anvil checkout or a Python environment living under /tmp) is bound back read-only.
std::vector<std::filesystem::path> HarnessRunner::sandbox_readable(
    std::vector<std::filesystem::path> readable) const {
  readable.push_back(harness_dir());
  std::error_code ec;
  auto python = std::filesystem::canonical(settings_.python, ec);
  auto tmp = std::filesystem::temp_directory_path().string();
  if (!ec && python.string().rfind(tmp, 0) == 0)
    readable.push_back(python.parent_path().parent_path());
  return readable;
}

HarnessRunner::HarnessRunner(const Settings& settings, Sandbox sandbox)
    : settings_(settings), sandbox_(std::move(sandbox)) {}

std::map<std::string, std::string> HarnessRunner::base_environment() const {
  std::string pythonpath = harness_dir().string();
  if (const char* existing = std::getenv("PYTHONPATH"); existing != nullptr && *existing != '\0') {
    pythonpath += std::string(":") + existing;
  }
  return {
      {"PYTHONPATH", pythonpath},
      {"PYTHONDONTWRITEBYTECODE", "1"},  // never litter the task's or candidate's folders
      {"PYTHONUNBUFFERED", "1"},
      {"ANVIL_CXX", settings_.cxx},
      {"ANVIL_CXXFLAGS", settings_.cxxflags},
      {"ANVIL_CACHE_DIR", (kernel_cache_dir(settings_) / "cpp").string()},
  };
}

HarnessOutcome HarnessRunner::run(const HarnessCall& call) const {
  std::filesystem::create_directories(call.workdir);
  auto result_path = call.workdir / "result.json";
  auto progress_path = call.workdir / "progress.txt";
  std::filesystem::remove(result_path);

  std::vector<std::string> argv{
      settings_.python,     "-m",         "anvil_harness",       call.command, "--result",
      result_path.string(), "--progress", progress_path.string()};
  argv.insert(argv.end(), call.args.begin(), call.args.end());

  ProcessSpec spec;
  spec.env = base_environment();
  for (const auto& [key, value] : call.env) spec.env[key] = value;
  spec.cwd = call.workdir;
  spec.stdout_path = call.workdir / "stdout.log";
  spec.stderr_path = call.workdir / "stderr.log";
  spec.timeout = std::chrono::seconds(settings_.timeout_s);
  if (call.untrusted) {
    auto writable = call.writable;
    writable.push_back(call.workdir);
    std::filesystem::create_directories(kernel_cache_dir(settings_) / "cpp");
    writable.push_back(kernel_cache_dir(settings_) / "cpp");
    spec.argv = sandbox_.wrap(argv, writable, sandbox_readable(call.readable));
    if (settings_.memory_limit_mb > 0) {
      spec.memory_limit_bytes = static_cast<std::uint64_t>(settings_.memory_limit_mb) << 20;
    }
  } else {
    spec.argv = argv;
  }

  HarnessOutcome outcome;
  outcome.process = run_process(spec);
  outcome.stderr_path = spec.stderr_path;
  outcome.last_progress = tail_of_file(progress_path, 1);
  if (std::filesystem::exists(result_path)) {
    try {
      outcome.result = nlohmann::json::parse(read_text_file(result_path));
    } catch (const nlohmann::json::exception&) {
      outcome.result.reset();  // a torn result file counts as none: the process outcome says why
    }
  }
  // bubblewrap reports a child killed by signal N as exit code 128+N; the harness itself only
  // ever exits with 0 or 1, so a larger code is a signal.
  if (sandbox_.kind == Sandbox::Kind::bwrap && call.untrusted &&
      outcome.process.kind == ProcessOutcome::Kind::exited && outcome.process.exit_code > 128 &&
      !outcome.result) {
    outcome.process.kind = ProcessOutcome::Kind::signaled;
    outcome.process.signal = outcome.process.exit_code - 128;
  }
  return outcome;
}

void require_success(const HarnessOutcome& outcome, const std::string& what) {
  if (outcome.ok()) return;
  if (outcome.process.kind == ProcessOutcome::Kind::failed_to_start) {
    throw UsageError("cannot start Python for " + what + ": " + outcome.process.start_error,
                     "install Python with PyTorch (scripts/setup-debian.sh) or set --python / "
                     "ANVIL_PYTHON; `anvil doctor` shows what was found");
  }
  std::string message = outcome.result ? outcome.result->value("message", std::string())
                                       : outcome.process.describe() + "\n" + outcome.stderr_tail();
  throw UsageError(what + " failed: " + message,
                   "check the task file with `anvil describe TASK`; the candidate was not judged");
}

}  // namespace anvil::verify
