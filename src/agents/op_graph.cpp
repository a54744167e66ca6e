#include "agents/op_graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

namespace anvil::agents {

UnsupportedTask::UnsupportedTask(const std::string& op, const std::string& why)
    : Error(fmt::format("the built-in designer has no rule for {}: {}", op, why),
            "configure an LLM endpoint for this task (anvil generate --llm openai --llm-url URL "
            "--llm-model MODEL, or an [llm] section in anvil.toml); the built-in provider covers "
            "elementwise chains, reductions, softmax, normalizations, scans, common losses and "
            "matrix products"),
      op_(op) {}

std::string OpGraph::dim_expr(int d) const {
  std::string fallback;
  for (const auto& node : nodes) {
    if (node.kind != GraphNode::Kind::input || node.dims.empty()) continue;
    if (node.aligned[d] == 1) {
      if (fallback.empty()) fallback = "1";
      continue;
    }
    return node.dims[d];
  }
  return fallback.empty() ? "1" : fallback;
}

bool OpGraph::has_gemm() const {
  return std::any_of(nodes.begin(), nodes.end(),
                     [](const GraphNode& n) { return n.kind == GraphNode::Kind::gemm; });
}

namespace {

using Json = nlohmann::json;
using Shape = std::vector<std::int64_t>;
using Kind = GraphNode::Kind;

std::string sketch_dtype(const std::string& torch_dtype) {
  static const std::map<std::string, std::string> names = {
      {"float32", "f32"}, {"float64", "f64"}, {"float16", "f16"}, {"bfloat16", "bf16"},
      {"int64", "i64"},   {"int32", "i32"},   {"int8", "i8"},     {"bool", "bool"}};
  auto found = names.find(torch_dtype);
  if (found == names.end())
    throw UnsupportedTask("a " + torch_dtype + " tensor", "the sketch has no such dtype");
  return found->second;
}

int dtype_rank(const std::string& dtype) {
  if (dtype == "bool") return 0;
  if (dtype == "i8" || dtype == "i32" || dtype == "i64") return 1;
  if (dtype == "f16" || dtype == "bf16") return 2;
  if (dtype == "f32") return 3;
  return 4;
}

bool is_float_dtype(const std::string& dtype) { return dtype_rank(dtype) >= 2; }

std::string python_name(const std::string& source, bool parameter) {
  std::string name = source;
  std::replace(name.begin(), name.end(), '.', '_');
  return parameter ? "p_" + name : name;
}

// Builds the graph operator by operator, keeping the map from the trace's tensor ids to nodes.
class GraphBuilder {
 public:
  explicit GraphBuilder(const TaskSpec& spec) : spec_(spec) {}

  OpGraph build() {
    const auto& raw = spec_.raw;
    for (const auto& input : raw.at("inputs")) {
      if (input.value("kind", "") == "tensor")
        graph_.task_inputs.push_back(input.value("name", ""));
    }
    for (const auto& p : raw.value("parameters", Json::array())) {
      graph_.parameters.push_back(p.at("name"));
      graph_.parameter_shapes.push_back(p.at("shape").get<Shape>());
    }
    graph_.rank = trace_rank();
    for (const auto& op : raw.at("op_graph")) apply(op);
    for (const auto& output : raw.at("outputs")) {
      if (!output.contains("id")) throw UnsupportedTask("an output", "it is not a tensor");
      int node = value_of(output);
      graph_.nodes[node].shape = output.at("shape").get<Shape>();
      graph_.outputs.push_back(node);
    }
    if (graph_.outputs.empty()) throw UnsupportedTask("the task", "it returns no tensor");
    return graph_;
  }

 private:
  int trace_rank() const {
    std::size_t rank = 1;
    std::function<void(const Json&)> visit = [&](const Json& value) {
      if (value.value("kind", "") == "tensor") rank = std::max(rank, value.at("shape").size());
      for (const auto& item : value.value("items", Json::array())) visit(item);
    };
    for (const auto& op : spec_.raw.at("op_graph")) {
      for (const auto& v : op.at("inputs")) visit(v);
      for (const auto& v : op.at("outputs")) visit(v);
      if (op.at("op") == "aten::native_group_norm") rank = std::max<std::size_t>(rank, 4);
    }
    for (const auto& v : spec_.raw.at("inputs")) visit(v);
    return static_cast<int>(rank);
  }

  Shape align(const Shape& shape) const {
    if (static_cast<int>(shape.size()) > graph_.rank)
      throw UnsupportedTask("a view", "it raises the rank of an intermediate value");
    Shape aligned(graph_.rank - shape.size(), 1);
    aligned.insert(aligned.end(), shape.begin(), shape.end());
    return aligned;
  }

  int add(GraphNode node) {
    graph_.nodes.push_back(std::move(node));
    return static_cast<int>(graph_.nodes.size()) - 1;
  }

  const GraphNode& node(int index) const { return graph_.nodes[index]; }

  // The node of a traced tensor: an earlier result, or a task input or parameter named by `ref`.
  int value_of(const Json& value) {
    if (value.value("kind", "") != "tensor")
      throw UnsupportedTask(current_op_, "an operand is not a tensor where one is expected");
    int id = value.at("id");
    auto found = values_.find(id);
    if (found != values_.end()) return found->second;
    if (!value.contains("ref"))
      throw UnsupportedTask(current_op_, "it reads a tensor the trace did not produce");
    Shape shape = value.at("shape").get<Shape>();
    int made = input_node(value.at("ref"), shape, align(shape), sketch_dtype(value.at("dtype")));
    values_[id] = made;
    return made;
  }

