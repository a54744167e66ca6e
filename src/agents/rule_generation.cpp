#include "agents/rule_generation.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "agents/rule_coder.hpp"
#include "agents/rule_designer.hpp"
#include "core/error.hpp"
#include "sketch/checker.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"

namespace anvil::agents {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Parses and checks the designed sketch; a rule that plans an invalid sketch is Anvil's bug.
sketch::SketchFile checked_sketch(const RuleDesign& design) {
  std::string file_name = design.sketch_name + ".sketch";
  auto parsed = sketch::parse_sketch_source(design.sketch, file_name);
  auto diagnostics = parsed.diagnostics;
  if (parsed.ok()) {
    auto found = sketch::check_sketch_file(parsed.file);
    diagnostics.insert(diagnostics.end(), found.begin(), found.end());
  }
  if (sketch::has_errors(diagnostics)) {
    throw Error("the built-in designer planned a sketch that fails its checks:\n" +
                    sketch::render_diagnostics(diagnostics, design.sketch, file_name) +
                    design.sketch,
                "this is a bug in Anvil's rules; please report it with the task file");
  }
  return std::move(parsed.file);
}

// The sketch as tuned: the configuration's constexpr values written into its declarations.
std::string sketch_with(sketch::SketchFile file, const TuningConfig& config) {
  for (auto& decl : file.sketches.front().constexprs) {
    auto found = config.constexprs.find(decl.name);
    if (found == config.constexprs.end()) continue;
    auto value = std::make_unique<sketch::Expr>();
    value->loc = decl.value->loc;
    if (found->second == std::floor(found->second)) {
      value->kind = sketch::Expr::Kind::integer;
      value->int_value = static_cast<std::int64_t>(found->second);
    } else {
      value->kind = sketch::Expr::Kind::floating;
      value->float_value = found->second;
    }
    decl.value = std::move(value);
  }
  return sketch::format_sketch_file(file);
}

struct Trial {
  TuningConfig config;
  std::string status;  // pass | fail | lowering-error
  std::string detail;
  std::optional<double> speedup;
  double seconds = 0;
  int attempt = 0;
};

json trial_json(const Trial& t) {
  return {{"attempt", t.attempt},
          {"config", t.config.label},
          {"constexprs", t.config.constexprs},
          {"status", t.status},
          {"detail", t.detail},
          {"speedup", t.speedup ? json(*t.speedup) : json(nullptr)},
          {"seconds", t.seconds}};
}

class RuleLoop {
 public:
  RuleLoop(const GenerationTask& task, const TaskSpec& spec, Environment& environment,
           const GenerateLimits& limits, RunDirectory& run, const ProgressSink& progress)
      : task_(task),
        spec_(spec),
        env_(environment),
        limits_(limits),
        run_(run),
        progress_(progress) {}

  GenerationSummary run() {
    emit(0, "designer", "rule-based");
    RuleDesign design = design_with_rules(spec_);
    auto file = checked_sketch(design);
    run_.write_text("sketch.txt", design.sketch);
    run_.trace({{"kind", "design"},
                {"source", "rules"},
                {"family", design.family},
                {"configs", design.configs.size()}});
    std::vector<Trial> trials;
    for (std::size_t i = 0; i < design.configs.size(); ++i) {
      if (static_cast<int>(i) >= limits_.tune_configs) break;
      if (i > 0 && seconds_since(start_) >= limits_.tune_seconds) {
        run_.trace({{"kind", "tuning-stopped"}, {"reason", "time budget"}, {"tried", i}});
        break;
      }
      trials.push_back(try_config(design, file, design.configs[i], static_cast<int>(i) + 1));
      run_.write_json("tuning.json", tuning_report(trials));
    }
    return finish(trials);
  }

