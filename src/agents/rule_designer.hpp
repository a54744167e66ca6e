#pragma once

#include <map>
#include <string>
#include <vector>

#include "agents/op_graph.hpp"
#include "core/task_spec.hpp"

namespace anvil::agents {

// One tensor of a designed sketch, in declaration order, and how the candidate's forward gets it:
// inputs are views of a task tensor, outputs are allocated and viewed back to the result's shape.
struct KernelBinding {
  std::string name;  // the sketch's tensor name
  bool output = false;
  std::string source;             // inputs: the task input or parameter name
  bool parameter = false;         // inputs: a model parameter or buffer (not a forward argument)
  std::string python;             // inputs: the Python variable holding the source tensor
  std::vector<std::string> dims;  // Python expressions of the shape the kernel sees
  std::string torch_dtype;        // e.g. "torch.float32"
  int output_index = -1;          // outputs: which of the task's results
  std::vector<std::string> result_shape;  // outputs: Python expressions of the returned shape
};

// A set of constexpr values to try (tile sizes); the first is the sketch's own.
struct TuningConfig {
  std::string label;
  std::map<std::string, double> constexprs;
};

struct RuleDesign {
  std::string family;  // elementwise, reduction, normalization, softmax, scan, loss, matmul, fused
  std::string sketch_name;
  std::string sketch;  // the sketch source (checked by the caller)
  std::vector<KernelBinding> tensors;
  std::vector<TuningConfig> configs;
};

// The rule-based Designer: plans a sketch from the task's operator graph. Elementwise chains are
// fused into one pass; reductions, scans, normalizations, softmax and losses become row programs
// (one pass per dependent reduction, the reduced dim tiled or looped); matrix products become a
// tiled GEMM with the elementwise epilogue fused. Throws UnsupportedTask for anything else.
RuleDesign design_with_rules(const TaskSpec& spec);

// The family a graph belongs to, for reports (the benchmark category when the task has one).
std::string graph_family(const OpGraph& graph);

}  // namespace anvil::agents