  // An input node: `aligned` says where each of the tensor's dims sits (right-aligned unless a rule
  // places it, like a batch norm's per-channel weight).
  int input_node(const std::string& source, const Shape& shape, const Shape& aligned,
                 const std::string& dtype, int first_dim = -1) {
    bool parameter = std::find(graph_.parameters.begin(), graph_.parameters.end(), source) !=
                     graph_.parameters.end();
    GraphNode n;
    n.kind = Kind::input;
    n.source = source;
    n.shape = shape;
    n.aligned = aligned;
    n.dtype = dtype;
    if (first_dim < 0) first_dim = graph_.rank - static_cast<int>(shape.size());
    n.dims.assign(graph_.rank, "1");
    for (std::size_t j = 0; j < shape.size(); ++j)
      n.dims[first_dim + j] = fmt::format("{}.shape[{}]", python_name(source, parameter), j);
    return add(std::move(n));
  }

  int constant(double value) {
    GraphNode n;
    n.kind = Kind::constant;
    n.value = value;
    n.aligned.assign(graph_.rank, 1);
    return add(std::move(n));
  }

  int cast(int x, const std::string& dtype) {
    if (node(x).dtype == dtype || node(x).kind == Kind::constant) return x;
    GraphNode n = node(x);
    n.kind = Kind::elementwise;
    n.op = "cast";
    n.args = {x};
    n.dtype = dtype;
    return add(std::move(n));
  }

  // An elementwise operation with broadcasting and type promotion (floats win over integers).
  int elementwise(const std::string& op, std::vector<int> args, bool boolean_result = false) {
    Shape aligned(graph_.rank, 1);
    Shape shape;
    std::string dtype;
    for (int a : args) {
      const auto& operand = node(a);
      for (int d = 0; d < graph_.rank; ++d) {
        if (operand.aligned[d] == 1) continue;
        if (aligned[d] != 1 && aligned[d] != operand.aligned[d])
          throw UnsupportedTask(current_op_, "its operands do not broadcast");
        aligned[d] = operand.aligned[d];
      }
      if (operand.shape.size() > shape.size()) shape = operand.shape;
      if (!operand.dtype.empty() &&
          (dtype.empty() || dtype_rank(operand.dtype) > dtype_rank(dtype)))
        dtype = operand.dtype;
    }
    if (dtype.empty()) dtype = "f32";
    bool needs_float = op == "div" || op == "exp" || op == "log" || op == "sqrt" || op == "rsqrt" ||
                       op == "tanh" || op == "erf" || op == "sigmoid" || op == "gelu" ||
                       op == "pow";
    if (needs_float && !is_float_dtype(dtype)) dtype = "f32";
    bool logic = op == "and" || op == "or" || op == "not";
    if (op != "where" && !logic) {
      for (auto& a : args) a = cast(a, dtype);
    } else if (op == "where") {
      for (std::size_t i = 1; i < args.size(); ++i) args[i] = cast(args[i], dtype);
    }
    GraphNode n;
    n.kind = Kind::elementwise;
    n.op = op;
    n.args = std::move(args);
    n.aligned = aligned;
    n.shape = shape;
    n.dtype = boolean_result ? "bool" : dtype;
    return add(std::move(n));
  }

  int unary(const std::string& op, int x) { return elementwise(op, {x}); }
  int binary(const std::string& op, int a, int b) { return elementwise(op, {a, b}); }
  int compare(const std::string& op, int a, int b) { return elementwise(op, {a, b}, true); }

  int reduce(const std::string& op, int x, std::vector<int> axes, bool keepdim) {
    const auto& operand = node(x);
    GraphNode n;
    n.kind = Kind::reduce;
    n.op = op;
    n.args = {x};
    n.aligned = operand.aligned;
    for (int a : axes) n.aligned[a] = 1;
    n.axes = std::move(axes);
    n.dtype = (op == "argmax" || op == "argmin") ? "i64" : operand.dtype;
    if (n.dtype == "bool" || (op == "mean" && !is_float_dtype(n.dtype))) n.dtype = "f32";
    n.shape = reduced_shape(operand, n.axes, keepdim);
    return add(std::move(n));
  }

  // The torch shape of a reduction's result: aligned positions map to the operand's own dims.
  Shape reduced_shape(const GraphNode& operand, const std::vector<int>& axes, bool keepdim) const {
    int offset = graph_.rank - static_cast<int>(operand.shape.size());
    Shape shape;
    for (int j = 0; j < static_cast<int>(operand.shape.size()); ++j) {
      bool reduced = std::find(axes.begin(), axes.end(), j + offset) != axes.end();
      if (!reduced) shape.push_back(operand.shape[j]);
      if (reduced && keepdim) shape.push_back(1);
    }
    return shape;
  }