 private:
  Trial try_config(const RuleDesign& design, const sketch::SketchFile& file,
                   const TuningConfig& config, int attempt) {
    Trial trial{config, "", "", std::nullopt, 0, attempt};
    auto started = Clock::now();
    auto reparsed = sketch::parse_sketch_source(design.sketch, design.sketch_name + ".sketch");
    std::string sketch_text = sketch_with(std::move(reparsed.file), config);
    auto dir = fmt::format("attempts/{}", attempt);
    run_.write_text(dir + "/sketch.txt", sketch_text);
    emit(attempt, "coder", config.label);
    sketch::CppKernel kernel;
    try {
      kernel = sketch::lower_to_cpp(file.sketches.front(), {config.constexprs});
    } catch (const sketch::LoweringError& e) {
      trial.status = "lowering-error";
      trial.detail = fmt::format("{}:{}: {}", e.loc().line, e.loc().column, e.what());
      trial.seconds = seconds_since(started);
      run_.trace({{"kind", "lowering-error"}, {"attempt", attempt}, {"message", trial.detail}});
      return trial;
    }
    std::string candidate = write_candidate_module(design, kernel, spec_, config.label);
    run_.write_text(dir + "/candidate.py", candidate);
    emit(attempt, "verify", config.label);
    Verdict verdict =
        env_.verify(run_.attempt_dir(attempt) / "candidate.py", run_.attempt_dir(attempt));
    run_.write_json(dir + "/verify.json", verdict.report);
    trial.status = verdict.passed ? "pass" : "fail";
    trial.detail =
        verdict.passed ? "" : verdict.stage + "/" + verdict.error_class + ": " + verdict.message;
    trial.speedup = verdict.speedup;
    trial.seconds = seconds_since(started);
    run_.trace({{"kind", "verify"},
                {"iteration", attempt},
                {"config", config.label},
                {"status", trial.status},
                {"stage", verdict.stage},
                {"error_class", verdict.error_class},
                {"speedup", verdict.speedup ? json(*verdict.speedup) : json(nullptr)},
                {"seconds", trial.seconds}});
    emit(attempt, "verified",
         verdict.passed
             ? fmt::format("{}: pass{} in {:.1f} s", config.label,
                           verdict.speedup ? fmt::format(", {:.2f}x", *verdict.speedup) : "",
                           trial.seconds)
             : fmt::format("{}: {}", config.label, trial.detail));
    if (verdict.passed && is_better(verdict.speedup))
      keep_best(attempt, sketch_text, candidate, verdict);
    return trial;
  }

  bool is_better(const std::optional<double>& speedup) const {
    if (best_attempt_ == 0) return true;
    return speedup && (!best_speedup_ || *speedup > *best_speedup_);
  }

  void keep_best(int attempt, const std::string& sketch_text, const std::string& candidate,
                 const Verdict& verdict) {
    best_attempt_ = attempt;
    best_speedup_ = verdict.speedup;
    run_.write_text("best/candidate.py", candidate);
    run_.write_text("best/sketch.txt", sketch_text);
    run_.write_json("best/verify.json", verdict.report);
  }

  json tuning_report(const std::vector<Trial>& trials) const {
    json list = json::array();
    for (const auto& t : trials) list.push_back(trial_json(t));
    return {{"budget_seconds", limits_.tune_seconds},
            {"max_configs", limits_.tune_configs},
            {"elapsed_seconds", seconds_since(start_)},
            {"best_attempt", best_attempt_},
            {"trials", list}};
  }

  GenerationSummary finish(const std::vector<Trial>& trials) {
    GenerationSummary summary;
    summary.model = "builtin";
    summary.iterations = static_cast<int>(trials.size());
    summary.speedup = best_speedup_;
    if (best_attempt_ > 0) {
      summary.status = "success";
      summary.reason = fmt::format("{} of {} configurations verified; kept {}", passed(trials),
                                   trials.size(), trials[best_attempt_ - 1].config.label);
      summary.best_candidate = run_.path() / "best" / "candidate.py";
    } else {
      summary.status = "failed";
      summary.reason = trials.empty() ? "no configuration was tried"
                                      : "no configuration verified: " + trials.front().detail;
    }
    run_.write_json("state.json", {{"task", task_.task.string()},
                                   {"task_name", task_.task_name},
                                   {"dsl", task_.dsl},
                                   {"backend", task_.backend},
                                   {"provider", "builtin"},
                                   {"status", summary.status},
                                   {"summary", summary.to_json()}});
    emit(summary.iterations, "done", summary.status + ": " + summary.reason);
    return summary;
  }

  static int passed(const std::vector<Trial>& trials) {
    int n = 0;
    for (const auto& t : trials) n += t.status == "pass";
    return n;
  }

  void emit(int iteration, const std::string& activity, const std::string& detail) {
    if (progress_)
      progress_({task_.task_name, iteration, activity, seconds_since(start_), 0, detail});
  }

  const GenerationTask& task_;
  const TaskSpec& spec_;
  Environment& env_;
  const GenerateLimits& limits_;
  RunDirectory& run_;
  const ProgressSink& progress_;
  Clock::time_point start_ = Clock::now();
  int best_attempt_ = 0;
  std::optional<double> best_speedup_;
};

}  // namespace

GenerationSummary run_rule_generation(const GenerationTask& task, const TaskSpec& spec,
                                      Environment& environment, const GenerateLimits& limits,
                                      RunDirectory& run, const ProgressSink& progress) {
  return RuleLoop(task, spec, environment, limits, run, progress).run();
}

}  // namespace anvil::agents
