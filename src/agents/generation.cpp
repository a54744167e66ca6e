#include "agents/generation.hpp"

#include <fmt/format.h>

#include <chrono>
#include <set>

#include "agents/prompts.hpp"
#include "core/error.hpp"
#include "sketch/checker.hpp"
#include "sketch/parser.hpp"

namespace anvil::agents {
namespace {

using nlohmann::json;

// A limit of the run (tokens, wall time) was reached: the loop stops cleanly.
struct LimitReached {
  std::string reason;
};

// Functions a sketch calls, for choosing the API documents the Coder gets.
void collect_calls(const sketch::Expr* expr, std::set<std::string>& names) {
  if (!expr) return;
  if (expr->kind == sketch::Expr::Kind::call) names.insert(expr->text);
  for (const auto& operand : expr->operands) collect_calls(operand.get(), names);
  for (const auto& arg : expr->args) {
    collect_calls(arg.value.get(), names);
    collect_calls(arg.destination.get(), names);
  }
  for (const auto& sub : expr->subscripts) {
    for (const auto* part : {sub.index.get(), sub.start.get(), sub.stop.get(), sub.step.get()})
      collect_calls(part, names);
  }
}

void collect_calls(const std::vector<sketch::Stmt>& body, std::set<std::string>& names) {
  for (const auto& stmt : body) {
    collect_calls(stmt.value.get(), names);
    for (const auto& arg : stmt.range_args) collect_calls(arg.get(), names);
    collect_calls(stmt.body, names);
    for (const auto& branch : stmt.branches) {
      collect_calls(branch.condition.get(), names);
      collect_calls(branch.body, names);
    }
  }
}

// The compute functions a sketch calls. alloc, load and store appear in every sketch, so they say
// nothing about which API entries a Coder needs and would crowd out the ones that do.
std::vector<std::string> sketch_functions(const std::string& text) {
  auto parsed = sketch::parse_sketch_source(text, "sketch");
  std::set<std::string> names;
  for (const auto& s : parsed.file.sketches) collect_calls(s.body, names);
  for (const char* universal : {"alloc", "load", "store"}) names.erase(universal);
  return {names.begin(), names.end()};
}

std::string rule_route(const std::string& error_class) {
  return error_class == "numerical" ? "designer" : "coder";
}

class Loop {
 public:
  Loop(const GenerationTask& task, const Providers& providers, Environment& environment,
       const Documents& documents, const GenerateLimits& limits, RunDirectory& run,
       const ProgressSink& progress)
      : task_(task),
        providers_(providers),
        env_(environment),
        docs_(documents),
        limits_(limits),
        run_(run),
        progress_(progress),
        started_(std::chrono::steady_clock::now()) {}

  GenerationSummary run() {
    load_state();
    if (state_["status"] != "running") return summary_from_state();
    try {
      while (state_["iteration"].get<int>() <= limits_.max_iterations) {
        if (iterate()) return finish("success", "a candidate passed verification");
        state_["iteration"] = state_["iteration"].get<int>() + 1;
        save_state();
      }
      return finish("failed", fmt::format("no candidate passed within {} iterations",
                                          limits_.max_iterations));
    } catch (const LimitReached& limit) {
      return finish("failed", limit.reason);
    }
  }

 private:
  // ---- state -----------------------------------------------------------------------------
  void load_state() {
    if (run_.exists("state.json")) {
      state_ = run_.read_json("state.json");
      state_["totals"]["elapsed_before_s"] = state_["totals"].value("elapsed_s", 0.0);
      run_.trace({{"kind", "resume"}, {"iteration", state_["iteration"]}});
      return;
    }
    state_ = {{"task", task_.task.string()},
              {"task_name", task_.task_name},
              {"dsl", task_.dsl},
              {"backend", task_.backend},
              {"status", "running"},
              {"iteration", 1},
              {"route", "designer"},
              {"sketch", ""},
              {"designer_feedback", ""},
              {"coder_feedback", ""},
              {"history", json::array()},
              {"totals",
               {{"calls", 0},
                {"prompt_tokens", 0},
                {"completion_tokens", 0},
                {"cost", 0.0},
                {"elapsed_s", 0.0}}},
              {"best", nullptr}};
    save_state();
  }

