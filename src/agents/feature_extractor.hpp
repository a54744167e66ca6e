#pragma once

#include <optional>
#include <string>

#include "core/task_spec.hpp"
#include "llm/provider.hpp"

namespace anvil::agents {

// The FeatureExtractor agent: asks the model for the task's features (a ```json block with
// op_name, op_type, category and logic). Returns nullopt with `error` set when the reply cannot
// be used; an op_type outside the known families is replaced by `fallback`'s, so the hard filter
// of retrieval keeps one vocabulary.
std::optional<TaskFeatures> extract_features(llm::Provider& provider,
                                             const std::string& task_source,
                                             const std::string& task_spec_json,
                                             const TaskFeatures& fallback, std::string& error);

}  // namespace anvil::agents
