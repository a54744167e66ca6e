#include "exec/generate_job.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "agents/feature_extractor.hpp"
#include "agents/prompts.hpp"
#include "agents/rule_generation.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"
#include "core/temp_dir.hpp"
#include "docs/doc_pack.hpp"
#include "exec/kernel_db.hpp"
#include "llm/endpoint.hpp"
#include "retrieval/features.hpp"
#include "store/kernel_store.hpp"
#include "store/llm_cache.hpp"
#include "verify/describe.hpp"
#include "verify/sketch_run.hpp"
#include "verify/verifier.hpp"

namespace anvil::exec {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kCoderDocsBudget = 60'000;  // characters (about 15k tokens)
constexpr std::size_t kSuggestionsBudget = 20'000;

// The Verifier, the interpreter and the document pack, as the agents' Environment.
class VerifierEnvironment : public agents::Environment {
 public:
  VerifierEnvironment(const Settings& settings, fs::path task, std::string dsl, std::string backend,
                      const docs::DocPack& pack, docs::EntryShortener shorten,
                      bool measure_timing = true)
      : measure_timing_(measure_timing),
        shorten_(std::move(shorten)),
        settings_(settings),
        task_(std::move(task)),
        dsl_(std::move(dsl)),
        backend_(std::move(backend)),
        pack_(pack) {}

  agents::Verdict verify(const fs::path& candidate, const fs::path& attempt_dir) override {
    verify::VerifyRequest request;
    request.task = task_;
    request.candidate = candidate;
    request.dsl = dsl_;
    request.backend = backend_;
    request.artifacts_dir = attempt_dir;
    request.measure_timing = measure_timing_;
    auto result = verify::verify_candidate(request, settings_);
    agents::Verdict verdict{
        result.passed,   result.stage,   result.error_class,      result.message,
        result.evidence, result.speedup, verify::to_json(result), ""};
    return verdict;
  }

  std::optional<agents::SketchReplay> replay_sketch(const std::string& sketch_text) override {
    TempDir scratch("anvil-replay");
    auto file = scratch.path() / "sketch.txt";
    write_file_atomically(file, sketch_text);
    try {
      auto result = verify::run_sketch_against_task({file, "", task_, {}, 0}, settings_);
      if (!result.checked || !result.ran) return std::nullopt;
      return agents::SketchReplay{result.matched, result.message};
    } catch (const Error&) {
      return std::nullopt;  // the sketch's inputs cannot be bound to this task: no verdict either
                            // way
    }
  }

  std::string coder_documents(const std::vector<std::string>& functions) override {
    return docs::select_coder_documents(pack_, functions, kCoderDocsBudget, shorten_);
  }

