#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agents/generation.hpp"
#include "core/config.hpp"
#include "docs/doc_pack.hpp"

namespace anvil::exec {

struct GenerateOptions {
  std::vector<std::filesystem::path> tasks;
  std::string dsl = "cpp";
  std::string backend = "cpu";
  std::filesystem::path runs_root = "runs";
  std::optional<std::filesystem::path> resume;  // continue this run folder (one task)
  int jobs = 1;                                 // tasks generated concurrently
  bool measure_timing = true;                   // false: correctness only, no speedups
};

struct TaskOutcome {
  std::filesystem::path task;
  std::filesystem::path run_dir;
  agents::GenerationSummary summary;
  std::string error;  // a failure that stopped the task early (provider unreachable, ...)
  std::string hint;
};

// Generates a kernel for every task: LLM calls of different tasks run concurrently (`jobs`),
// timings stay one at a time (the Verifier's machine-wide lock). Each task gets its own run folder
// under `runs_root` and its own database connection; nothing a task stored is lost when another
// fails.
std::vector<TaskOutcome> generate_kernels(const GenerateOptions& options, const Settings& settings,
                                          const agents::ProgressSink& progress);

// The documents every prompt of a DSL and backend is built from: the sketch language reference,
// knowledge/hardware/<backend>.md, the pack's suggestions, and a format example.
agents::Documents documents_for(const docs::DocPack& pack, const std::string& backend);

// The task files of a folder (`--tasks DIR`): every *.py below it, sorted.
std::vector<std::filesystem::path> task_files_in(const std::filesystem::path& folder);

}  // namespace anvil::exec