  // Aligned positions of dims given in the operand's own numbering (negative counts from the end).
  std::vector<int> aligned_axes(int x, const Json& dims_value) const {
    int own_rank = static_cast<int>(node(x).shape.size());
    int offset = graph_.rank - own_rank;
    std::vector<int> axes;
    auto add_axis = [&](std::int64_t d) {
      if (d < 0) d += own_rank;
      axes.push_back(static_cast<int>(d) + offset);
    };
    if (dims_value.is_null() || (dims_value.is_array() && dims_value.empty())) {
      for (int d = 0; d < own_rank; ++d) axes.push_back(d + offset);
      return axes;
    }
    if (dims_value.is_array()) {
      for (const auto& d : dims_value) add_axis(d.get<std::int64_t>());
    } else {
      add_axis(dims_value.get<std::int64_t>());
    }
    std::sort(axes.begin(), axes.end());
    return axes;
  }

  // --- argument access ---------------------------------------------------------------------

  const Json* arg(const Json& op, std::size_t i, const char* keyword = nullptr) const {
    const auto& inputs = op.at("inputs");
    if (i < inputs.size()) return &inputs[i];
    if (keyword && op.contains("kwargs") && op["kwargs"].contains(keyword))
      return &op["kwargs"][keyword];
    return nullptr;
  }

  // A scalar or list argument's plain value (null when absent or None).
  Json scalar(const Json& op, std::size_t i, const char* keyword = nullptr) const {
    const Json* a = arg(op, i, keyword);
    if (!a) return nullptr;
    if (a->value("kind", "") == "sequence") {
      Json list = Json::array();
      for (const auto& item : a->at("items")) list.push_back(item.value("value", Json()));
      return list;
    }
    return a->value("value", Json());
  }

  double number(const Json& op, std::size_t i, double fallback,
                const char* keyword = nullptr) const {
    Json v = scalar(op, i, keyword);
    if (v.is_null()) return fallback;
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    return v.get<double>();
  }

  bool flag(const Json& op, std::size_t i, bool fallback, const char* keyword = nullptr) const {
    Json v = scalar(op, i, keyword);
    return v.is_boolean() ? v.get<bool>() : fallback;
  }

  bool is_tensor(const Json& op, std::size_t i) const {
    const Json* a = arg(op, i);
    return a && a->value("kind", "") == "tensor";
  }

  // An operand that may be a tensor or a Python scalar (add.Tensor vs add.Scalar, clamp bounds).
  int operand(const Json& op, std::size_t i) {
    if (is_tensor(op, i)) return value_of(op["inputs"][i]);
    return constant(number(op, i, 0));
  }

  void bind(const Json& op, std::size_t output, int node_index) {
    const auto& outputs = op.at("outputs");
    if (output >= outputs.size() || !outputs[output].contains("id")) return;
    graph_.nodes[node_index].shape = outputs[output].at("shape").get<Shape>();
    values_[outputs[output].at("id")] = node_index;
  }

  // --- operator rules ----------------------------------------------------------------------

  void apply(const Json& op) {
    current_op_ = op.at("op").get<std::string>();
    std::string name = current_op_.substr(current_op_.find("::") + 2);
    if (!name.empty() && name.back() == '_' && name != "zero_")
      throw UnsupportedTask(current_op_, "it updates a tensor in place (a module buffer?)");
    if (apply_elementwise(name, op) || apply_reduction(name, op) || apply_composite(name, op) ||
        apply_view(name, op) || apply_matmul(name, op))
      return;
    throw UnsupportedTask(current_op_, "no rule for this operator");
  }

  bool apply_elementwise(const std::string& name, const Json& op) {
    static const std::set<std::string> unaries = {"abs",   "neg",  "exp",     "log",  "sqrt",
                                                  "rsqrt", "tanh", "sigmoid", "relu", "erf"};
    if (unaries.count(name)) {
      bind(op, 0, unary(name, operand(op, 0)));
      return true;
    }
    static const std::map<std::string, std::string> binaries = {
        {"mul", "mul"}, {"div", "div"}, {"maximum", "max"}, {"minimum", "min"}};
    if (binaries.count(name)) {
      if (name == "div" && !scalar(op, 2, "rounding_mode").is_null())
        throw UnsupportedTask(current_op_, "only true division is supported");
      bind(op, 0, binary(binaries.at(name), operand(op, 0), operand(op, 1)));
      return true;
    }
    static const std::map<std::string, std::string> comparisons = {
        {"lt", "lt"}, {"le", "le"}, {"gt", "gt"}, {"ge", "ge"}, {"eq", "eq"}, {"ne", "ne"}};
    if (comparisons.count(name)) {
      bind(op, 0, compare(comparisons.at(name), operand(op, 0), operand(op, 1)));
      return true;
    }
    if (name == "add" || name == "sub" || name == "rsub") {
      int a = operand(op, 0), b = operand(op, 1);
      double alpha = number(op, 2, 1, "alpha");
      if (alpha != 1) b = binary("mul", b, constant(alpha));
      if (name == "rsub") std::swap(a, b);
      bind(op, 0, binary(name == "add" ? "add" : "sub", a, b));
      return true;
    }
    return apply_activation(name, op);
  }

