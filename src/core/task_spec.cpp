#include "core/task_spec.hpp"

#include "core/error.hpp"

namespace anvil {
namespace {

TensorInfo parse_value(const nlohmann::json& j) {
  TensorInfo info;
  info.name = j.value("name", "");
  info.kind = j.value("kind", "object");
  if (info.kind == "tensor") {
    info.shape = j.at("shape").get<std::vector<std::int64_t>>();
    info.dtype = j.at("dtype").get<std::string>();
  }
  return info;
}

std::vector<TensorInfo> parse_values(const nlohmann::json& list) {
  std::vector<TensorInfo> values;
  for (const auto& item : list) values.push_back(parse_value(item));
  return values;
}

}  // namespace

TaskSpec parse_task_spec(const nlohmann::json& description) {
  try {
    TaskSpec spec;
    spec.path = description.at("task");
    spec.frontend = description.at("frontend");
    spec.inputs = parse_values(description.at("inputs"));
    spec.outputs = parse_values(description.at("outputs"));
    for (const auto& d : description.at("dynamic_dims")) {
      spec.dynamic_dims.push_back({d.at("name"), d.at("low"), d.at("high"), d.at("default")});
    }
    for (const auto& op : description.at("op_graph")) {
      spec.op_graph.push_back(
          {op.at("op"), parse_values(op.at("inputs")), parse_values(op.at("outputs"))});
    }
    spec.raw = description;
    return spec;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed task description from the harness: ") + e.what(),
                "the harness and the anvil binary may be from different versions; rebuild");
  }
}

}  // namespace anvil
