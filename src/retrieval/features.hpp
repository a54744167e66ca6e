#pragma once

#include <string>

#include "core/task_spec.hpp"

namespace anvil::retrieval {

// Features from the TaskSpec's operator graph, without an LLM: the dominant operator family
// (matmul > loss > normalization > softmax > scan > reduction > elementwise), its first operator,
// "fused" when a chain spans families, and a sentence naming the operators and shapes.
TaskFeatures features_from_spec(const TaskSpec& spec);

// The family an operator belongs to ("aten::addmm" -> "matmul", "numpy.add" -> "elementwise").
std::string operator_family(const std::string& op);

}  // namespace anvil::retrieval