  bool apply_activation(const std::string& name, const Json& op) {
    if (name == "gelu") {
      Json approximate = scalar(op, 1, "approximate");
      if (approximate.is_string() && approximate != "none")
        throw UnsupportedTask(current_op_, "only the exact (erf) GELU is supported");
      bind(op, 0, unary("gelu", operand(op, 0)));
      return true;
    }
    if (name == "silu") {
      int x = operand(op, 0);
      bind(op, 0, binary("mul", x, unary("sigmoid", x)));
      return true;
    }
    if (name == "leaky_relu") {
      int x = operand(op, 0);
      int scaled = binary("mul", x, constant(number(op, 1, 0.01, "negative_slope")));
      bind(op, 0, elementwise("where", {compare("gt", x, constant(0)), x, scaled}));
      return true;
    }
    if (name == "hardsigmoid") {
      int x = operand(op, 0);
      int t = binary("add", binary("div", x, constant(6)), constant(0.5));
      bind(op, 0, binary("min", binary("max", t, constant(0)), constant(1)));
      return true;
    }
    if (name == "clamp" || name == "clamp_min" || name == "clamp_max" || name == "hardtanh") {
      int x = operand(op, 0);
      Json low = scalar(op, 1, "min"), high = scalar(op, 2, "max");
      if (name == "hardtanh")
        low = low.is_null() ? Json(-1.0) : low, high = high.is_null() ? Json(1.0) : high;
      if (name == "clamp_max") high = low, low = nullptr;
      if (is_tensor(op, 1) || is_tensor(op, 2))
        throw UnsupportedTask(current_op_, "tensor clamp bounds are not supported");
      if (!low.is_null()) x = binary("max", x, constant(low.get<double>()));
      if (!high.is_null()) x = binary("min", x, constant(high.get<double>()));
      bind(op, 0, x);
      return true;
    }
    return apply_math(name, op);
  }

  bool apply_math(const std::string& name, const Json& op) {
    if (name == "pow") {
      int x = operand(op, 0);
      if (is_tensor(op, 1)) {
        bind(op, 0, binary("pow", x, operand(op, 1)));
        return true;
      }
      double e = number(op, 1, 1);
      int result = e == 2      ? binary("mul", x, x)
                   : e == 1    ? x
                   : e == 0.5  ? unary("sqrt", x)
                   : e == -0.5 ? unary("rsqrt", x)
                               : binary("pow", x, constant(e));
      bind(op, 0, result);
      return true;
    }
    if (name == "square") {
      int x = operand(op, 0);
      bind(op, 0, binary("mul", x, x));
      return true;
    }
    if (name == "reciprocal") {
      bind(op, 0, binary("div", constant(1), operand(op, 0)));
      return true;
    }
    if (name == "log1p" || name == "expm1") {
      int x = operand(op, 0);
      bind(op, 0,
           name == "log1p" ? unary("log", binary("add", x, constant(1)))
                           : binary("sub", unary("exp", x), constant(1)));
      return true;
    }
    if (name == "softplus") {
      int x = operand(op, 0);
      double beta = number(op, 1, 1), threshold = number(op, 2, 20);
      int bx = binary("mul", x, constant(beta));
      int soft =
          binary("div", unary("log", binary("add", unary("exp", bx), constant(1))), constant(beta));
      bind(op, 0, elementwise("where", {compare("gt", bx, constant(threshold)), x, soft}));
      return true;
    }
    if (name == "xlogy") {
      int x = operand(op, 0), y = operand(op, 1);
      int product = binary("mul", x, unary("log", y));
      bind(op, 0, elementwise("where", {compare("eq", x, constant(0)), constant(0), product}));
      return true;
    }
    if (name == "where") {
      bind(op, 0, elementwise("where", {operand(op, 0), operand(op, 1), operand(op, 2)}));
      return true;
    }
    if (name == "logical_not" || name == "bitwise_not") {
      bind(op, 0, elementwise("not", {operand(op, 0)}, true));
      return true;
    }
    if (name == "logical_and" || name == "logical_or") {
      bind(op, 0,
           elementwise(name == "logical_and" ? "and" : "or", {operand(op, 0), operand(op, 1)},
                       true));
      return true;
    }
    if (name == "_to_copy" || name == "to") {
      const Json* out = &op.at("outputs")[0];
      bind(op, 0, cast(operand(op, 0), sketch_dtype(out->at("dtype"))));
      return true;
    }
    return false;
  }

  bool apply_reduction(const std::string& name, const Json& op) {
    static const std::map<std::string, std::string> simple = {
        {"sum", "sum"}, {"mean", "mean"}, {"amax", "max"}, {"amin", "min"}};
    if (simple.count(name)) {
      int x = operand(op, 0);
      // sum.default / mean.default reduce everything; amax/amin's default overload has dims.
      bool all = op.value("overload", "") == "default" && (name == "sum" || name == "mean");
      Json dims = all ? Json() : scalar(op, 1, "dim");
      bool keepdim = all ? false : flag(op, 2, false, "keepdim");
      x = cast_for_reduction(x, op);
      bind(op, 0, reduce(simple.at(name), x, aligned_axes(x, dims), keepdim));
      return true;
    }
    if (name == "prod") {
      int x = operand(op, 0);
      bool all = op.value("overload", "") == "default";
      Json dims = all ? Json() : scalar(op, 1, "dim");
      bind(op, 0, reduce("prod", x, aligned_axes(x, dims), all ? false : flag(op, 2, false)));
      return true;
    }
    if (name == "max" || name == "min") {
      int x = operand(op, 0);
      if (op.value("overload", "") == "default") {
        bind(op, 0, reduce(name, x, aligned_axes(x, Json()), false));
        return true;
      }
      if (is_tensor(op, 1)) {  // max.other: the elementwise maximum
        bind(op, 0, binary(name, x, operand(op, 1)));
        return true;
      }
      auto axes = aligned_axes(x, scalar(op, 1, "dim"));
      bool keepdim = flag(op, 2, false, "keepdim");
      bind(op, 0, reduce(name, x, axes, keepdim));
      bind(op, 1, reduce("arg" + name, x, axes, keepdim));
      return true;
    }
    if (name == "argmax" || name == "argmin") {
      int x = operand(op, 0);
      Json dim = scalar(op, 1, "dim");
      if (dim.is_null()) throw UnsupportedTask(current_op_, "an argmax over all dims (flattened)");
      bind(op, 0, reduce(name, x, aligned_axes(x, dim), flag(op, 2, false, "keepdim")));
      return true;
    }
    return apply_norm(name, op);
  }

