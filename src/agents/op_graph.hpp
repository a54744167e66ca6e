#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/task_spec.hpp"

namespace anvil::agents {

// A task whose reference runs an operator the built-in designer has no rule for. `op` names the
// operator (e.g. "aten::conv2d"); the hint says how to use an LLM instead.
class UnsupportedTask : public Error {
 public:
  UnsupportedTask(const std::string& op, const std::string& why);
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

// The reference's data flow in primitive operations, the form the rule-based Designer plans from.
// Every node has an `aligned` shape of the graph's full rank: tensors broadcast against each other
// by position in it (size 1 = broadcast or reduced), as if every reduction kept its dims.
struct GraphNode {
  enum class Kind {
    input,        // a tensor of the task (forward's argument or the model's parameter/buffer)
    constant,     // a weakly typed scalar
    elementwise,  // op: a sketch function (add, exp, where, cast, gt, ...)
    reduce,       // op: sum, mean, max, min, prod, argmax, argmin over `axes`
    scan,         // op: cumsum, cumprod along axes[0]
    gather,       // args[0] read at the index args[1] along axes[0] (a per-row pick)
    gemm,         // args[0] @ args[1] (batched when rank 3), `trans_a` / `trans_b` by index
  };
  Kind kind = Kind::elementwise;
  std::string op;
  std::vector<int> args;
  std::vector<std::int64_t> aligned;
  std::vector<std::int64_t> shape;  // the torch shape of the value (what an output returns)
  std::string dtype;                // sketch dtype: f32, f64, i64, bool, ...; empty = weak scalar
  double value = 0;                 // constant
  std::vector<int> axes;            // reduce / scan / gather, in aligned positions
  std::int64_t ignore_index = 0;    // gather: the index value that selects nothing
  bool trans_a = false, trans_b = false;
  // input: the task tensor and how the kernel sees it. `dims` holds one Python expression per
  // aligned dim over `source`'s shape (e.g. "x.shape[0]", "1"): the wrapper views the tensor so.
  std::string source;
  std::vector<std::string> dims;
};

struct OpGraph {
  std::vector<GraphNode> nodes;
  std::vector<int> outputs;              // the node of each task output, in order
  std::vector<std::string> task_inputs;  // forward's tensor arguments, in order
  std::vector<std::string> parameters;   // the model's parameters and buffers, state_dict order
  std::vector<std::vector<std::int64_t>> parameter_shapes;
  int rank = 0;  // rank of every aligned shape

  // Python expression for the run-time size of aligned dim `d`, read from an input that spans it.
  std::string dim_expr(int d) const;
  bool has_gemm() const;
};

// Builds the graph from the task's traced operators (TaskSpec::raw's op_graph). Throws
// UnsupportedTask naming the first operator (or pattern) without a rule.
OpGraph build_op_graph(const TaskSpec& spec);

}  // namespace anvil::agents
