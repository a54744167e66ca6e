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

#include "agents/prompts.hpp"
#include "agents/rule_designer.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"
#include "docs/doc_tools.hpp"
#include "exec/generate_job.hpp"
#include "exec/kernel_db.hpp"
#include "llm/endpoint.hpp"
#include "retrieval/features.hpp"
#include "sketch/checker.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"
#include "store/kernel_store.hpp"
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

// The sketch the built-in (rule-based) Designer plans for a task, checked before it is printed.
int run_sketch_design(const GlobalOptions& global, const SketchOptions& options) {
  auto spec = anvil::verify::describe_task(options.task, settings_from(global));
  auto design = anvil::agents::design_with_rules(spec);
  auto parsed = anvil::sketch::parse_sketch_source(design.sketch, design.sketch_name + ".sketch");
  auto diagnostics = parsed.diagnostics;
  if (parsed.ok()) {
    auto found = anvil::sketch::check_sketch_file(parsed.file);
    diagnostics.insert(diagnostics.end(), found.begin(), found.end());
  }
  std::cout << "# task: " << options.task << " (" << design.family << ")\n" << design.sketch;
  if (!anvil::sketch::has_errors(diagnostics)) return 0;
  std::cerr << anvil::sketch::render_diagnostics(diagnostics, design.sketch,
                                                 design.sketch_name + ".sketch");
  return 1;
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

// The --llm* flags of generate and docs format: each takes VALUE (every agent role) or
// ROLE=VALUE (one role), and may be repeated.
struct LlmFlags {
  std::vector<std::string> provider, base_url, model, api_key_env, command;
};

void add_llm_flags(CLI::App& command, LlmFlags& flags) {
  command.add_option("--llm", flags.provider,
                     "Provider: openai, anthropic, exec, manual, replay ([ROLE=]VALUE)");
  command.add_option("--llm-url", flags.base_url,
                     "Base URL of the endpoint, e.g. http://localhost:8000/v1 ([ROLE=]VALUE)");
  command.add_option("--llm-model", flags.model, "Model name ([ROLE=]VALUE)");
  command.add_option("--llm-key-env", flags.api_key_env,
                     "Environment variable holding the API key ([ROLE=]VALUE)");
  command.add_option("--llm-cmd", flags.command, "Command of the exec provider ([ROLE=]VALUE)");
}

void apply_llm_flags(const LlmFlags& flags, Settings& settings) {
  for (const auto& [field, values] : {std::pair{"provider", &flags.provider},
                                      {"base_url", &flags.base_url},
                                      {"model", &flags.model},
                                      {"api_key_env", &flags.api_key_env},
                                      {"command", &flags.command}}) {
    for (const auto& value : *values) anvil::llm::override_endpoint(settings, field, value);
  }
}

struct GenerateCliOptions {
  std::string task, tasks, resume, out, db, cache;
  std::string dsl = "cpp", backend = "cpu";
  LlmFlags llm;
  std::optional<int> max_iters;
  std::optional<int> tune_configs;
  std::optional<double> tune_seconds;
  int jobs = 1;
  bool json = false;
  bool no_timing = false;
  bool show = false;
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

// The built-in provider's tuning search: each configuration, its verdict and its time.
void print_tuning(const std::filesystem::path& run_dir) {
  auto path = run_dir / "tuning.json";
  if (run_dir.empty() || !std::filesystem::exists(path)) return;
  auto tuning = nlohmann::json::parse(anvil::read_text_file(path));
  std::cout << fmt::format("  tuning: {} configuration(s) in {:.1f} s (budget {} s)\n",
                           tuning["trials"].size(), tuning.value("elapsed_seconds", 0.0),
                           tuning.value("budget_seconds", 0.0));
  for (const auto& t : tuning["trials"]) {
    std::string speed =
        t["speedup"].is_number() ? fmt::format("{:.2f}x", t["speedup"].get<double>()) : "-";
    std::cout << fmt::format(
        "    #{} {:<24} {:<6} {:>8} {:6.1f} s{}\n", t.value("attempt", 0), t.value("config", ""),
        t.value("status", ""), speed, t.value("seconds", 0.0),
        t.value("attempt", 0) == tuning.value("best_attempt", 0) ? "  <- kept" : "");
  }
}

// The verified kernel's plan (its sketch) and its module; the module's C++ starts with the
// lowering's prelude, so only its Python part (the model around the kernel) is printed.
void print_best(const std::filesystem::path& run_dir) {
  auto sketch = run_dir / "best" / "sketch.txt";
  auto module = run_dir / "best" / "candidate.py";
  if (std::filesystem::exists(sketch))
    std::cout << "\n--- " << sketch.string() << "\n" << anvil::read_text_file(sketch);
  if (!std::filesystem::exists(module)) return;
  std::string text = anvil::read_text_file(module);
  auto source_end = text.find("\"\"\"\n\n");
  std::cout << "\n--- " << module.string() << " (C++ source elided)\n"
            << (source_end == std::string::npos ? text : text.substr(source_end + 5));
}

int run_generate(const GlobalOptions& global, const GenerateCliOptions& cli) {
  auto settings = settings_from(global);
  apply_llm_flags(cli.llm, settings);
  if (!cli.db.empty()) settings.db_path = cli.db;
  if (!cli.cache.empty()) settings.llm_cache = cli.cache;
  if (cli.max_iters) settings.generate.max_iterations = *cli.max_iters;
  if (cli.tune_configs) settings.generate.tune_configs = *cli.tune_configs;
  if (cli.tune_seconds) settings.generate.tune_seconds = *cli.tune_seconds;
  anvil::validate_settings(settings);

  anvil::exec::GenerateOptions options;
  options.dsl = cli.dsl;
  options.backend = cli.backend;
  options.jobs = cli.jobs;
  options.measure_timing = !cli.no_timing;
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
    print_tuning(o.run_dir);
    if (!s.best_candidate.empty()) std::cout << "  best: " << s.best_candidate.string() << "\n";
    if (!o.run_dir.empty()) std::cout << "  run:  " << o.run_dir.string() << "\n";
    if (cli.show && !s.best_candidate.empty()) print_best(o.run_dir);
  }
  return exit_code;
}

void add_generate_command(CLI::App& app, GenerateCliOptions& o, CLI::App*& command) {
  command = app.add_subcommand(
      "generate", "Generate a verified kernel for a task (LLM agents, or --llm builtin)");
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
  add_llm_flags(*command, o.llm);
  command->add_flag("--json", o.json, "Print the summaries as JSON");
  command->add_flag("--no-timing", o.no_timing,
                    "Verify correctness only (no speedup; tuning keeps the first that passes)");
  command->add_option("--tune-configs", o.tune_configs,
                      "Built-in provider: tile configurations tried per task (default 3)");
  command->add_option("--tune-seconds", o.tune_seconds,
                      "Built-in provider: time budget of the tuning search per task (default 180)");
  command->add_flag("--show", o.show,
                    "Print the best kernel's sketch and the Python part of its module");
}

struct DbOptions {
  std::string db, file, task, dsl = "cpp", backend = "cpu";
  std::int64_t id = 0;
  int k = 5;
  bool json = false;
};

std::string db_path(const GlobalOptions& global, const DbOptions& o) {
  return o.db.empty() ? settings_from(global).db_path : o.db;
}

int run_db_init(const GlobalOptions& global, const DbOptions& o) {
  anvil::store::Database db(db_path(global, o));
  auto report = anvil::exec::seed_database(db, settings_from(global));
  std::cout << fmt::format(
      "{}: schema version {}, {} kernels added from knowledge/*/examples, {} skipped\n",
      db.path().string(), db.schema_version(), report.added, report.skipped);
  for (const auto& problem : report.problems) std::cout << "  skipped " << problem << "\n";
  return 0;
}

int run_db_list(const GlobalOptions& global, const DbOptions& o) {
  anvil::store::Database db(db_path(global, o));
  anvil::store::KernelStore kernels(db);
  nlohmann::json all = nlohmann::json::array();
  kernels.for_each([&](const anvil::store::KernelRecord& r) {
    if (o.json) {
      auto j = anvil::store::to_json(r);
      j.erase("code");
      j.erase("sketch");
      all.push_back(j);
      return;
    }
    std::cout << fmt::format("{:>5}  {:<16} {:<14} {:<14} {:<7} {:<6} {:>8}  {}\n", r.id,
                             r.task_name, r.op_name, r.op_type, r.dsl, r.backend,
                             r.speedup ? fmt::format("{:.2f}x", *r.speedup) : "-", r.source);
  });
  if (o.json) std::cout << all.dump(2) << "\n";
  return 0;
}

int run_db_show(const GlobalOptions& global, const DbOptions& o) {
  anvil::store::Database db(db_path(global, o));
  auto record = anvil::store::KernelStore(db).get(o.id);
  if (!record)
    throw anvil::UsageError(fmt::format("no kernel with id {} in {}", o.id, db.path().string()));
  std::cout << anvil::store::to_json(*record).dump(2) << "\n";
  return 0;
}

int run_db_export(const GlobalOptions& global, const DbOptions& o) {
  anvil::store::Database db(db_path(global, o));
  std::ofstream out(o.file);
  int count = 0;
  anvil::store::KernelStore(db).for_each([&](const anvil::store::KernelRecord& r) {
    auto j = anvil::store::to_json(r);
    j["logic_embedding"] = r.logic_embedding;
    j["shape_embedding"] = r.shape_embedding;
    out << j.dump() << "\n";
    ++count;
  });
  std::cout << fmt::format("exported {} kernels to {}\n", count, o.file);
  return 0;
}

int run_db_import(const GlobalOptions& global, const DbOptions& o) {
  anvil::store::Database db(db_path(global, o));
  anvil::store::KernelStore kernels(db);
  std::ifstream in(o.file);
  if (!in) throw anvil::UsageError("cannot read " + o.file);
  int line_number = 0, added = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded())
      throw anvil::UsageError(fmt::format("{}:{}: not a JSON object", o.file, line_number));
    auto record = anvil::store::kernel_from_json(j);
    record.logic_embedding = j.value("logic_embedding", std::vector<float>{});
    record.shape_embedding = j.value("shape_embedding", std::vector<float>{});
    auto before = kernels.count();
    kernels.add(record);
    added += kernels.count() > before;
  }
  std::cout << fmt::format("imported {} kernels ({} lines) into {}\n", added, line_number,
                           db.path().string());
  return 0;
}