  int cast_for_reduction(int x, const Json& op) {
    Json dtype = scalar(op, 3, "dtype");
    if (node(x).dtype == "bool") return cast(x, "i64");
    (void)dtype;
    return x;
  }

  bool apply_norm(const std::string& name, const Json& op) {
    if (name != "norm" && name != "linalg_vector_norm") return false;
    int x = operand(op, 0);
    double p = number(op, 1, 2, "ord");
    Json dims = scalar(op, 2, "dim");
    bool keepdim = flag(op, 3, false, "keepdim");
    auto axes = aligned_axes(x, dims);
    if (p == 2) {
      bind(op, 0, unary("sqrt", reduce("sum", binary("mul", x, x), axes, keepdim)));
    } else if (p == 1) {
      bind(op, 0, reduce("sum", unary("abs", x), axes, keepdim));
    } else if (std::isinf(p) && p > 0) {
      bind(op, 0, reduce("max", unary("abs", x), axes, keepdim));
    } else {
      throw UnsupportedTask(current_op_, fmt::format("a p={} norm", p));
    }
    return true;
  }

  // softmax, layer/batch/group norm, losses: decomposed into primitive nodes.
  bool apply_composite(const std::string& name, const Json& op) {
    if (name == "_softmax" || name == "_log_softmax" || name == "logsumexp") {
      int x = operand(op, 0);
      auto axes = aligned_axes(x, scalar(op, 1, "dim"));
      int m = reduce("max", x, axes, true);
      int shifted = binary("sub", x, m);
      int exps = unary("exp", shifted);  // one node: a plan may compute it once and reuse it
      int s = reduce("sum", exps, axes, true);
      if (name == "_softmax") bind(op, 0, binary("div", exps, s));
      if (name == "_log_softmax") bind(op, 0, binary("sub", shifted, unary("log", s)));
      if (name == "logsumexp") {
        int result = binary("add", unary("log", s), m);
        graph_.nodes[result].shape = op.at("outputs")[0].at("shape").get<Shape>();
        bind(op, 0, result);
      }
      return true;
    }
    if (name == "native_layer_norm") return layer_norm(op);
    if (name == "native_batch_norm") return batch_norm(op);
    if (name == "native_group_norm") return group_norm(op);
    return apply_loss(name, op);
  }

  bool layer_norm(const Json& op) {
    int x = operand(op, 0);
    int normalized = static_cast<int>(scalar(op, 1).size());
    std::vector<int> axes;
    for (int d = graph_.rank - normalized; d < graph_.rank; ++d) axes.push_back(d);
    double eps = number(op, 4, 1e-5);
    int mean = reduce("mean", x, axes, true);
    int centered = binary("sub", x, mean);
    int var = reduce("mean", binary("mul", centered, centered), axes, true);
    int rstd = unary("rsqrt", binary("add", var, constant(eps)));
    int y = binary("mul", centered, rstd);
    if (is_tensor(op, 2)) y = binary("mul", y, operand(op, 2));
    if (is_tensor(op, 3)) y = binary("add", y, operand(op, 3));
    bind(op, 0, y);
    bind(op, 1, mean);
    bind(op, 2, rstd);
    return true;
  }

  // A per-channel tensor ([C]) of a batch/group norm, placed at the channel dim (aligned dim 1).
  int channel_tensor(const Json& op, std::size_t i) {
    const Json& value = op["inputs"][i];
    if (!value.contains("ref"))
      throw UnsupportedTask(current_op_, "its per-channel tensors are computed, not parameters");
    Shape shape = value.at("shape").get<Shape>();
    Shape aligned(graph_.rank, 1);
    aligned[1] = shape[0];
    return input_node(value.at("ref"), shape, aligned, sketch_dtype(value.at("dtype")), 1);
  }

  bool batch_norm(const Json& op) {
    int x = operand(op, 0);
    bool training = flag(op, 5, false);
    double eps = number(op, 7, 1e-5);
    if (graph_.rank < 2) throw UnsupportedTask(current_op_, "a batch norm of a 1-d tensor");
    int y;
    if (!training) {
      if (!is_tensor(op, 3) || !is_tensor(op, 4))
        throw UnsupportedTask(current_op_, "eval mode without running statistics");
      int mean = channel_tensor(op, 3), var = channel_tensor(op, 4);
      y = binary("mul", binary("sub", x, mean), unary("rsqrt", binary("add", var, constant(eps))));
    } else {
      if (is_tensor(op, 3))
        throw UnsupportedTask(current_op_, "training mode updates the running statistics");
      std::vector<int> axes;
      for (int d = 0; d < graph_.rank; ++d)
        if (d != 1) axes.push_back(d);
      int mean = reduce("mean", x, axes, true);
      int centered = binary("sub", x, mean);
      int var = reduce("mean", binary("mul", centered, centered), axes, true);
      y = binary("mul", centered, unary("rsqrt", binary("add", var, constant(eps))));
    }
    if (is_tensor(op, 1)) y = binary("mul", y, channel_tensor(op, 1));
    if (is_tensor(op, 2)) y = binary("add", y, channel_tensor(op, 2));
    bind(op, 0, y);
    return true;
  }

