#include "retrieval/features.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>

namespace anvil::retrieval {
namespace {

struct Family {
  const char* name;
  std::array<const char*, 16> ops;
};

// In priority order: the first family present in a graph is the task's type.
constexpr std::array<Family, 6> kFamilies{{
    {"matmul",
     {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "mv", "addmv", "dot", "einsum",
      "matmul"}},
    {"loss",
     {"nll_loss", "nll_loss_forward", "nll_loss2d_forward", "mse_loss", "smooth_l1_loss",
      "huber_loss", "kl_div", "binary_cross_entropy", "cross_entropy_loss", "l1_loss",
      "hinge_embedding_loss", "margin_ranking_loss", "soft_margin_loss", "cosine_embedding_loss"}},
    {"normalization",
     {"native_layer_norm", "layer_norm", "native_group_norm", "group_norm", "native_batch_norm",
      "batch_norm", "_native_batch_norm_legit", "instance_norm", "rsqrt", "norm",
      "linalg_vector_norm", "renorm"}},
    {"softmax", {"_softmax", "softmax", "_log_softmax", "log_softmax", "logsumexp"}},
    {"scan", {"cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"}},
    {"reduction",
     {"sum", "mean", "amax", "amin", "max", "min", "prod", "argmax", "argmin", "std", "var",
      "var_mean", "std_mean", "all", "any"}},
}};

std::string short_name(const std::string& op) {
  auto colon = op.rfind(':');
  auto dot = op.rfind('.');
  auto cut = colon != std::string::npos ? colon : dot;
  return cut == std::string::npos ? op : op.substr(cut + 1);
}

// Allocation, views and copies say nothing about what a task computes.
bool is_plumbing(const std::string& name) {
  static const std::set<std::string> plumbing{
      "view",      "_unsafe_view", "_reshape_alias", "reshape",    "t",
      "transpose", "permute",      "expand",         "clone",      "contiguous",
      "empty",     "empty_like",   "zeros",          "zeros_like", "detach",
      "unsqueeze", "squeeze",      "slice",          "select",     "alias",
      "_to_copy",  "copy_",        "lift_fresh",     "ones",       "full"};
  return plumbing.count(name) > 0;
}

std::string shapes_text(const std::vector<TensorInfo>& values) {
  std::vector<std::string> parts;
  for (const auto& v : values) {
    if (v.kind == "tensor")
      parts.push_back(fmt::format("{} [{}]", v.dtype, fmt::join(v.shape, ", ")));
  }
  return parts.empty() ? "scalars" : fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

std::string operator_family(const std::string& op) {
  std::string name = short_name(op);
  for (const auto& family : kFamilies) {
    for (const char* member : family.ops) {
      if (member && name == member) return family.name;
    }
  }
  return "elementwise";
}

TaskFeatures features_from_spec(const TaskSpec& spec) {
  std::vector<std::string> ops;
  std::set<std::string> families;
  for (const auto& record : spec.op_graph) {
    std::string name = short_name(record.op);
    if (is_plumbing(name)) continue;
    if (std::find(ops.begin(), ops.end(), name) == ops.end()) ops.push_back(name);
    families.insert(operator_family(record.op));
  }
  TaskFeatures features;
  features.op_type = "elementwise";
  for (const auto& family : kFamilies) {
    if (families.count(family.name)) {
      features.op_type = family.name;
      break;
    }
  }
  for (const auto& op : ops) {
    if (operator_family(op) == features.op_type) {
      features.op_name = op;
      break;
    }
  }
  if (features.op_name.empty()) features.op_name = ops.empty() ? "identity" : ops.front();
  bool chain = families.size() > 1 && !(families.size() == 2 && families.count("elementwise") &&
                                        features.op_type != "elementwise" && ops.size() <= 2);
  features.category = chain ? "fused" : features.op_type;
  features.logic =
      fmt::format("{} computes {} from {} to {}", features.op_type, fmt::join(ops, ", "),
                  shapes_text(spec.inputs), shapes_text(spec.outputs));
  return features;
}

}  // namespace anvil::retrieval