int run_db_search(const GlobalOptions& global, const DbOptions& o) {
  auto settings = settings_from(global);
  anvil::store::Database db(db_path(global, o));
  auto spec = anvil::verify::describe_task(o.task, settings);
  auto features = anvil::retrieval::features_from_spec(spec);
  auto found = anvil::exec::retrieve_similar(db, spec, features, o.dsl, o.backend, o.k, settings);
  if (o.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& h : found.hits) {
      list.push_back({{"id", h.id},
                      {"task_name", h.task_name},
                      {"op_name", h.op_name},
                      {"op_type", h.op_type},
                      {"category", h.category},
                      {"dsl", h.dsl},
                      {"backend", h.backend},
                      {"score_logic", h.score_logic},
                      {"score_shape", h.score_shape}});
    }
    std::cout << list.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("task features: {} / {} / {}: {}\n", features.op_type, features.category,
                           features.op_name, features.logic);
  for (const auto& h : found.hits) {
    std::cout << fmt::format("{:>5}  {:<16} {:<14} logic {:.3f}  shape {:.3f}\n", h.id, h.task_name,
                             h.op_name, h.score_logic, h.score_shape);
  }
  if (found.hits.empty())
    std::cout << "no stored kernel matches (anvil db init seeds the examples)\n";
  return 0;
}