 private:
  bool measure_timing_;
  docs::EntryShortener shorten_;
  const Settings& settings_;
  fs::path task_;
  std::string dsl_, backend_;
  const docs::DocPack& pack_;
};

std::string read_optional(const fs::path& path) {
  return fs::exists(path) ? read_text_file(path) : "";
}

// Similar verified kernels from the database go into both prompts: their sketches to the
// Designer, the closest one's code to the Coder (instead of the generic format example).
void add_retrieved_examples(agents::Documents& documents, const Retrieved& retrieved) {
  if (retrieved.records.empty()) {
    documents.examples_for_designer = "No similar kernel is stored in the database yet.";
    return;
  }
  std::string sketches =
      "Sketches of similar kernels that passed verification (from the database):\n";
  for (std::size_t i = 0; i < retrieved.records.size(); ++i) {
    const auto& r = retrieved.records[i];
    const auto& hit = retrieved.hits[i];
    sketches += fmt::format(
        "\n{} ({}, {}; logic similarity {:.2f}, shape similarity {:.2f}){}:\n```sketch\n{}```\n",
        r.task_name, r.op_type, r.op_name, hit.score_logic, hit.score_shape,
        r.speedup ? fmt::format(", {:.2f}x over eager", *r.speedup) : "", r.sketch);
  }
  documents.examples_for_designer = sketches;
  const auto& best = retrieved.records.front();
  documents.example = fmt::format(
      "A verified candidate for a similar task ({}, {}) from the database:\n```python\n{}```\n",
      best.task_name, best.op_name, best.code);
}

// Stores the run, its attempts, and the verified kernel with its features and embeddings.
void remember(const Settings& settings, store::Database& db, const RunDirectory& run,
              const agents::GenerationTask& task, const TaskSpec& spec,
              const TaskFeatures& features, const agents::GenerationSummary& summary) {
  store::KernelStore kernels(db);
  auto run_id = kernels.add_run(run.path().string(), task.task.string(), task.dsl, task.backend,
                                summary.status, summary.to_json());
  for (int i = 1; fs::exists(run.attempt_dir(i) / "candidate.py"); ++i) {
    auto dir = run.attempt_dir(i);
    auto verdict = fs::exists(dir / "verify.json")
                       ? nlohmann::json::parse(read_text_file(dir / "verify.json"))
                       : nlohmann::json::object();
    std::optional<double> speedup;
    if (verdict.contains("speedup") && verdict["speedup"].is_number())
      speedup = verdict["speedup"].get<double>();
    kernels.add_attempt(run_id, i, read_optional(dir / "sketch.txt"),
                        read_text_file(dir / "candidate.py"), verdict.value("status", "unknown"),
                        verdict.contains("error_class") && verdict["error_class"].is_string()
                            ? verdict["error_class"].get<std::string>()
                            : "",
                        speedup);
  }
  if (summary.status != "success") return;
  store::KernelRecord record;
  record.task_hash = llm::short_hash(task.task_source);
  record.task_name = task.task_name;
  record.dsl = task.dsl;
  record.backend = task.backend;
  record.code = read_text_file(run.path() / "best" / "candidate.py");
  record.sketch = read_optional(run.path() / "best" / "sketch.txt");
  record.speedup = summary.speedup;
  auto verdict = nlohmann::json::parse(read_text_file(run.path() / "best" / "verify.json"));
  record.timings = verdict.value("timing", nlohmann::json::object());
  record.verdict = {{"status", verdict.value("status", "")}, {"seed", verdict.value("seed", 0ull)}};
  record.source = "run:" + run.path().string();
  record.model = summary.model;
  retrieval::describe_for_retrieval(record, spec, features, make_embedder(settings));
  kernels.add(record);
}

agents::Providers make_providers(const Settings& settings, store::LlmCache& cache,
                                 const fs::path& run_dir) {
  agents::Providers providers;
  auto mode = llm::parse_cache_mode(settings.llm_cache);
  for (const char* role : llm::kRoles) {
    auto config = llm::provider_config_for(settings, role);
    config.manual_dir = run_dir / "manual";
    providers[role] = llm::with_cache(llm::make_provider(config), &cache, mode);
  }
  return providers;
}

// Features from the FeatureExtractor agent when [retrieval].features = "llm", else (or when its
// reply cannot be used) from the operator graph; the trace says which.
TaskFeatures task_features(const Settings& settings, const agents::Providers& providers,
                           const agents::GenerationTask& task, const TaskSpec& spec,
                           RunDirectory& run) {
  auto rules = retrieval::features_from_spec(spec);
  if (settings.retrieval_features != "llm") {
    run.trace({{"kind", "features"}, {"source", "rules"}, {"op_type", rules.op_type}});
    return rules;
  }
  std::string error;
  auto extracted = agents::extract_features(*providers.at("feature_extractor"), task.task_source,
                                            task.task_spec_json, rules, error);
  run.trace({{"kind", "features"},
             {"source", extracted ? "feature_extractor" : "rules"},
             {"op_type", extracted ? extracted->op_type : rules.op_type},
             {"error", error}});
  return extracted.value_or(rules);
}

// With [docs] compress = true, long document entries reach the Coder shortened by the model
// (the analyzer role); the response cache makes each entry's compression a one-time cost.
docs::EntryShortener document_shortener(const Settings& settings,
                                        const agents::Providers& providers) {
  if (!settings.compress_documents) return {};
  auto provider = providers.at("analyzer");
  return [provider](const docs::DocEntry& entry) {
    auto reply = provider->complete(
        {"analyzer",
         {{"system", agents::render_prompt("docs_compress", {})}, {"user", entry.text}}});
    return agents::fenced_block(reply.content, "markdown").value_or(entry.text);
  };
}

bool uses_builtin_provider(const Settings& settings) {
  return llm::provider_config_for(settings, "designer").kind == "builtin";
}

// `--llm builtin`: the rule-based Designer and the sketch lowering instead of LLM agents; the
// verified kernel is stored like any other, with the rule features.
agents::GenerationSummary generate_with_rules(const agents::GenerationTask& generation,
                                              const TaskSpec& spec, const GenerateOptions& options,
                                              const Settings& settings, RunDirectory& run,
                                              const agents::ProgressSink& progress) {
  if (options.dsl != "cpp" || options.backend != "cpu") {
    throw UsageError("the built-in provider writes C++/OpenMP kernels for the CPU only",
                     "drop --dsl/--backend, or configure an LLM for other targets");
  }
  auto pack = docs::load_doc_pack(anvil_home() / "knowledge", generation.dsl);
  VerifierEnvironment environment(settings, generation.task, generation.dsl, generation.backend,
                                  pack, {}, options.measure_timing);
  auto summary =
      agents::run_rule_generation(generation, spec, environment, settings.generate, run, progress);
  store::Database db(settings.db_path);
  remember(settings, db, run, generation, spec, retrieval::features_from_spec(spec), summary);
  return summary;
}

TaskOutcome generate_one(const fs::path& task, const std::optional<fs::path>& resume,
                         const GenerateOptions& options, const Settings& settings,
                         const agents::ProgressSink& progress) {
  TaskOutcome outcome;
  outcome.task = task;
  try {
    auto run = resume ? RunDirectory::open(*resume)
                      : RunDirectory::create(options.runs_root, task.stem().string());
    outcome.run_dir = run.path();
    agents::GenerationTask generation{resume ? fs::path() : fs::absolute(task),
                                      task.stem().string(),
                                      "",
                                      "",
                                      options.dsl,
                                      options.backend};
    if (resume) {
      // A resumed run continues with what it started with, whatever the command line says now.
      auto state = run.read_json("state.json");
      generation.task = state.at("task").get<std::string>();
      generation.task_name = state.value("task_name", generation.task.stem().string());
      generation.dsl = state.value("dsl", options.dsl);
      generation.backend = state.value("backend", options.backend);
      outcome.task = generation.task;
    }
    generation.task_source = read_text_file(generation.task);
    if (!resume) run.write_text("task.py", generation.task_source);
    if (!verify::is_supported_target(generation.dsl, generation.backend)) {
      throw UsageError(fmt::format("unsupported target --dsl {} --backend {}", generation.dsl,
                                   generation.backend),
                       "supported targets: " + verify::supported_targets_text());
    }
    auto spec = verify::describe_task(generation.task, settings);
    generation.task_spec_json = spec.raw.dump(2);
    if (uses_builtin_provider(settings)) {
      outcome.summary = generate_with_rules(generation, spec, options, settings, run, progress);
      return outcome;
    }
    store::Database db(settings.db_path);
    store::LlmCache cache(db);
    auto providers = make_providers(settings, cache, run.path());
    auto features = task_features(settings, providers, generation, spec, run);
    auto pack = docs::load_doc_pack(anvil_home() / "knowledge", generation.dsl);
    auto documents = documents_for(pack, generation.backend);
    add_retrieved_examples(documents, retrieve_similar(db, spec, features, generation.dsl,
                                                       generation.backend, 2, settings));
    VerifierEnvironment environment(settings, generation.task, generation.dsl, generation.backend,
                                    pack, document_shortener(settings, providers),
                                    options.measure_timing);
    outcome.summary = agents::run_generation(generation, providers, environment, documents,
                                             settings.generate, run, progress);
    remember(settings, db, run, generation, spec, features, outcome.summary);
  } catch (const Error& error) {
    outcome.error = error.what();
    outcome.hint = error.hint();
    outcome.summary.status = "failed";
    outcome.summary.reason = error.what();
  }
  return outcome;
}

}  // namespace