  void save_state() {
    state_["totals"]["elapsed_s"] = elapsed();
    run_.write_json("state.json", state_);
  }

  double elapsed() const {
    double before =
        state_.contains("totals") ? state_["totals"].value("elapsed_before_s", 0.0) : 0.0;
    return before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  long tokens() const {
    return state_["totals"]["prompt_tokens"].get<long>() +
           state_["totals"]["completion_tokens"].get<long>();
  }

  int iteration() const { return state_["iteration"].get<int>(); }

  GenerationSummary finish(const std::string& status, const std::string& reason) {
    state_["status"] = status;
    state_["reason"] = reason;
    save_state();
    auto summary = summary_from_state();
    run_.write_json("summary.json", summary.to_json());
    emit("done", status + ": " + reason);
    return summary;
  }

  GenerationSummary summary_from_state() const {
    GenerationSummary s;
    s.status = state_.value("status", "running");
    if (auto coder = providers_.find("coder"); coder != providers_.end()) {
      s.model = coder->second->config().kind + ":" + coder->second->config().model;
    }
    s.reason = state_.value("reason", "");
    s.iterations = std::min(iteration(), limits_.max_iterations);
    const auto& totals = state_["totals"];
    s.calls = totals["calls"];
    s.prompt_tokens = totals["prompt_tokens"];
    s.completion_tokens = totals["completion_tokens"];
    s.cost = totals["cost"];
    if (!state_["best"].is_null()) {
      s.best_candidate = run_.path() / "best" / "candidate.py";
      if (state_["best"].contains("speedup") && !state_["best"]["speedup"].is_null())
        s.speedup = state_["best"]["speedup"];
    }
    return s;
  }

  void emit(const std::string& activity, const std::string& detail = {}) {
    if (progress_) progress_({task_.task_name, iteration(), activity, elapsed(), tokens(), detail});
  }

  // ---- LLM calls ---------------------------------------------------------------------------
  llm::ChatReply call(const std::string& role, const std::vector<llm::Message>& messages) {
    if (limits_.max_tokens > 0 && tokens() >= limits_.max_tokens) {
      throw LimitReached{fmt::format("the token limit ({}) was reached", limits_.max_tokens)};
    }
    if (limits_.max_seconds > 0 && elapsed() >= limits_.max_seconds) {
      throw LimitReached{fmt::format("the time limit ({} s) was reached", limits_.max_seconds)};
    }
    auto provider = providers_.find(role);
    if (provider == providers_.end()) throw Error("no LLM provider is configured for the " + role);
    emit(role);
    llm::ChatRequest request{role, messages};
    std::string prompt_hash = llm::short_hash(llm::cache_key(provider->second->config(), request));
    llm::ChatReply reply;
    try {
      reply = provider->second->complete(request);
    } catch (const Error& error) {
      run_.trace({{"kind", "llm"},
                  {"iteration", iteration()},
                  {"role", role},
                  {"prompt_hash", prompt_hash},
                  {"outcome", "error"},
                  {"error", error.what()}});
      save_state();
      throw;
    }
    auto& totals = state_["totals"];
    totals["calls"] = totals["calls"].get<int>() + 1;
    totals["prompt_tokens"] = totals["prompt_tokens"].get<long>() + reply.usage.prompt_tokens;
    totals["completion_tokens"] =
        totals["completion_tokens"].get<long>() + reply.usage.completion_tokens;
    totals["cost"] = totals["cost"].get<double>() + reply.cost;
    run_.trace({{"kind", "llm"},
                {"iteration", iteration()},
                {"role", role},
                {"prompt_hash", prompt_hash},
                {"prompt_tokens", reply.usage.prompt_tokens},
                {"completion_tokens", reply.usage.completion_tokens},
                {"seconds", reply.seconds},
                {"cost", reply.cost},
                {"cached", reply.from_cache},
                {"attempts", reply.attempts}});
    save_state();
    return reply;
  }

  struct BlockReply {
    std::string block;
    std::string raw;
  };

  // Asks for a fenced block; an answer without one gets one repair turn quoting the problem.
  std::optional<BlockReply> ask_block(const std::string& role, std::vector<llm::Message>& messages,
                                      const std::string& language, const std::string& expected) {
    for (int turn = 0; turn < 2; ++turn) {
      auto reply = call(role, messages);
      if (auto block = fenced_block(reply.content, language))
        return BlockReply{*block, reply.content};
      std::string problem = "it holds no ```" + language + " fenced block";
      run_.trace({{"kind", "unparsable"},
                  {"iteration", iteration()},
                  {"role", role},
                  {"problem", problem}});
      messages.push_back({"assistant", reply.content});
      messages.push_back(
          {"user", render_prompt("format_repair", {{"error", problem}, {"expected", expected}})});
    }
    return std::nullopt;
  }

  // ---- one iteration ---------------------------------------------------------------------
  bool iterate() {
    if (state_["route"] == "designer" || state_["sketch"].get<std::string>().empty()) {
      auto designed = design();
      if (!designed) {
        state_["route"] = "designer";
        return false;
      }
      state_["sketch"] = *designed;
      state_["route"] = "coder";
      save_state();
    }
    auto candidate = code();
    if (!candidate) {
      state_["coder_feedback"] =
          "Your previous reply held no ```python block with the candidate module.";
      return false;
    }
    auto dir = run_.attempt_dir(iteration());
    run_.write_text(fmt::format("attempts/{}/sketch.txt", iteration()),
                    state_["sketch"].get<std::string>());
    run_.write_text(fmt::format("attempts/{}/candidate.py", iteration()), *candidate);
    emit("verify");
    Verdict verdict = env_.verify(dir / "candidate.py", dir);
    run_.write_json(fmt::format("attempts/{}/verify.json", iteration()), verdict.report);
    if (!verdict.build_log.empty())
      run_.write_text(fmt::format("attempts/{}/build.log", iteration()), verdict.build_log);
    run_.trace({{"kind", "verify"},
                {"iteration", iteration()},
                {"status", verdict.passed ? "pass" : "fail"},
                {"stage", verdict.stage},
                {"error_class", verdict.error_class},
                {"speedup", verdict.speedup ? json(*verdict.speedup) : json(nullptr)}});
    emit("verified", verdict.passed ? "pass" : verdict.stage + "/" + verdict.error_class);
    if (verdict.passed) {
      keep_best(*candidate, verdict);
      return true;
    }
    conduct(verdict, *candidate);
    return false;
  }

  void keep_best(const std::string& candidate, const Verdict& verdict) {
    run_.write_text("best/candidate.py", candidate);
    run_.write_text("best/sketch.txt", state_["sketch"].get<std::string>());
    run_.write_json("best/verify.json", verdict.report);
    state_["best"] = {{"iteration", iteration()},
                      {"speedup", verdict.speedup ? json(*verdict.speedup) : json(nullptr)}};
  }

  std::optional<std::string> design() {
    std::string feedback = state_["designer_feedback"];
    std::vector<llm::Message> messages{
        {"system",
         render_prompt("designer_system", {{"dsl", task_.dsl},
                                           {"backend", task_.backend},
                                           {"language_reference", docs_.language_reference}})},
        {"user",
         render_prompt(
             "designer_user",
             {{"task_name", task_.task_name},
              {"task_source", task_.task_source},
              {"task_spec", task_.task_spec_json},
              {"hardware", docs_.hardware},
              {"examples", docs_.examples_for_designer},
              {"feedback",
               feedback.empty() ? "" : "Feedback on the previous attempt:\n" + feedback}})}};
    for (int round = 0; round <= limits_.sketch_repairs; ++round) {
      auto reply =
          ask_block("designer", messages, "sketch", "the whole sketch in one ```sketch block");
      if (!reply) return std::nullopt;
      std::string diagnostics = check(reply->block);
      if (diagnostics.empty()) return reply->block;
      state_["designer_feedback"] =
          "Anvil's checker rejected your last sketch:\n```\n" + diagnostics + "```";
      messages.push_back({"assistant", reply->raw});
      messages.push_back(
          {"user", render_prompt("designer_repair", {{"diagnostics", diagnostics}})});
    }
    return std::nullopt;
  }

  // The rendered errors of a sketch (empty when it checks clean; warnings do not block it).
  std::string check(const std::string& text) {
    auto parsed = sketch::parse_sketch_source(text, "sketch.txt");
    auto diagnostics = parsed.diagnostics;
    if (parsed.ok()) {
      auto found = sketch::check_sketch_file(parsed.file);
      diagnostics.insert(diagnostics.end(), found.begin(), found.end());
    }
    bool errors = sketch::has_errors(diagnostics) || parsed.file.sketches.empty();
    run_.trace({{"kind", "sketch_check"}, {"iteration", iteration()}, {"ok", !errors}});
    if (parsed.file.sketches.empty() && !sketch::has_errors(diagnostics))
      return "sketch.txt: error: the block holds no sketch\n";
    return errors ? sketch::render_diagnostics(diagnostics, text, "sketch.txt") : "";
  }

  std::optional<std::string> code() {
    std::string sketch = state_["sketch"];
    std::string feedback = state_["coder_feedback"];
    std::vector<llm::Message> messages{
        {"system", render_prompt("coder_system",
                                 {{"dsl", task_.dsl},
                                  {"backend", task_.backend},
                                  {"dsl_docs", env_.coder_documents(sketch_functions(sketch))}})},
        {"user",
         render_prompt(
             "coder_user",
             {{"task_name", task_.task_name},
              {"sketch", sketch},
              {"task_source", task_.task_source},
              {"task_spec", task_.task_spec_json},
              {"example", docs_.example},
              {"feedback",
               feedback.empty() ? "" : "Feedback on the previous attempt:\n" + feedback}})}};
    auto reply = ask_block("coder", messages, "python",
                           "the complete candidate module in one ```python block");
    if (!reply) return std::nullopt;
    return reply->block;
  }

  // ---- the Conductor ---------------------------------------------------------------------
  void conduct(const Verdict& verdict, const std::string& candidate) {
    std::string sketch = state_["sketch"];
    std::optional<std::string> forced;
    std::string sketch_check = "The sketch was not re-run for this failure.";
    if (verdict.error_class == "numerical") {
      if (auto replay = env_.replay_sketch(sketch)) {
        forced = replay->matched ? "coder" : "designer";
        sketch_check = replay->matched ? "Anvil ran the sketch in its interpreter and it "
                                         "reproduces the reference: the plan is "
                                         "right, the code deviates from it."
                                       : "Anvil ran the sketch in its interpreter and it does NOT "
                                         "reproduce the reference: " +
                                             replay->message;
      }
    }
    std::string rule = forced.value_or(rule_route(verdict.error_class));
    std::vector<llm::Message> messages{
        {"system", render_prompt("conductor_system",
                                 {{"dsl", task_.dsl}, {"suggestions", docs_.suggestions}})},
        {"user", render_prompt("conductor_user", {{"task_name", task_.task_name},
                                                  {"iteration", std::to_string(iteration())},
                                                  {"stage", verdict.stage},
                                                  {"error_class", verdict.error_class},
                                                  {"message", verdict.message},
                                                  {"evidence", verdict.evidence},
                                                  {"sketch_check", sketch_check},
                                                  {"rule_route", rule},
                                                  {"sketch", sketch},
                                                  {"candidate", candidate},
                                                  {"history", history_text()}})}};
    auto reply = ask_block(
        "conductor", messages, "json",
        "one ```json block: {\"route\": ..., \"error_class\": ..., \"suggestions\": ...}");
    std::string route = rule;
    std::string suggestions;
    if (reply) {
      auto decision = json::parse(reply->block, nullptr, false);
      if (decision.is_object()) {
        std::string proposed = decision.value("route", "");
        if (!forced && (proposed == "coder" || proposed == "designer")) route = proposed;
        suggestions =
            decision.contains("suggestions")
                ? (decision["suggestions"].is_string() ? decision["suggestions"].get<std::string>()
                                                       : decision["suggestions"].dump())
                : "";
      }
    }
    json record{{"rule_route", rule},
                {"route", route},
                {"forced", forced.has_value()},
                {"sketch_check", sketch_check},
                {"suggestions", suggestions}};
    run_.write_json(fmt::format("attempts/{}/conductor.json", iteration()), record);
    run_.trace({{"kind", "route"},
                {"iteration", iteration()},
                {"route", route},
                {"error_class", verdict.error_class}});
    route_feedback(route, verdict, candidate, suggestions, sketch_check);
    state_["history"].push_back({{"iteration", iteration()},
                                 {"stage", verdict.stage},
                                 {"error_class", verdict.error_class},
                                 {"message", verdict.message.substr(0, 300)},
                                 {"route", route}});
  }

  void route_feedback(const std::string& route, const Verdict& verdict,
                      const std::string& candidate, const std::string& suggestions,
                      const std::string& sketch_check) {
    std::string failure = fmt::format(
        "The candidate failed verification at stage {} ({}): {}\nEvidence:\n```\n{}\n```\n",
        verdict.stage, verdict.error_class, verdict.message, verdict.evidence);
    std::string advice = suggestions.empty() ? "" : "The Conductor suggests: " + suggestions + "\n";
    state_["route"] = route;
    if (route == "designer") {
      state_["designer_feedback"] = "Your previous sketch:\n```sketch\n" +
                                    state_["sketch"].get<std::string>() + "```\n" + failure +
                                    sketch_check + "\n" + advice;
      state_["coder_feedback"] = "";
    } else {
      state_["coder_feedback"] =
          failure + advice + "Your previous candidate:\n```python\n" + candidate + "```\n";
    }
  }

  std::string history_text() const {
    std::string text;
    for (const auto& h : state_["history"]) {
      text += fmt::format("- iteration {}: {} ({}) -> {}: {}\n", h["iteration"].get<int>(),
                          h["stage"].get<std::string>(), h["error_class"].get<std::string>(),
                          h["route"].get<std::string>(), h["message"].get<std::string>());
    }
    return text.empty() ? "(none)" : text;
  }

  const GenerationTask& task_;
  const Providers& providers_;
  Environment& env_;
  const Documents& docs_;
  const GenerateLimits& limits_;
  RunDirectory& run_;
  const ProgressSink& progress_;
  std::chrono::steady_clock::time_point started_;
  json state_;
};

}  // namespace

json GenerationSummary::to_json() const {
  return {
      {"status", status},
      {"model", model},
      {"reason", reason},
      {"iterations", iterations},
      {"calls", calls},
      {"tokens", {{"prompt", prompt_tokens}, {"completion", completion_tokens}}},
      {"cost", cost},
      {"speedup", speedup ? json(*speedup) : json(nullptr)},
      {"best_candidate", best_candidate.empty() ? json(nullptr) : json(best_candidate.string())}};
}

GenerationSummary run_generation(const GenerationTask& task, const Providers& providers,
                                 Environment& environment, const Documents& documents,
                                 const GenerateLimits& limits, RunDirectory& run,
                                 const ProgressSink& progress) {
  return Loop(task, providers, environment, documents, limits, run, progress).run();
}

}  // namespace anvil::agents