  // x [N, C, *] is viewed as [N, G, C/G, prod(*)]; the affine weight [C] as [1, G, C/G, 1].
  bool group_norm(const Json& op) {
    const Json& xv = op["inputs"][0];
    if (!xv.contains("ref") || graph_.rank != 4)
      throw UnsupportedTask(current_op_, "a group norm of a computed value");
    Shape shape = xv.at("shape").get<Shape>();
    auto groups = static_cast<std::int64_t>(number(op, 6, 1));
    double eps = number(op, 7, 1e-5);
    std::int64_t spatial = 1;
    for (std::size_t d = 2; d < shape.size(); ++d) spatial *= shape[d];
    std::string name = python_name(xv.at("ref"), is_parameter(xv.at("ref")));
    GraphNode n;
    n.kind = Kind::input;
    n.source = xv.at("ref");
    n.shape = shape;
    n.aligned = {shape[0], groups, shape[1] / groups, spatial};
    n.dtype = sketch_dtype(xv.at("dtype"));
    std::string rest = fmt::format("{}.shape[0]", name);
    std::vector<std::string> spatial_dims;
    for (std::size_t d = 2; d < shape.size(); ++d)
      spatial_dims.push_back(fmt::format("{}.shape[{}]", name, d));
    n.dims = {rest, std::to_string(groups), fmt::format("{}.shape[1] // {}", name, groups),
              spatial_dims.empty() ? "1" : fmt::format("{}", fmt::join(spatial_dims, " * "))};
    int x = add(std::move(n));
    int mean = reduce("mean", x, {2, 3}, true);
    int centered = binary("sub", x, mean);
    int var = reduce("mean", binary("mul", centered, centered), {2, 3}, true);
    int y = binary("mul", centered, unary("rsqrt", binary("add", var, constant(eps))));
    for (std::size_t i : {1u, 2u}) {
      if (!is_tensor(op, i)) continue;
      const Json& pv = op["inputs"][i];
      if (!pv.contains("ref")) throw UnsupportedTask(current_op_, "a computed affine tensor");
      GraphNode p;
      p.kind = Kind::input;
      p.source = pv.at("ref");
      p.shape = pv.at("shape").get<Shape>();
      p.aligned = {1, groups, shape[1] / groups, 1};
      p.dtype = sketch_dtype(pv.at("dtype"));
      std::string pname = python_name(p.source, is_parameter(p.source));
      p.dims = {"1", std::to_string(groups), fmt::format("{}.shape[0] // {}", pname, groups), "1"};
      y = binary(i == 1 ? "mul" : "add", y, add(std::move(p)));
    }
    graph_.nodes[y].shape = shape;
    bind(op, 0, y);
    return true;
  }

  bool is_parameter(const std::string& source) const {
    return std::find(graph_.parameters.begin(), graph_.parameters.end(), source) !=
           graph_.parameters.end();
  }

  // reduction: 0 none, 1 mean, 2 sum (torch's enum).
  int reduce_loss(const Json& op, int loss, std::size_t reduction_index) {
    auto reduction = static_cast<int>(number(op, reduction_index, 1, "reduction"));
    if (reduction == 0) return loss;
    return reduce(reduction == 1 ? "mean" : "sum", loss, aligned_axes(loss, Json()), false);
  }

  bool apply_loss(const std::string& name, const Json& op) {
    if (name == "mse_loss" || name == "l1_loss") {
      int d = binary("sub", operand(op, 0), operand(op, 1));
      bind(op, 0, reduce_loss(op, name == "mse_loss" ? binary("mul", d, d) : unary("abs", d), 2));
      return true;
    }
    if (name == "huber_loss" || name == "smooth_l1_loss") {
      double delta = number(op, 3, 1.0, name == "huber_loss" ? "delta" : "beta");
      int d = unary("abs", binary("sub", operand(op, 0), operand(op, 1)));
      int quadratic = binary("mul", binary("mul", d, d), constant(0.5));
      int linear = binary("sub", d, constant(0.5 * delta));
      if (name == "huber_loss") {
        linear = binary("mul", linear, constant(delta));
      } else {
        quadratic = binary("div", quadratic, constant(delta));
      }
      int loss = elementwise("where", {compare("lt", d, constant(delta)), quadratic, linear});
      bind(op, 0, reduce_loss(op, loss, 2));
      return true;
    }
    if (name == "nll_loss_forward" || name == "nll_loss") return nll_loss(op);
    return false;
  }

