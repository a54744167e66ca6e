#include "agents/feature_extractor.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "agents/prompts.hpp"

namespace anvil::agents {

std::optional<TaskFeatures> extract_features(llm::Provider& provider,
                                             const std::string& task_source,
                                             const std::string& task_spec_json,
                                             const TaskFeatures& fallback, std::string& error) {
  static const std::set<std::string> families{
      "elementwise", "reduction", "normalization", "softmax", "matmul", "scan", "loss"};
  auto prompt = render_prompt("feature_extractor",
                              {{"task_source", task_source}, {"task_spec", task_spec_json}});
  auto reply = provider.complete({"feature_extractor", {{"user", prompt}}});
  auto block = fenced_block(reply.content, "json");
  auto json = nlohmann::json::parse(block.value_or(""), nullptr, false);
  if (!json.is_object() || !json.contains("op_name") || !json.contains("logic")) {
    error = "the FeatureExtractor's reply holds no ```json block with op_name and logic";
    return std::nullopt;
  }
  TaskFeatures features;
  features.op_name = json.value("op_name", fallback.op_name);
  features.op_type = json.value("op_type", fallback.op_type);
  if (!families.count(features.op_type)) features.op_type = fallback.op_type;
  features.category = json.value("category", features.op_type);
  features.logic = json.value("logic", fallback.logic);
  return features;
}

}  // namespace anvil::agents