std::map<std::string, CLI::App*> add_db_commands(CLI::App& app, DbOptions& o) {
  auto* db =
      app.add_subcommand("db", "The kernel database: init, list, show, import, export, search");
  db->require_subcommand(1);
  db->add_option("--db", o.db, "SQLite database (default: ./anvil.db)");
  std::map<std::string, CLI::App*> commands;
  commands["init"] =
      db->add_subcommand("init", "Create the database and seed it from knowledge/*/examples");
  commands["list"] = db->add_subcommand("list", "List the stored kernels");
  commands["list"]->add_flag("--json", o.json, "JSON output");
  commands["show"] = db->add_subcommand("show", "Print one kernel with its sketch and code");
  commands["show"]->add_option("id", o.id, "Kernel id")->required();
  commands["export"] = db->add_subcommand("export", "Write every kernel as JSON lines");
  commands["export"]->add_option("file", o.file, "Output file")->required();
  commands["import"] = db->add_subcommand("import", "Read kernels from JSON lines");
  commands["import"]->add_option("file", o.file, "Input file")->required();
  commands["search"] = db->add_subcommand("search", "Find stored kernels similar to a task");
  commands["search"]->add_option("--task", o.task, "Task file")->required();
  commands["search"]->add_option("--dsl", o.dsl, "Kernel language")->default_val("cpp");
  commands["search"]->add_option("--backend", o.backend, "Backend")->default_val("cpu");
  commands["search"]->add_option("--k", o.k, "How many results")->default_val(5);
  commands["search"]->add_flag("--json", o.json, "JSON output");
  return commands;
}

int run_db(const GlobalOptions& global, const DbOptions& o,
           const std::map<std::string, CLI::App*>& commands) {
  if (commands.at("init")->parsed()) return run_db_init(global, o);
  if (commands.at("list")->parsed()) return run_db_list(global, o);
  if (commands.at("show")->parsed()) return run_db_show(global, o);
  if (commands.at("export")->parsed()) return run_db_export(global, o);
  if (commands.at("import")->parsed()) return run_db_import(global, o);
  return run_db_search(global, o);
}

struct DocsOptions {
  std::string dir, raw, dsl, out;
  LlmFlags llm;
};

int run_docs_check(const DocsOptions& o) {
  auto problems = anvil::docs::check_pack(o.dir);
  int errors = 0;
  for (const auto& p : problems) {
    std::cout << anvil::docs::format_problem(p) << "\n";
    errors += p.severity == "error";
  }
  std::cout << fmt::format("{}: {} errors, {} warnings\n", o.dir, errors, problems.size() - errors);
  return errors == 0 ? 0 : 1;
}

