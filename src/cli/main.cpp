// `anvil` command line: parses arguments, calls the modules, prints. Exit codes: 0 success,
// 1 a candidate was rejected (or doctor found a required tool missing), 2 usage or environment.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/process.hpp"
#include "exec/generate_job.hpp"
#include "llm/endpoint.hpp"
#include "sketch/checker.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"
#include "verify/describe.hpp"
#include "verify/sketch_run.hpp"
#include "verify/toolchain.hpp"
#include "verify/verifier.hpp"

namespace {

using anvil::Settings;
namespace agents = anvil::agents;

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

struct SketchOptions {
  std::vector<std::string> files;
  bool write = false;
  bool check_only = false;
  std::string task;
  std::string name;
  std::vector<std::string> constants;
  std::uint64_t seed = 0;
};

std::string read_sketch_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw anvil::UsageError("sketch file not found: " + path, "pass the path of a .sketch file");
  }
  return anvil::read_text_file(path);
}

// Parses and checks one file; prints its diagnostics; true when it has no errors.
bool check_one_sketch_file(const std::string& path) {
  std::string source = read_sketch_file(path);
  auto parsed = anvil::sketch::parse_sketch_source(source, path);
  auto diagnostics = parsed.diagnostics;
  if (parsed.ok()) {
    auto found = anvil::sketch::check_sketch_file(parsed.file);
    diagnostics.insert(diagnostics.end(), found.begin(), found.end());
  }
  std::cout << anvil::sketch::render_diagnostics(diagnostics, source, path);
  return !anvil::sketch::has_errors(diagnostics);
}

int run_sketch_check(const SketchOptions& options) {
  bool clean = true;
  for (const auto& file : options.files) clean = check_one_sketch_file(file) && clean;
  return clean ? 0 : 1;
}

int run_sketch_fmt(const SketchOptions& options) {
  const auto& path = options.files.front();
  std::string source = read_sketch_file(path);
  auto parsed = anvil::sketch::parse_sketch_source(source, path);
  if (!parsed.ok()) {
    std::cout << anvil::sketch::render_diagnostics(parsed.diagnostics, source, path);
    return 1;
  }
  std::string formatted = anvil::sketch::format_sketch_file(parsed.file);
  if (options.check_only) {
    if (formatted == source) return 0;
    std::cout << path << ": not in canonical form (run anvil sketch fmt --write)\n";
    return 1;
  }
  if (options.write) {
    std::ofstream(path) << formatted;
    return 0;
  }
  std::cout << formatted;
  return 0;
}

std::map<std::string, double> parse_constants(const std::vector<std::string>& items) {
  std::map<std::string, double> constants;
  for (const auto& item : items) {
    auto eq = item.find('=');
    char* end = nullptr;
    double value = eq == std::string::npos ? 0 : std::strtod(item.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == item.c_str() + eq + 1 || *end != '\0') {
      throw anvil::UsageError("--const takes name=value, not '" + item + "'",
                              "e.g. --const BLOCK=128,eps=1e-5");
    }
    constants[item.substr(0, eq)] = value;
  }
  return constants;
}

int run_sketch_run(const GlobalOptions& global, const SketchOptions& options) {
  anvil::verify::SketchRunRequest request{options.files.front(), options.name, options.task,
                                          parse_constants(options.constants), options.seed};
  auto result = anvil::verify::run_sketch_against_task(request, settings_from(global));
  std::cout << result.diagnostics;
  std::cout << (result.matched ? "MATCH  " : "MISMATCH  ") << result.message << "\n";
  for (const auto& output : result.outputs) {
    const auto& c = output.comparison;
    std::cout << fmt::format(
        "  output {} [{}]: {} (fraction over tau {:.3g}, max rel error {:.3g})\n", output.index,
        fmt::join(output.shape, ", "), c.passed ? "ok" : "MISMATCH", c.fraction_over,
        c.max_rel_error);
  }
  return result.matched ? 0 : 1;
}