std::vector<fs::path> task_files_in(const fs::path& folder) {
  if (!fs::is_directory(folder)) throw UsageError("task folder not found: " + folder.string());
  std::vector<fs::path> files;
  for (const auto& item : fs::recursive_directory_iterator(folder)) {
    if (item.is_regular_file() && item.path().extension() == ".py") files.push_back(item.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw UsageError("no task files (*.py) in " + folder.string());
  return files;
}

std::vector<TaskOutcome> generate_kernels(const GenerateOptions& options, const Settings& settings,
                                          const agents::ProgressSink& progress) {
  if (options.resume) return {generate_one({}, options.resume, options, settings, progress)};
  std::vector<TaskOutcome> outcomes(options.tasks.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < options.tasks.size(); i = next++) {
      outcomes[i] = generate_one(options.tasks[i], std::nullopt, options, settings, progress);
    }
  };
  std::vector<std::thread> workers;
  int count = std::max(1, std::min<int>(options.jobs, static_cast<int>(options.tasks.size())));
  for (int i = 0; i < count; ++i) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  return outcomes;
}

agents::Documents documents_for(const docs::DocPack& pack, const std::string& backend) {
  auto knowledge = anvil_home() / "knowledge";
  agents::Documents documents;
  documents.language_reference = read_text_file(knowledge / "sketch" / "LANGUAGE.md");
  documents.hardware = read_optional(knowledge / "hardware" / (backend + ".md"));
  if (documents.hardware.empty())
    documents.hardware = "(no hardware description for " + backend + ")";
  documents.suggestions = docs::suggestions_text(pack, kSuggestionsBudget);
  if (!pack.examples.empty()) {
    // The smallest example shows the candidate format; retrieval of similar kernels comes with the
    // database.
    auto smallest = *std::min_element(
        pack.examples.begin(), pack.examples.end(),
        [](const fs::path& a, const fs::path& b) { return fs::file_size(a) < fs::file_size(b); });
    documents.example =
        "A complete, verified candidate for another task, as a format reference:\n```python\n" +
        read_text_file(smallest) + "```\n";
  }
  return documents;
}

}  // namespace anvil::exec