int run_docs_list() {
  std::cout << fmt::format("{:<10} {:>6} {:>5} {:>12} {:>9} {:>10} {:>8}\n", "dsl", "basic", "api",
                           "suggestions", "examples", "bytes", "~tokens");
  for (const auto& p : anvil::docs::list_packs(anvil::anvil_home() / "knowledge")) {
    std::cout << fmt::format("{:<10} {:>6} {:>5} {:>12} {:>9} {:>10} {:>8}\n", p.dsl, p.basic,
                             p.api, p.suggestions, p.examples, p.bytes, p.approx_tokens);
  }
  return 0;
}

// With an LLM configured (--llm ...), each section is normalised by the model; without one, the
// sections are split by headings and what needs a person is flagged in REVIEW.md.
int run_docs_format(const GlobalOptions& global, const DocsOptions& o) {
  anvil::docs::SectionRefiner refine;
  std::shared_ptr<anvil::llm::Provider> provider;
  if (!o.llm.provider.empty()) {
    auto settings = settings_from(global);
    apply_llm_flags(o.llm, settings);
    provider = anvil::llm::make_provider(anvil::llm::provider_config_for(settings, "analyzer"));
    refine = [provider](const std::string& section) {
      auto reply = provider->complete(
          {"analyzer",
           {{"system", anvil::agents::render_prompt("docs_refine", {})}, {"user", section}}});
      return anvil::agents::fenced_block(reply.content, "markdown").value_or(reply.content);
    };
  }
  std::string out = o.out.empty() ? (anvil::anvil_home() / "knowledge" / o.dsl).string() : o.out;
  auto report = anvil::docs::format_raw(o.raw, o.dsl, out, refine);
  std::cout << fmt::format("{}: {} documents written, {} need review (see {}/REVIEW.md)\n", out,
                           report.written, report.needs_review.size(), out);
  return 0;
}

std::map<std::string, CLI::App*> add_docs_commands(CLI::App& app, DocsOptions& o) {
  auto* docs = app.add_subcommand("docs", "Document packs: check, list, format");
  docs->require_subcommand(1);
  std::map<std::string, CLI::App*> commands;
  commands["check"] = docs->add_subcommand("check", "Validate a pack folder (knowledge/<dsl>)");
  commands["check"]->add_option("dir", o.dir, "Pack folder")->required();
  commands["list"] = docs->add_subcommand("list", "Show the packs and their sizes");
  commands["format"] = docs->add_subcommand("format", "Turn raw documentation into a DocSpec pack");
  commands["format"]
      ->add_option("raw", o.raw, "Markdown, HTML or text file, or a folder of them")
      ->required();
  commands["format"]->add_option("--dsl", o.dsl, "Name of the DSL")->required();
  commands["format"]->add_option("--out", o.out,
                                 "Pack folder to create (default: knowledge/<dsl>)");
  add_llm_flags(*commands["format"], o.llm);
  return commands;
}

void add_sketch_commands(CLI::App& app, SketchOptions& options, CLI::App*& check, CLI::App*& fmt,
                         CLI::App*& run, CLI::App*& design) {
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
  design = sketch->add_subcommand(
      "design", "Print the sketch the built-in rule-based Designer plans for a task");
  design->add_option("task", options.task, "Task file")->required();
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

  DocsOptions docs_options;
  auto docs_commands = add_docs_commands(app, docs_options);

  DbOptions db_options;
  auto db_commands = add_db_commands(app, db_options);

  GenerateCliOptions generate_options;
  CLI::App* generate = nullptr;
  add_generate_command(app, generate_options, generate);

  SketchOptions sketch_options;
  CLI::App *sketch_check = nullptr, *sketch_fmt = nullptr, *sketch_run = nullptr,
           *sketch_design = nullptr;
  add_sketch_commands(app, sketch_options, sketch_check, sketch_fmt, sketch_run, sketch_design);

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
    if (docs_commands.at("check")->parsed()) return run_docs_check(docs_options);
    if (docs_commands.at("list")->parsed()) return run_docs_list();
    if (docs_commands.at("format")->parsed()) return run_docs_format(global, docs_options);
    for (const auto& [name, command] : db_commands) {
      if (command->parsed()) return run_db(global, db_options, db_commands);
    }
    if (sketch_check->parsed()) return run_sketch_check(sketch_options);
    if (sketch_fmt->parsed()) return run_sketch_fmt(sketch_options);
    if (sketch_run->parsed()) return run_sketch_run(global, sketch_options);
    if (sketch_design->parsed()) return run_sketch_design(global, sketch_options);
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
