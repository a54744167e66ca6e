#pragma once

#include "agents/generation.hpp"
#include "core/task_spec.hpp"

namespace anvil::agents {

// The built-in provider's loop (`anvil generate --llm builtin`): no LLM. The rule-based Designer
// plans a sketch from the operator graph, the lowering compiles it to C++/OpenMP, and a bounded
// tuning search verifies up to `limits.tune_configs` tile configurations (within
// `limits.tune_seconds`, the first always) and keeps the fastest that passes. Each configuration
// is an attempt folder; tuning.json lists what was tried and how long each took. Throws
// UnsupportedTask (a clear message naming the operator) when no rule covers the task.
GenerationSummary run_rule_generation(const GenerationTask& task, const TaskSpec& spec,
                                      Environment& environment, const GenerateLimits& limits,
                                      RunDirectory& run, const ProgressSink& progress);

}  // namespace anvil::agents
