#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace anvil {

// A task as the harness describes it (`anvil describe TASK --json`): what goes in and out,
// which dimensions vary, and the framework operators its reference runs, in order.
struct TensorInfo {
  std::string name;  // forward's parameter name (inputs only)
  std::string kind;  // tensor | scalar | sequence | object
  std::vector<std::int64_t> shape;
  std::string dtype;  // tensors only
};

struct DynamicDimSpec {
  std::string name;
  std::int64_t low = 0, high = 0, default_value = 0;
};

struct OpRecord {
  std::string op;  // e.g. aten::addmm or numpy.add
  std::vector<TensorInfo> inputs, outputs;
};

struct TaskSpec {
  std::string path;
  std::string frontend;  // torch | numpy
  std::vector<TensorInfo> inputs, outputs;
  std::vector<DynamicDimSpec> dynamic_dims;
  std::vector<OpRecord> op_graph;
  nlohmann::json raw;  // the harness's full description (init inputs, parameters, ...)

  bool is_dynamic() const { return !dynamic_dims.empty(); }
};

// What retrieval knows a task by (the seed's features): the operator, its family, the benchmark
// category, and a sentence of computation logic.
struct TaskFeatures {
  std::string op_name;   // e.g. "softmax", "addmm"
  std::string op_type;   // family: elementwise, reduction, normalization, softmax, matmul, scan, loss
  std::string category;  // benchmark category (fused for multi-family chains)
  std::string logic;     // one sentence: what is computed on which shapes
};

// Throws anvil::Error when the description lacks a field the C++ side relies on.
TaskSpec parse_task_spec(const nlohmann::json& description);

}  // namespace anvil
