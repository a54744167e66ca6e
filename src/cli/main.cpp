// `anvil` command line: parses arguments, calls the modules, prints. Exit codes: 0 success,
// 1 a candidate was rejected (or doctor found a required tool missing), 2 usage or environment.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"
#include "verify/describe.hpp"
#include "verify/toolchain.hpp"
#include "verify/verifier.hpp"

namespace {

using anvil::Settings;

struct GlobalOptions {
  std::string config;
  std::string python;
};

struct VerifyOptions {
  anvil::verify::VerifyRequest request;
  std::string task, candidate, artifacts;
  std::optional<std::uint64_t> seed;
  std::optional<int> timeout_s, threads;
  std::string sandbox;
  bool json = false;
  bool no_timing = false;
};

Settings settings_from(const GlobalOptions& global) {
  auto settings = anvil::load_settings(
      global.config.empty() ? std::nullopt : std::optional<std::filesystem::path>(global.config));
  if (!global.python.empty()) settings.python = global.python;
  return settings;
}

int run_doctor(const GlobalOptions& global) {
  auto settings = settings_from(global);
  auto findings = anvil::verify::probe_toolchain(settings);
  bool all_required = true;
  std::cout << "anvil doctor"
            << (settings.loaded_from.empty()
                    ? " (no config file; defaults)\n"
                    : " (config: " + settings.loaded_from.string() + ")\n");
  for (const auto& f : findings) {
    const char* mark = f.found ? "ok     " : (f.required ? "MISSING" : "absent ");
    std::cout << fmt::format("  {} {:<34} {}\n", mark, f.name, f.detail);
    if (!f.found && !f.fix.empty()) std::cout << fmt::format("          fix: {}\n", f.fix);
    all_required = all_required && (f.found || !f.required);
  }
  std::cout << (all_required ? "ready: cpp/cpu verification can run\n"
                             : "not ready: install what is MISSING above\n");
  return all_required ? 0 : 1;
}

int run_describe(const GlobalOptions& global, const std::string& task, bool json) {
  auto spec = anvil::verify::describe_task(task, settings_from(global));
  if (json) {
    std::cout << spec.raw.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("task {} ({} frontend)\n", spec.path, spec.frontend);
  for (const auto& in : spec.inputs) {
    std::cout << fmt::format("  input  {:<12} {} [{}]\n", in.name,
                             in.kind == "tensor" ? in.dtype : in.kind, fmt::join(in.shape, ", "));
  }
  for (const auto& out : spec.outputs) {
    std::cout << fmt::format("  output {:<12} {} [{}]\n", "", out.dtype,
                             fmt::join(out.shape, ", "));
  }
  for (const auto& d : spec.dynamic_dims) {
    std::cout << fmt::format("  dynamic {} in [{}, {}], default {}\n", d.name, d.low, d.high,
                             d.default_value);
  }
  std::cout << fmt::format("  {} framework operators:", spec.op_graph.size());
  for (const auto& op : spec.op_graph) std::cout << " " << op.op;
  std::cout << "\n";
  return 0;
}

int run_verify(const GlobalOptions& global, VerifyOptions& options) {
  auto settings = settings_from(global);
  if (options.timeout_s) settings.timeout_s = *options.timeout_s;
  if (options.threads) settings.threads = *options.threads;
  if (!options.sandbox.empty()) settings.sandbox = options.sandbox;
  anvil::validate_settings(settings);
  auto& request = options.request;
  request.task = options.task;
  request.candidate = options.candidate;
  request.seed = options.seed;
  request.measure_timing = !options.no_timing;
  request.artifacts_dir = options.artifacts;
  auto result = anvil::verify::verify_candidate(request, settings);
  if (!options.artifacts.empty()) {
    std::ofstream(std::filesystem::path(options.artifacts) / "verify.json")
        << anvil::verify::to_json(result).dump(2) << "\n";
  }
  if (options.json) {
    std::cout << anvil::verify::to_json(result).dump(2) << "\n";
  } else {
    std::cout << anvil::verify::human_report(result);
  }
  return result.passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Anvil: verified high-performance kernels from reference programs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "anvil 0.1.0");
  GlobalOptions global;
  app.add_option("--config", global.config,
                 "TOML config file (default: ./anvil.toml, ~/.config/anvil/config.toml)");
  app.add_option("--python", global.python,
                 "Python interpreter with PyTorch (default /usr/bin/python3; env ANVIL_PYTHON)");

  auto* doctor = app.add_subcommand(
      "doctor", "Show the compilers, Python, frameworks, GPU and sandbox Anvil found");

  std::string describe_task;
  bool describe_json = false;
  auto* describe = app.add_subcommand(
      "describe", "Print a task's TaskSpec: inputs, outputs, dynamic dims, operator graph");
  describe->add_option("task", describe_task, "Task file")->required();
  describe->add_flag("--json", describe_json, "Print the TaskSpec as JSON");

  VerifyOptions verify_options;
  auto* verify = app.add_subcommand(
      "verify", "Check a candidate kernel against a task and time it against eager");
  verify->add_option("--task", verify_options.task, "Task file (KernelBench format)")->required();
  verify->add_option("--candidate", verify_options.candidate, "Candidate module defining ModelNew")
      ->required();
  verify->add_option("--dsl", verify_options.request.dsl, "Kernel language")->default_val("cpp");
  verify->add_option("--backend", verify_options.request.backend, "Target backend")
      ->default_val("cpu");
  verify->add_flag("--json", verify_options.json, "Print one JSON object");
  verify->add_option("--timeout", verify_options.timeout_s,
                     "Seconds each child process may run (default 60)");
  verify->add_option("--threads", verify_options.threads,
                     "Threads for both timing sides (default: all CPUs)");
  verify->add_option("--seed", verify_options.seed,
                     "Replay a run with this seed (default: fresh, unseen)");
  verify->add_option("--sandbox", verify_options.sandbox, "auto | bwrap | none");
  verify->add_option("--artifacts", verify_options.artifacts,
                     "Keep logs, cases and verify.json in this folder");
  verify->add_flag("--no-timing", verify_options.no_timing, "Check correctness only");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    if (doctor->parsed()) return run_doctor(global);
    if (describe->parsed()) return run_describe(global, describe_task, describe_json);
    return run_verify(global, verify_options);
  } catch (const anvil::Error& e) {
    std::cerr << "anvil: error: " << e.what() << "\n";
    if (!e.hint().empty()) std::cerr << "  try: " << e.hint() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "anvil: internal error: " << e.what() << "\n";
    return 2;
  }
}