struct GenerateCliOptions {
  std::string task, tasks, resume, out, db, cache;
  std::string dsl = "cpp", backend = "cpu";
  std::vector<std::string> llm, llm_url, llm_model, llm_key_env, llm_cmd;
  std::optional<int> max_iters;
  int jobs = 1;
  bool json = false;
};

// One line per event; on a terminal the latest activity is redrawn in place.
agents::ProgressSink progress_printer() {
  auto mutex = std::make_shared<std::mutex>();
  bool tty = isatty(STDERR_FILENO) != 0;
  return [mutex, tty](const agents::ProgressEvent& e) {
    std::lock_guard lock(*mutex);
    std::string text =
        fmt::format("[{}] iteration {} {:<10} {:6.1f} s {:>8} tokens{}", e.task, e.iteration,
                    e.activity, e.elapsed_s, e.tokens, e.detail.empty() ? "" : "  " + e.detail);
    bool lasting = e.activity == "verified" || e.activity == "done";
    if (tty) {
      std::cerr << "\r\033[K" << text << (lasting ? "\n" : "") << std::flush;
    } else {
      std::cerr << text << "\n";
    }
  };
}

int run_generate(const GlobalOptions& global, const GenerateCliOptions& cli) {
  auto settings = settings_from(global);
  for (const auto& [field, values] :
       std::vector<std::pair<std::string, const std::vector<std::string>*>>{
           {"provider", &cli.llm},
           {"base_url", &cli.llm_url},
           {"model", &cli.llm_model},
           {"api_key_env", &cli.llm_key_env},
           {"command", &cli.llm_cmd}}) {
    for (const auto& value : *values) anvil::llm::override_endpoint(settings, field, value);
  }
  if (!cli.db.empty()) settings.db_path = cli.db;
  if (!cli.cache.empty()) settings.llm_cache = cli.cache;
  if (cli.max_iters) settings.generate.max_iterations = *cli.max_iters;
  anvil::validate_settings(settings);

  anvil::exec::GenerateOptions options;
  options.dsl = cli.dsl;
  options.backend = cli.backend;
  options.jobs = cli.jobs;
  int sources = !cli.task.empty() + !cli.tasks.empty() + !cli.resume.empty();
  if (sources != 1) throw anvil::UsageError("give exactly one of --task, --tasks and --resume");
  if (!cli.resume.empty()) options.resume = cli.resume;
  if (!cli.task.empty()) options.tasks = {cli.task};
  if (!cli.tasks.empty()) options.tasks = anvil::exec::task_files_in(cli.tasks);
  if (!cli.out.empty()) options.runs_root = cli.out;

  auto outcomes = anvil::exec::generate_kernels(options, settings, progress_printer());
  nlohmann::json report = nlohmann::json::array();
  int exit_code = 0;
  for (const auto& o : outcomes) {
    auto summary = o.summary.to_json();
    summary["task"] = o.task.string();
    summary["run_dir"] = o.run_dir.string();
    if (!o.error.empty()) summary["error"] = o.error;
    report.push_back(summary);
    if (!o.error.empty()) {
      exit_code = 2;
      std::cerr << "anvil: error: " << o.task.string() << ": " << o.error << "\n";
      if (!o.hint.empty()) std::cerr << "  try: " << o.hint << "\n";
      if (!o.run_dir.empty())
        std::cerr << "  nothing is lost: anvil generate --resume " << o.run_dir.string() << "\n";
    } else if (o.summary.status != "success" && exit_code == 0) {
      exit_code = 1;
    }
  }
  if (cli.json) {
    std::cout << report.dump(2) << "\n";
    return exit_code;
  }
  for (const auto& o : outcomes) {
    const auto& s = o.summary;
    std::cout << fmt::format("{}  {}: {} after {} iteration(s), {} calls, {} tokens, ${:.4f}{}\n",
                             s.status == "success" ? "SUCCESS" : "FAILED",
                             o.task.filename().string(), s.reason, s.iterations, s.calls,
                             s.prompt_tokens + s.completion_tokens, s.cost,
                             s.speedup ? fmt::format(", speedup {:.2f}x", *s.speedup) : "");
    if (!s.best_candidate.empty()) std::cout << "  best: " << s.best_candidate.string() << "\n";
    if (!o.run_dir.empty()) std::cout << "  run:  " << o.run_dir.string() << "\n";
  }
  return exit_code;
}

