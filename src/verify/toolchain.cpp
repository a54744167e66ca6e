#include "verify/toolchain.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/paths.hpp"
#include "core/process.hpp"
#include "core/temp_dir.hpp"
#include "verify/harness_runner.hpp"
#include "verify/sandbox.hpp"

namespace anvil::verify {
namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::vector<std::string> split_flags(const std::string& flags) {
  std::istringstream in(flags);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

Finding probe_compiler(const Settings& settings) {
  Finding f{"C++ compiler", false, true, "",
            "apt-get install g++ (or set [cpp].compiler / ANVIL_CXX)"};
  auto run = run_captured({settings.cxx, "--version"});
  f.found = run.outcome.succeeded();
  f.detail = f.found ? first_line(run.out) : settings.cxx + ": " + run.outcome.describe();
  return f;
}

// Builds a real OpenMP shared object with the configured flags, as anvil_rt.cpp.load will.
Finding probe_openmp(const Settings& settings) {
  Finding f{"OpenMP build", false, true, "",
            "install g++ with libgomp (apt-get install g++), or fix [cpp].flags"};
  TempDir scratch("anvil-doctor");
  auto source = scratch.path() / "probe.cpp";
  std::ofstream(source)
      << "#include <omp.h>\nextern \"C\" int threads() { return omp_get_max_threads(); }\n";
  std::vector<std::string> argv{settings.cxx};
  for (auto& flag : split_flags(settings.cxxflags)) argv.push_back(flag);
  argv.insert(argv.end(), {source.string(), "-o", (scratch.path() / "probe.so").string()});
  auto run = run_captured(argv, std::chrono::seconds(60));
  f.found = run.outcome.succeeded();
  f.detail = (f.found ? "builds shared objects with " : "fails with ") + settings.cxxflags +
             (f.found ? "" : ": " + first_line(run.err + run.out));
  return f;
}

std::vector<Finding> probe_python(const Settings& settings) {
  Finding python{"Python (" + settings.python + ")", false, true, "",
                 "apt-get install python3, or point --python / ANVIL_PYTHON at an interpreter"};
  Finding torch{"PyTorch", false, true, "", "apt-get install python3-torch"};
  Finding numpy{"NumPy", false, true, "", "apt-get install python3-numpy"};
  Finding triton{"Triton (GPU targets)", false, false, "", "pip install triton on a CUDA machine"};
  TempDir scratch("anvil-doctor");
  Sandbox none;
  HarnessRunner harness(settings, none);
  auto outcome = harness.run({"versions", {}, scratch.path(), false, {}, {}, {}});
  if (!outcome.ok()) {
    python.detail = outcome.process.kind == ProcessOutcome::Kind::failed_to_start
                        ? outcome.process.start_error
                        : first_line(outcome.stderr_tail(1));
    return {python, torch, numpy};
  }
  const auto& v = outcome.result->at("versions");
  python.found = true;
  python.detail = "Python " + v.value("python", std::string("?"));
  auto version_of = [&](Finding& f, const char* key) {
    f.found = v.contains(key) && v[key].is_string();
    f.detail = f.found ? v[key].get<std::string>()
                       : v.value(std::string(key) + "_error", std::string("missing"));
  };
  version_of(torch, "torch");
  version_of(numpy, "numpy");
  version_of(triton, "triton");
  if (torch.found) {
    torch.detail += v.value("torch_cuda", false) ? " (CUDA available)" : " (CPU only)";
  }
  return {python, torch, numpy, triton};
}

Finding probe_optional_command(const std::string& name, std::vector<std::string> argv,
                               const std::string& fix) {
  Finding f{name, false, false, "", fix};
  auto run = run_captured(argv);
  f.found = run.outcome.succeeded();
  std::string text = run.out.empty() ? run.err : run.out;
  f.detail = f.found ? first_line(text) : "not found";
  if (f.found && argv[0] == "nvcc") {
    auto pos = text.rfind("release");
    if (pos != std::string::npos) f.detail = first_line(text.substr(pos));
  }
  return f;
}

Finding probe_sandbox(const Settings& settings) {
  Finding f{"sandbox (bubblewrap)", false, false, "",
            "apt-get install bubblewrap and allow unprivileged user namespaces"};
  try {
    auto sandbox = choose_sandbox(settings.sandbox);
    f.found = sandbox.kind == Sandbox::Kind::bwrap;
    f.detail = sandbox.note;
  } catch (const std::exception& e) {
    f.detail = e.what();
  }
  return f;
}

}  // namespace

std::vector<Finding> probe_toolchain(const Settings& settings) {
  std::vector<Finding> findings{probe_compiler(settings), probe_openmp(settings)};
  for (auto& f : probe_python(settings)) findings.push_back(std::move(f));
  findings.push_back(probe_optional_command("nvcc (CUDA targets)", {"nvcc", "--version"},
                                            "install the CUDA toolkit on a GPU machine"));
  findings.push_back(probe_optional_command(
      "NVIDIA GPU", {"nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"},
      "GPU targets need an NVIDIA GPU and driver"));
  findings.push_back(probe_sandbox(settings));
  Finding cpus{"CPU threads for timing", true, false,
               fmt::format("{} online (setting: {})", std::thread::hardware_concurrency(),
                           settings.threads > 0 ? std::to_string(settings.threads) : "all"),
               ""};
  findings.push_back(cpus);
  Finding home{"Anvil data folder", true, true, anvil_home().string(), ""};
  findings.push_back(home);
  return findings;
}

}  // namespace anvil::verify
