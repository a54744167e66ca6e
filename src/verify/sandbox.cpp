#include "verify/sandbox.hpp"

#include <optional>

#include "core/error.hpp"
#include "core/process.hpp"

namespace anvil::verify {
namespace {

const std::vector<std::string> kIsolation{"--unshare-net", "--unshare-pid", "--unshare-ipc",
                                          "--die-with-parent"};

// Empty when bubblewrap can isolate a process here; otherwise why not.
std::optional<std::string> bwrap_problem() {
  std::vector<std::string> probe{"bwrap", "--ro-bind", "/",      "/",
                                 "--dev", "/dev",      "--proc", "/proc"};
  probe.insert(probe.end(), kIsolation.begin(), kIsolation.end());
  probe.push_back("true");
  auto run = run_captured(probe, std::chrono::seconds(10));
  if (run.outcome.succeeded()) return std::nullopt;
  if (run.outcome.kind == ProcessOutcome::Kind::failed_to_start) {
    return "bubblewrap is not installed (apt-get install bubblewrap)";
  }
  return "bubblewrap cannot create namespaces here: " +
         (run.err.empty() ? run.outcome.describe() : run.err);
}

const std::optional<std::string>& cached_bwrap_problem() {
  static const std::optional<std::string> problem = bwrap_problem();
  return problem;
}

}  // namespace

std::vector<std::string> Sandbox::wrap(const std::vector<std::string>& argv,
                                       const std::vector<std::filesystem::path>& writable,
                                       const std::vector<std::filesystem::path>& readable) const {
  if (kind == Kind::none) return argv;
  std::vector<std::string> wrapped{"bwrap", "--ro-bind", "/",     "/",       "--dev",
                                   "/dev",  "--proc",    "/proc", "--tmpfs", "/tmp"};
  for (const auto& path : readable) {
    wrapped.insert(wrapped.end(), {"--ro-bind", path.string(), path.string()});
  }
  for (const auto& path : writable) {
    wrapped.insert(wrapped.end(), {"--bind", path.string(), path.string()});
  }
  wrapped.insert(wrapped.end(), kIsolation.begin(), kIsolation.end());
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

Sandbox choose_sandbox(const std::string& setting) {
  Sandbox sandbox;
  if (setting == "none") {
    sandbox.note = "sandbox disabled by configuration: candidates run with network access";
    return sandbox;
  }
  const auto& problem = cached_bwrap_problem();
  if (problem) {
    if (setting == "bwrap") {
      throw UsageError(
          "the bwrap sandbox was required but " + *problem,
          "install bubblewrap, allow user namespaces, or set [verify].sandbox = \"auto\"");
    }
    sandbox.note = *problem + "; candidates run without network isolation";
    return sandbox;
  }
  sandbox.kind = Sandbox::Kind::bwrap;
  sandbox.network_isolated = true;
  sandbox.note = "bubblewrap: no network, private PID namespace, read-only file system";
  return sandbox;
}

}  // namespace anvil::verify
