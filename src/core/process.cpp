#include "core/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/temp_dir.hpp"

extern char** environ;

namespace anvil {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> all;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    auto eq = text.find('=');
    if (eq != std::string::npos) all[text.substr(0, eq)] = text.substr(eq + 1);
  }
  for (const auto& [key, value] : overrides) all[key] = value;
  std::vector<std::string> lines;
  for (const auto& [key, value] : all) lines.push_back(key + "=" + value);
  return lines;
}

std::vector<char*> c_pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Runs in the forked child before exec: only async-signal-safe calls from here on.
[[noreturn]] void become_child(const ProcessSpec& spec, char* const* argv, char* const* envp,
                               const char* in_path, const char* out_path, const char* err_path,
                               const char* cwd, int report_fd) {
  setsid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  if (spec.memory_limit_bytes) {
    rlimit memory{*spec.memory_limit_bytes, *spec.memory_limit_bytes};
    setrlimit(RLIMIT_AS, &memory);
  }
  int in = open(in_path, O_RDONLY);
  int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
      (cwd[0] != '\0' && chdir(cwd) != 0)) {
    int code = errno;
    (void)!write(report_fd, &code, sizeof code);
    _exit(127);
  }
  execvpe(argv[0], argv, envp);
  int code = errno;
  (void)!write(report_fd, &code, sizeof code);
  _exit(127);
}

void kill_group(pid_t pid) { kill(-pid, SIGKILL); }

}  // namespace

std::string ProcessOutcome::describe() const {
  switch (kind) {
    case Kind::exited:
      return fmt::format("exited with code {}", exit_code);
    case Kind::signaled:
      return fmt::format("killed by signal {} ({})", signal_name(signal), signal);
    case Kind::timed_out:
      return fmt::format("timed out after {:.1f} s and was killed with its process group", seconds);
    case Kind::failed_to_start:
      return "could not start: " + start_error;
  }
  return "unknown outcome";
}

ProcessOutcome run_process(const ProcessSpec& spec) {
  ProcessOutcome outcome;
  if (spec.argv.empty()) {
    outcome.start_error = "empty command";
    return outcome;
  }
  auto args = spec.argv;
  auto env = merged_environment(spec.env);
  auto argv = c_pointers(args);
  auto envp = c_pointers(env);
  std::string in_path = spec.stdin_path.empty() ? "/dev/null" : spec.stdin_path.string();
  std::string out_path = spec.stdout_path.empty() ? "/dev/null" : spec.stdout_path.string();
  std::string err_path = spec.stderr_path.empty() ? "/dev/null" : spec.stderr_path.string();
  std::string cwd = spec.cwd.string();

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    outcome.start_error = std::string("pipe: ") + std::strerror(errno);
    return outcome;
  }
  auto started = Clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    outcome.start_error = std::string("fork: ") + std::strerror(errno);
    close(report[0]);
    close(report[1]);
    return outcome;
  }
  if (pid == 0) {
    close(report[0]);
    become_child(spec, argv.data(), envp.data(), in_path.c_str(), out_path.c_str(),
                 err_path.c_str(), cwd.c_str(), report[1]);
  }
  close(report[1]);
  int child_errno = 0;
  bool exec_failed = read(report[0], &child_errno, sizeof child_errno) == sizeof child_errno;
  close(report[0]);

  int status = 0;
  auto pause = std::chrono::microseconds(500);
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (Clock::now() - started >= spec.timeout) {
      kill_group(pid);
      waitpid(pid, &status, 0);
      outcome.kind = ProcessOutcome::Kind::timed_out;
      outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
      return outcome;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
  kill_group(pid);  // anything the child left behind in its group goes with it
  outcome.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (exec_failed) {
    outcome.kind = ProcessOutcome::Kind::failed_to_start;
    outcome.start_error = fmt::format("{}: {}", spec.argv[0], std::strerror(child_errno));
  } else if (WIFSIGNALED(status)) {
    outcome.kind = ProcessOutcome::Kind::signaled;
    outcome.signal = WTERMSIG(status);
  } else {
    outcome.kind = ProcessOutcome::Kind::exited;
    outcome.exit_code = WEXITSTATUS(status);
  }
  return outcome;
}

CapturedRun run_captured(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& env) {
  TempDir scratch("anvil-probe");
  ProcessSpec spec;
  spec.argv = argv;
  spec.env = env;
  spec.stdout_path = scratch.path() / "out";
  spec.stderr_path = scratch.path() / "err";
  spec.timeout = timeout;
  CapturedRun run;
  run.outcome = run_process(spec);
  run.out = read_text_file(spec.stdout_path);
  run.err = read_text_file(spec.stderr_path);
  return run;
}

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : fmt::format("signal {}", signal);
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string tail_of_file(const std::filesystem::path& path, std::size_t max_lines) {
  std::string text = read_text_file(path);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::size_t pos = text.size();
  for (std::size_t lines = 0; lines < max_lines && pos != std::string::npos && pos > 0; ++lines) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

}  // namespace anvil