void add_generate_command(CLI::App& app, GenerateCliOptions& o, CLI::App*& command) {
  command =
      app.add_subcommand("generate", "Generate a verified kernel for a task with the LLM agents");
  command->add_option("--task", o.task, "Task file");
  command->add_option("--tasks", o.tasks, "Folder of task files (all *.py below it)");
  command->add_option("--resume", o.resume, "Continue an interrupted run from its folder");
  command->add_option("--dsl", o.dsl, "Kernel language")->default_val("cpp");
  command->add_option("--backend", o.backend, "Target backend")->default_val("cpu");
  command->add_option("--out", o.out, "Folder the run folders go in (default: runs)");
  command->add_option("--db", o.db, "SQLite database (default: ./anvil.db)");
  command->add_option("--cache", o.cache, "LLM response cache: rw, read or off (default rw)");
  command->add_option("--max-iters", o.max_iters,
                      "Designer/Coder/Verifier rounds per task (default 5)");
  command->add_option("--jobs", o.jobs, "Tasks generated concurrently (default 1)");
  command->add_option("--llm", o.llm,
                      "Provider: openai, anthropic, exec, manual, replay ([ROLE=]VALUE)");
  command->add_option("--llm-url", o.llm_url,
                      "Base URL of the endpoint, e.g. http://localhost:8000/v1 ([ROLE=]VALUE)");
  command->add_option("--llm-model", o.llm_model, "Model name ([ROLE=]VALUE)");
  command->add_option("--llm-key-env", o.llm_key_env,
                      "Environment variable holding the API key ([ROLE=]VALUE)");
  command->add_option("--llm-cmd", o.llm_cmd, "Command of the exec provider ([ROLE=]VALUE)");
  command->add_flag("--json", o.json, "Print the summaries as JSON");
}

void add_sketch_commands(CLI::App& app, SketchOptions& options, CLI::App*& check, CLI::App*& fmt,
                         CLI::App*& run) {
  auto* sketch = app.add_subcommand("sketch", "Check, format and run Unified Sketch files");
  sketch->require_subcommand(1);
  check = sketch->add_subcommand("check",
                                 "Parse and check sketches; print diagnostics (exit 1 on errors)");
  check->add_option("files", options.files, "Sketch files")->required();
  fmt = sketch->add_subcommand("fmt", "Print a sketch file in canonical form");
  fmt->add_option("file", options.files, "Sketch file")->required()->expected(1);
  fmt->add_flag("--write", options.write, "Rewrite the file in place");
  fmt->add_flag("--check", options.check_only, "Exit 1 when the file is not in canonical form");
  run = sketch->add_subcommand(
      "run", "Interpret a sketch on a task's inputs and compare with its reference");
  run->add_option("file", options.files, "Sketch file")->required()->expected(1);
  run->add_option("--task", options.task, "Task file whose inputs and reference are used")
      ->required();
  run->add_option("--sketch", options.name, "Which sketch of the file (default: the first)");
  run->add_option("--const", options.constants, "Constexpr overrides: name=value[,name=value...]")
      ->delimiter(',');
  run->add_option("--seed", options.seed, "Seed of the task's inputs");
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

  GenerateCliOptions generate_options;
  CLI::App* generate = nullptr;
  add_generate_command(app, generate_options, generate);

  SketchOptions sketch_options;
  CLI::App *sketch_check = nullptr, *sketch_fmt = nullptr, *sketch_run = nullptr;
  add_sketch_commands(app, sketch_options, sketch_check, sketch_fmt, sketch_run);

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
    if (generate->parsed()) return run_generate(global, generate_options);
    if (sketch_check->parsed()) return run_sketch_check(sketch_options);
    if (sketch_fmt->parsed()) return run_sketch_fmt(sketch_options);
    if (sketch_run->parsed()) return run_sketch_run(global, sketch_options);
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
