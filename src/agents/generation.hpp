#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/run_dir.hpp"
#include "llm/provider.hpp"

namespace anvil::agents {

// What the Verifier said about one candidate, as much as the agents need.
struct Verdict {
  bool passed = false;
  std::string stage;
  std::string error_class;
  std::string message;
  std::string evidence;
  std::optional<double> speedup;
  nlohmann::json report;  // the Verifier's full JSON, stored with the attempt
  std::string build_log;
};

// Whether the sketch itself reproduces the reference, from running it in the interpreter.
struct SketchReplay {
  bool matched = false;
  std::string message;
};

// Documents the prompts are built from, chosen for the task's DSL and backend.
struct Documents {
  std::string language_reference;  // knowledge/sketch/LANGUAGE.md
  std::string hardware;            // knowledge/hardware/<backend>.md
  std::string suggestions;         // the DSL's expert suggestions (Conductor)
  std::string example;             // an example candidate in the DSL (format reference)
  std::string examples_for_designer;
};

// The world the loop acts on. The caller wires it to the Verifier, the interpreter and the
// document packs; agents/ only decides what to ask and where to route.
class Environment {
 public:
  virtual ~Environment() = default;
  virtual Verdict verify(const std::filesystem::path& candidate,
                         const std::filesystem::path& attempt_dir) = 0;
  // Runs the sketch against the task; nullopt when it cannot be run (too large, run-time error).
  virtual std::optional<SketchReplay> replay_sketch(const std::string& sketch_text) = 0;
  // The DSL's documents relevant to the functions a sketch uses (basic + API entries).
  virtual std::string coder_documents(const std::vector<std::string>& sketch_functions) = 0;
};

// One provider per agent role.
using Providers = std::map<std::string, std::shared_ptr<llm::Provider>>;

struct GenerationTask {
  std::filesystem::path task;
  std::string task_name;
  std::string task_source;
  std::string task_spec_json;
  std::string dsl;
  std::string backend;
};

// Progress for a person watching: one event per agent call or verification.
struct ProgressEvent {
  std::string task;
  int iteration = 0;
  std::string activity;  // "designer", "coder", "verify", "conductor", "done", ...
  double elapsed_s = 0;
  long tokens = 0;
  std::string detail;
};
using ProgressSink = std::function<void(const ProgressEvent&)>;

struct GenerationSummary {
  std::string status;  // success | failed
  std::string model;   // the Coder's model (provenance of a stored kernel)
  std::string reason;  // why it stopped
  int iterations = 0;
  int calls = 0;
  long prompt_tokens = 0;
  long completion_tokens = 0;
  double cost = 0;
  std::optional<double> speedup;
  std::filesystem::path best_candidate;
  nlohmann::json to_json() const;
};

// Runs the loop of DESIGN.md for one task: Designer -> sketch check (diagnostics go straight
// back) -> Coder -> Verifier -> Conductor routes failures, until a candidate passes or a limit
// is reached. Everything is written to `run` as it happens; when `run` already holds a state
// (resume), the loop continues from its last unfinished iteration. Provider failures that survive
// the retries are thrown (the state stays resumable).
GenerationSummary run_generation(const GenerationTask& task, const Providers& providers,
                                 Environment& environment, const Documents& documents,
                                 const GenerateLimits& limits, RunDirectory& run,
                                 const ProgressSink& progress);

}  // namespace anvil::agents