  // -logp[row, target[row]] averaged over the rows whose target is not ignore_index.
  bool nll_loss(const Json& op) {
    int logp = operand(op, 0);
    if (is_tensor(op, 2)) throw UnsupportedTask(current_op_, "class weights");
    if (graph_.rank != 2) throw UnsupportedTask(current_op_, "a loss over more than 2-d logits");
    const Json& tv = op["inputs"][1];
    int target;
    if (tv.contains("ref")) {
      Shape shape = tv.at("shape").get<Shape>();
      target = input_node(tv.at("ref"), shape, {shape[0], 1}, sketch_dtype(tv.at("dtype")), 0);
    } else {
      throw UnsupportedTask(current_op_, "computed targets");
    }
    auto ignore = static_cast<std::int64_t>(number(op, 4, -100, "ignore_index"));
    GraphNode pick;
    pick.kind = Kind::gather;
    pick.args = {logp, target};
    pick.axes = {1};
    pick.aligned = {node(logp).aligned[0], 1};
    pick.dtype = node(logp).dtype;
    pick.ignore_index = ignore;
    int picked = add(std::move(pick));
    int valid =
        cast(compare("ne", target, constant(static_cast<double>(ignore))), node(logp).dtype);
    auto reduction = static_cast<int>(number(op, 3, 1, "reduction"));
    int loss = unary("neg", picked);
    if (reduction == 0) {
      bind(op, 0, loss);
      return true;
    }
    int total = reduce("sum", loss, {0}, false);
    if (reduction == 1) total = binary("div", total, reduce("sum", valid, {0}, false));
    bind(op, 0, total);
    return true;
  }

  // Views: free when they only rename dims of size 1 (or are the last step to an output).
  bool apply_view(const std::string& name, const Json& op) {
    static const std::set<std::string> identity = {"clone", "detach", "alias", "contiguous",
                                                   "lift_fresh"};
    if (identity.count(name)) {
      bind(op, 0, operand(op, 0));
      return true;
    }
    if (name == "empty" || name == "zeros" || name == "empty_like") return true;  // unused scratch
    static const std::set<std::string> reshapes = {"view",           "_unsafe_view", "reshape",
                                                   "_reshape_alias", "unsqueeze",    "squeeze",
                                                   "expand",         "flatten"};
    if (reshapes.count(name)) return reshape(op);
    if (name == "t" || name == "permute" || name == "transpose") return transpose(op);
    if (name == "flip") return flip(op);
    if (name == "cumsum" || name == "cumprod") return scan(name, op);
    return false;
  }

  bool reshape(const Json& op) {
    const Json& source = op["inputs"][0];
    Shape to = op.at("outputs")[0].at("shape").get<Shape>();
    if (!values_.count(source.at("id")) && source.contains("ref")) {
      // A view of a task tensor: the wrapper makes it with the same view, so the kernel sees `to`.
      Shape from = source.at("shape").get<Shape>();
      if (!merges_only(from, to)) throw UnsupportedTask(current_op_, "a view that splits dims");
      int made = input_node(source.at("ref"), to, align(to), sketch_dtype(source.at("dtype")));
      graph_.nodes[made].dims = merged_dims(source.at("ref"), from, to);
      bind(op, 0, made);
      return true;
    }
    int x = value_of(source);
    GraphNode alias = node(x);
    alias.kind = Kind::elementwise;
    alias.op = "view";
    alias.args = {x};
    if (product(to) != product(node(x).shape)) alias.aligned = broadcast_aligned(node(x), to);
    int made = add(std::move(alias));
    bind(op, 0, made);
    return true;
  }

  static std::int64_t product(const Shape& shape) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }

  Shape broadcast_aligned(const GraphNode& x, const Shape& to) const {
    Shape aligned = align(to);
    for (int d = 0; d < graph_.rank; ++d)
      if (x.aligned[d] != 1 && aligned[d] != x.aligned[d])
        throw UnsupportedTask(current_op_, "an expand that moves dims");
    return aligned;
  }

  // Whether `to` groups consecutive dims of `from` (size-1 dims may come and go).
  static bool merges_only(const Shape& from, const Shape& to) {
    std::size_t i = 0;
    for (auto target : to) {
      if (target == 1) continue;
      std::int64_t acc = 1;
      while (i < from.size() && acc < target) acc *= from[i++];
      if (acc != target) return false;
    }
    return true;
  }

  std::vector<std::string> merged_dims(const std::string& source, const Shape& from,
                                       const Shape& to) const {
    std::string name = python_name(source, is_parameter(source));
    std::vector<std::string> dims(graph_.rank - to.size(), "1");
    std::size_t i = 0;
    for (auto target : to) {
      if (target == 1) {
        dims.push_back("1");
        continue;
      }
      std::vector<std::string> parts;
      std::int64_t acc = 1;
      while (i < from.size() && acc < target) {
        acc *= from[i];
        parts.push_back(fmt::format("{}.shape[{}]", name, i++));
      }
      dims.push_back(fmt::format("{}", fmt::join(parts, " * ")));
    }
    return dims;
  }

  // A transpose is only read by a matrix product: remember it on the node, swap at the gemm.
  bool transpose(const Json& op) {
    int x = operand(op, 0);
    const auto& n = node(x);
    if (n.shape.size() != 2 && !(n.shape.size() == 3 && op.at("op") != "aten::t"))
      throw UnsupportedTask(current_op_, "a transpose other than of a matrix");
    if (n.kind != Kind::input)
      throw UnsupportedTask(current_op_, "a transpose of a computed value");
    transposed_[op.at("outputs")[0].at("id")] = x;
    return true;
  }

