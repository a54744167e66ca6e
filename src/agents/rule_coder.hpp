#pragma once

#include <string>

#include "agents/rule_designer.hpp"
#include "core/task_spec.hpp"
#include "sketch/lower_cpp.hpp"

namespace anvil::agents {

// The rule-based Coder's output: the candidate module (DESIGN.md's format) for a lowered sketch.
// ModelNew takes Model's constructor arguments, declares Model's parameters and buffers under the
// same names (the Verifier copies their values), views each input as the kernel's tensor, calls
// the kernel through anvil_rt.cpp and views each output back to the result's shape. `label` names
// the tuning configuration in the module's header comment.
std::string write_candidate_module(const RuleDesign& design, const sketch::CppKernel& kernel,
                                   const TaskSpec& spec, const std::string& label);

}  // namespace anvil::agents