  // flip(cumsum(flip(x))) along one dim is a reverse scan; any other flip has no rule.
  bool flip(const Json& op) {
    auto dims = scalar(op, 1, "dims");
    int id = op["inputs"][0].at("id");
    int out = op.at("outputs")[0].at("id");
    auto pending = reverse_scans_.find(id);
    if (pending != reverse_scans_.end()) {
      values_[out] = pending->second;
      return true;
    }
    int x = operand(op, 0);
    if (!dims.is_array() || dims.size() != 1)
      throw UnsupportedTask(current_op_, "a flip over several dims");
    flipped_[out] = {x, aligned_axes(x, dims[0])[0]};
    return true;
  }

  bool scan(const std::string& name, const Json& op) {
    int id = op["inputs"][0].at("id");
    auto flipped = flipped_.find(id);
    bool reverse = flipped != flipped_.end();
    int x = reverse ? flipped->second.first : operand(op, 0);
    if (node(x).dtype == "bool") x = cast(x, "i64");
    int axis = aligned_axes(x, scalar(op, 1, "dim"))[0];
    if (reverse && axis != flipped->second.second)
      throw UnsupportedTask(current_op_, "a scan over a dim other than the flipped one");
    GraphNode s;
    s.kind = Kind::scan;
    s.op = name;
    s.args = {x};
    s.aligned = node(x).aligned;
    s.shape = node(x).shape;
    s.dtype = node(x).dtype;
    s.axes = {axis};
    int inclusive = add(std::move(s));
    if (!reverse) {
      bind(op, 0, inclusive);
      return true;
    }
    if (name != "cumsum") throw UnsupportedTask(current_op_, "a reverse cumulative product");
    // suffix sum = total - prefix + x: one pass for the total, one for the scan.
    int total = reduce("sum", x, {axis}, true);
    int suffix = binary("add", binary("sub", total, inclusive), x);
    reverse_scans_[op.at("outputs")[0].at("id")] = suffix;
    return true;
  }

  // mm, addmm, bmm, mv and matmul's decompositions, with transposes taken from views.
  bool apply_matmul(const std::string& name, const Json& op) {
    if (name != "mm" && name != "addmm" && name != "bmm" && name != "mv") return false;
    std::size_t first = name == "addmm" ? 1 : 0;
    if (name == "addmm" && (number(op, 3, 1, "beta") != 1 || number(op, 4, 1, "alpha") != 1))
      throw UnsupportedTask(current_op_, "addmm with beta or alpha other than 1");
    if (name == "mv" || matrix_vector(op, first)) return matrix_vector_product(op, first);
    GraphNode g;
    g.kind = Kind::gemm;
    g.args = {matmul_operand(op, first, g.trans_a), matmul_operand(op, first + 1, g.trans_b)};
    Shape out = op.at("outputs")[0].at("shape").get<Shape>();
    if (name == "mv") out.push_back(1);
    g.shape = op.at("outputs")[0].at("shape").get<Shape>();
    g.aligned = align(out);
    g.dtype = node(g.args[0]).dtype;
    int product_node = add(std::move(g));
    if (name == "addmm") product_node = binary("add", product_node, operand(op, 0));
    bind(op, 0, product_node);
    return true;
  }

  // A [M, K] times a [K, 1] (or [K]) task tensor: a row reduction, not a GEMM.
  bool matrix_vector(const Json& op, std::size_t first) const {
    const auto& b = op["inputs"][first + 1];
    auto shape = b.value("shape", Shape{});
    return shape.size() == 2 && shape[1] == 1 && b.contains("ref") && graph_.rank == 2;
  }

  bool matrix_vector_product(const Json& op, std::size_t first) {
    if (graph_.rank != 2) throw UnsupportedTask(current_op_, "a batched matrix-vector product");
    int a = value_of(op["inputs"][first]);
    if (transposed_.count(op["inputs"][first].at("id")) || node(a).kind != Kind::input)
      throw UnsupportedTask(current_op_,
                            "a matrix-vector product of a transposed or computed matrix");
    const auto& bv = op["inputs"][first + 1];
    if (!bv.contains("ref")) throw UnsupportedTask(current_op_, "a computed vector");
    Shape shape = bv.at("shape").get<Shape>();
    int x =
        input_node(bv.at("ref"), Shape{shape[0]}, {1, shape[0]}, sketch_dtype(bv.at("dtype")), 1);
    int product_node = reduce("sum", binary("mul", a, x), {1}, true);
    if (first == 1) product_node = binary("add", product_node, operand(op, 0));
    bind(op, 0, product_node);
    return true;
  }

  int matmul_operand(const Json& op, std::size_t i, bool& transposed) {
    int id = op["inputs"][i].at("id");
    auto t = transposed_.find(id);
    if (t != transposed_.end()) {
      transposed = true;
      return t->second;
    }
    int x = operand(op, i);
    if (node(x).kind != Kind::input)
      throw UnsupportedTask(current_op_, "a matrix product of a computed value");
    return x;
  }

  const TaskSpec& spec_;
  OpGraph graph_;
  std::map<int, int> values_;                   // trace tensor id -> node
  std::map<int, int> transposed_;               // trace id of a transpose view -> its operand
  std::map<int, std::pair<int, int>> flipped_;  // trace id of a flip -> (operand, axis)
  std::map<int, int> reverse_scans_;            // trace id of a flipped scan -> suffix node
  std::string current_op_;
};

}  // namespace

OpGraph build_op_graph(const TaskSpec& spec) {
  if (spec.frontend != "torch")
    throw UnsupportedTask("a " + spec.frontend + " task",
                          "the built-in designer reads torch traces");
  return GraphBuilder(spec).build();
}

}  // namespace anvil::agents
