#include "agents/rule_designer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace anvil::agents {
namespace {

using Kind = GraphNode::Kind;
using Shape = std::vector<std::int64_t>;

std::string torch_dtype(const std::string& sketch_dtype) {
  static const std::map<std::string, std::string> names = {
      {"f32", "torch.float32"},   {"f64", "torch.float64"}, {"f16", "torch.float16"},
      {"bf16", "torch.bfloat16"}, {"i64", "torch.int64"},   {"i32", "torch.int32"},
      {"i8", "torch.int8"},       {"bool", "torch.bool"}};
  return names.at(sketch_dtype);
}

std::string literal(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::abs(value) < 1e15)
    return fmt::format("{}", static_cast<long long>(value));
  std::string text = fmt::format("{}", value);  // the shortest text that reads back exactly
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string python_identifier(const std::string& name) {
  std::string id;
  for (char ch : name) id += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0]))) id = "t_" + id;
  return id;
}

// Sketch text with Python-style indentation.
class SketchWriter {
 public:
  void line(const std::string& text) { out_ << std::string(2 * depth_, ' ') << text << '\n'; }
  void open(const std::string& header) {
    line(header);
    ++depth_;
  }
  void close() { --depth_; }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  int depth_ = 0;
};

// The nodes the outputs depend on, and how often each is read (common subexpressions).
std::vector<int> use_counts(const OpGraph& graph) {
  std::vector<int> uses(graph.nodes.size(), 0);
  std::vector<bool> seen(graph.nodes.size(), false);
  std::function<void(int)> visit = [&](int n) {
    if (seen[n]) return;
    seen[n] = true;
    for (int a : graph.nodes[n].args) {
      ++uses[a];
      visit(a);
    }
  };
  for (int out : graph.outputs) {
    ++uses[out];
    visit(out);
  }
  return uses;
}

// A group of adjacent dims the kernel sees as one (coalesced), reduced ('A') or kept ('K').
struct Group {
  char label = 'K';
  std::vector<int> dims;
  std::string symbol;  // sketch symbol of its size
  std::string var;     // loop variable
};

// What an expression is evaluated over: which index each group takes (a loop variable, a tile
// slice, or a gathered index), and whether the tiled group is a tile or a single element.
struct Context {
  std::map<int, std::string> index;  // group -> subscript text ("k0", "s:s + BLOCK", "r")
  int tiled_group = -1;              // the group whose subscript is a slice, or -1
};

// The scope of emitted names: node -> sketch name, nested like the sketch's blocks.
class Scopes {
 public:
  void push() { frames_.emplace_back(); }
  void pop() { frames_.pop_back(); }
  void set(int node, const std::string& name) { frames_.back()[node] = name; }
  const std::string* find(int node) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto found = it->find(node);
      if (found != it->end()) return &found->second;
    }
    return nullptr;
  }

 private:
  std::vector<std::map<int, std::string>> frames_;
};

std::string family_from_path(const std::string& path) {
  static const std::set<std::string> categories = {
      "elementwise", "reduction", "normalization", "softmax", "scan", "loss", "matmul", "fused"};
  auto parent = std::filesystem::path(path).parent_path().filename().string();
  return categories.count(parent) ? parent : "";
}

// ---------------------------------------------------------------------------------------------
// Shared by both plans: tensor declarations and bindings.

class Planner {
 public:
  Planner(const TaskSpec& spec, OpGraph graph)
      : spec_(spec), graph_(std::move(graph)), uses_(use_counts(graph_)) {
    domain_.assign(graph_.rank, 1);
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!uses_[n] &&
          std::find(graph_.outputs.begin(), graph_.outputs.end(), n) == graph_.outputs.end())
        continue;
      for (int d = 0; d < graph_.rank; ++d)
        domain_[d] = std::max(domain_[d], graph_.nodes[n].aligned[d]);
    }
    name_ = python_identifier(std::filesystem::path(spec.path).stem().string());
  }

 protected:
  const GraphNode& node(int n) const { return graph_.nodes[n]; }
  bool used(int n) const {
    return uses_[n] > 0 ||
           std::find(graph_.outputs.begin(), graph_.outputs.end(), n) != graph_.outputs.end();
  }

  std::string unique_name(std::string base) {
    base = python_identifier(base);
    std::string name = base;
    for (int i = 2; taken_.count(name); ++i) name = fmt::format("{}_{}", base, i);
    taken_.insert(name);
    return name;
  }

  // The Python expressions of a task output's returned shape.
  std::vector<std::string> result_shape(int output_index) {
    const Shape& shape = graph_.nodes[graph_.outputs[output_index]].shape;
    for (const auto& b : design_.tensors) {
      if (b.output || node_of_binding_.count(b.name) == 0) continue;
      const auto& source = node(node_of_binding_[b.name]);
      Shape source_shape = source_shape_of(source.source);
      if (source_shape == shape) {
        std::vector<std::string> dims;
        for (std::size_t j = 0; j < shape.size(); ++j)
          dims.push_back(fmt::format("{}.shape[{}]", b.python, j));
        return dims;
      }
    }
    const auto& out = node(graph_.outputs[output_index]);
    std::vector<std::string> dims;
    int d = 0;
    for (auto extent : shape) {
      if (extent == 1) {
        dims.push_back("1");
        continue;
      }
      while (d < graph_.rank && out.aligned[d] != extent) ++d;
      dims.push_back(d < graph_.rank ? graph_.dim_expr(d++) : std::to_string(extent));
    }
    return dims;
  }

  Shape source_shape_of(const std::string& source) const {
    const auto& raw = spec_.raw;
    for (const auto& input : raw.at("inputs"))
      if (input.value("name", "") == source && input.contains("shape"))
        return input.at("shape").get<Shape>();
    for (const auto& p : raw.value("parameters", nlohmann::json::array()))
      if (p.value("name", "") == source) return p.at("shape").get<Shape>();
    return {};
  }

  // Input nodes in the task's order: forward's arguments, then parameters and buffers.
  std::vector<int> inputs_in_task_order() const {
    auto rank = [&](int n) {
      const auto& source = node(n).source;
      auto& in = graph_.task_inputs;
      auto found = std::find(in.begin(), in.end(), source);
      if (found != in.end()) return static_cast<long>(found - in.begin());
      auto& ps = graph_.parameters;
      return static_cast<long>(in.size() + (std::find(ps.begin(), ps.end(), source) - ps.begin()));
    };
    std::vector<int> inputs;
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n)
      if (used(n) && node(n).kind == Kind::input) inputs.push_back(n);
    std::stable_sort(inputs.begin(), inputs.end(), [&](int a, int b) { return rank(a) < rank(b); });
    return inputs;
  }

  KernelBinding input_binding(int n, const std::string& name) {
    const auto& in = node(n);
    KernelBinding b;
    b.name = name;
    b.source = in.source;
    b.parameter = std::find(graph_.parameters.begin(), graph_.parameters.end(), in.source) !=
                  graph_.parameters.end();
    b.python = b.parameter ? "p_" + python_identifier(in.source) : python_identifier(in.source);
    b.torch_dtype = torch_dtype(in.dtype);
    node_of_binding_[name] = n;
    return b;
  }

  const TaskSpec& spec_;
  OpGraph graph_;
  std::vector<int> uses_;
  Shape domain_;
  std::string name_;
  RuleDesign design_;
  std::set<std::string> taken_;
  std::map<std::string, int> node_of_binding_;
};

// ---------------------------------------------------------------------------------------------
// Row programs: elementwise chains, reductions, scans, normalizations, softmax, losses.

class RowPlanner : public Planner {
 public:
  using Planner::Planner;

  RuleDesign plan() {
    find_reduced_dims();
    classify_nodes();
    make_groups();
    declare_tensors();
    schedule_passes();
    find_staged_values();
    emit();
    return design_;
  }

 private:
  // --- analysis --------------------------------------------------------------------------------

  std::set<int> effective_axes(int n) const {
    std::set<int> axes;
    const auto& operand = node(node(n).args[0]);
    for (int a : node(n).axes)
      if (operand.aligned[a] > 1) axes.insert(a);
    return axes;
  }

  std::int64_t numel(int n) const {
    std::int64_t total = 1;
    for (auto d : node(n).aligned) total *= d;
    return total;
  }

  void find_reduced_dims() {
    std::int64_t widest = -1;
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n)) continue;
      if (node(n).kind != Kind::reduce && node(n).kind != Kind::scan) continue;
      auto operand = numel(node(n).args[0]);
      if (operand > widest) {
        widest = operand;
        reduced_ = effective_axes(n);
      }
    }
  }

  bool varies(int n) const {
    const auto& x = node(n);
    switch (x.kind) {
      case Kind::input:
        return std::any_of(reduced_.begin(), reduced_.end(),
                           [&](int d) { return x.aligned[d] > 1; });
      case Kind::constant:
      case Kind::reduce:
      case Kind::gather:
        return false;
      case Kind::scan:
        return true;
      default:
        return std::any_of(x.args.begin(), x.args.end(), [&](int a) { return variant_[a]; });
    }
  }

  void classify_nodes() {
    std::size_t count = graph_.nodes.size();
    variant_.assign(count, false);
    global_.assign(count, false);
    epilogue_.assign(count, false);
    for (int n = 0; n < static_cast<int>(count); ++n) {
      const auto& x = node(n);
      if (x.kind == Kind::gemm) throw UnsupportedTask("a matrix product", "inside a row program");
      variant_[n] = varies(n);
      global_[n] = std::any_of(x.args.begin(), x.args.end(), [&](int a) { return global_[a]; });
      if (!used(n)) continue;
      if (x.kind == Kind::reduce) classify_reduction(n);
      if (x.kind == Kind::scan && effective_axes(n) != reduced_)
        throw UnsupportedTask("a scan", "it runs along a different dim than the task's reductions");
      if (global_[n] && variant_[n])
        throw UnsupportedTask("a global reduction",
                              "its result is combined with elements of a row-wise reduction");
    }
  }

  void classify_reduction(int n) {
    auto axes = effective_axes(n);
    int operand = node(n).args[0];
    if (axes == reduced_ && variant_[operand]) return;
    std::set<int> spanned;
    for (int d = 0; d < graph_.rank; ++d)
      if (node(operand).aligned[d] > 1) spanned.insert(d);
    if (!variant_[operand] && axes == spanned && !global_[operand]) {
      epilogue_[n] = true;
      global_[n] = true;
      return;
    }
    throw UnsupportedTask("aten reductions over different dims",
                          "one kernel reduces over one set of dims (plus a final total)");
  }

  bool present(int n, const Group& g) const { return node(n).aligned[g.dims[0]] > 1; }

  void make_groups() {
    std::vector<int> dims;
    for (int d = 0; d < graph_.rank; ++d)
      if (domain_[d] > 1) dims.push_back(d);
    if (dims.empty()) throw UnsupportedTask("the task", "every tensor has a single element");
    for (int d : dims) {
      char label = reduced_.count(d) ? 'A' : 'K';
      if (!groups_.empty() && groups_.back().label == label &&
          mergeable(groups_.back().dims.back(), d)) {
        groups_.back().dims.push_back(d);
        continue;
      }
      groups_.push_back({label, {d}, "", ""});
    }
    int kept = 0, reduced = 0;
    for (auto& g : groups_) {
      int index = g.label == 'K' ? kept++ : reduced++;
      g.symbol = fmt::format("{}{}", g.label == 'K' ? "K" : "R", index);
      g.var = fmt::format("{}{}", g.label == 'K' ? "k" : "j", index);
    }
    tiled_ = static_cast<int>(groups_.size()) - 1;
    rows_ = groups_[tiled_].label == 'A';
    global_pattern_ = kept == 0;
  }

  bool mergeable(int d1, int d2) const {
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n)) continue;
      const auto& x = node(n);
      bool io = x.kind == Kind::input ||
                std::find(graph_.outputs.begin(), graph_.outputs.end(), n) != graph_.outputs.end();
      if (io && (x.aligned[d1] > 1) != (x.aligned[d2] > 1)) return false;
    }
    return true;
  }

  std::vector<int> groups_of(int n) const {
    std::vector<int> gs;
    for (int g = 0; g < static_cast<int>(groups_.size()); ++g)
      if (present(n, groups_[g])) gs.push_back(g);
    return gs;
  }

  std::string group_dims_expr(int n, const Group& g, bool output) const {
    std::vector<std::string> parts;
    for (int d : g.dims) parts.push_back(output ? graph_.dim_expr(d) : node(n).dims[d]);
    return fmt::format("{}", fmt::join(parts, " * "));
  }

  void declare_tensors() {
    for (int n : inputs_in_task_order()) {
      std::string name = unique_name(node(n).source);
      tensor_of_[n] = name;
      auto binding = input_binding(n, name);
      for (int g : groups_of(n)) binding.dims.push_back(group_dims_expr(n, groups_[g], false));
      design_.tensors.push_back(binding);
    }
    for (std::size_t i = 0; i < graph_.outputs.size(); ++i) {
      int n = graph_.outputs[i];
      if (node(n).kind == Kind::input || node(n).kind == Kind::constant)
        throw UnsupportedTask("the task",
                              "an output is an input or a constant (nothing to compute)");
      KernelBinding b;
      b.name = unique_name(graph_.outputs.size() == 1 ? "out" : fmt::format("out{}", i));
      b.output = true;
      b.output_index = static_cast<int>(i);
      b.torch_dtype = torch_dtype(node(n).dtype);
      for (int g : groups_of(n)) b.dims.push_back(group_dims_expr(n, groups_[g], true));
      output_tensor_[n] = b.name;
      design_.tensors.push_back(b);
    }
    for (auto& b : design_.tensors)
      if (b.output) b.result_shape = result_shape(b.output_index);
  }

  // pass(r) for reductions and scans; variant outputs get the pass after what they read.
  void schedule_passes() {
    pass_.assign(graph_.nodes.size(), -1);
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      const auto& x = node(n);
      if (!used(n) || epilogue_[n]) continue;
      if (x.kind != Kind::reduce && x.kind != Kind::scan && !(is_output(n) && variant_[n]))
        continue;
      pass_[n] = needed_pass(n);
      passes_ = std::max(passes_, pass_[n] + 1);
    }
    delay_scans();
    if (passes_ == 0) passes_ = 1;
  }

  // A scan's value exists only in its own pass: run it in the pass of the outputs that read it
  // (a reverse scan's output also needs the row total of an earlier pass).
  void delay_scans() {
    for (int o : graph_.outputs) {
      if (!variant_[o] || pass_[o] < 0) continue;
      std::set<int> seen;
      std::function<void(int)> visit = [&](int m) {
        if (!seen.insert(m).second || !variant_[m]) return;
        if (node(m).kind == Kind::scan) {
          pass_[m] = std::max(pass_[m], pass_[o]);
          return;
        }
        for (int a : node(m).args) visit(a);
      };
      visit(o);
    }
  }

  // The first pass in which n's per-element value can be computed.
  int needed_pass(int n) {
    int pass = 0;
    std::set<int> seen;
    std::function<void(int, bool)> visit = [&](int m, bool through_variant) {
      if (!seen.insert(m).second) return;
      const auto& x = node(m);
      if (m != n && x.kind == Kind::reduce && !epilogue_[m]) {
        pass = std::max(pass, pass_[m] + 1);
        return;
      }
      if (m != n && x.kind == Kind::scan) {
        if (!through_variant)
          throw UnsupportedTask("a scan", "a reduction of its result is needed later");
        pass = std::max(pass, pass_[m]);
        return;
      }
      if (x.kind == Kind::gather) throw UnsupportedTask("a gathered value", "it feeds a row pass");
      for (int a : x.args) visit(a, variant_[a]);
    };
    visit(n, true);
    return pass;
  }

  bool is_output(int n) const {
    return std::find(graph_.outputs.begin(), graph_.outputs.end(), n) != graph_.outputs.end();
  }

  // --- staging -----------------------------------------------------------------------------------

  // An output of a later pass that depends on the row only through a costly value an earlier
  // pass computes anyway (softmax's exp(x - max), summed in pass 2) gets that value stored into
  // its own tensor by the earlier pass and reloaded: one exp per element instead of two.
  void find_staged_values() {
    for (int o : graph_.outputs) {
      if (!variant_[o] || pass_[o] <= 0 || node(o).kind != Kind::elementwise) continue;
      int best = -1, best_pass = -1;
      for (int m = 0; m < static_cast<int>(graph_.nodes.size()); ++m) {
        if (node(m).kind != Kind::reduce || epilogue_[m] || pass_[m] < 0 || pass_[m] >= pass_[o])
          continue;
        for (int e : subtree(node(m).args[0])) {
          if (!stageable(o, e) || (best >= 0 && !subtree(e).count(best))) continue;
          best = e;
          best_pass = pass_[m];
        }
      }
      if (best < 0 || needed_by_reductions_of_pass(best, pass_[o])) continue;
      staged_[o] = best;
      stage_pass_[o] = best_pass;
    }
  }

  std::set<int> subtree(int n) const {
    std::set<int> nodes;
    std::function<void(int)> visit = [&](int m) {
      if (!nodes.insert(m).second) return;
      for (int a : node(m).args) visit(a);
    };
    visit(n);
    return nodes;
  }

  bool stageable(int o, int e) const {
    const auto& x = node(e);
    if (e == o || x.kind != Kind::elementwise || !variant_[e]) return false;
    if (x.dtype != node(o).dtype || groups_of(e) != groups_of(o)) return false;
    return is_costly(e) && row_only_through(o, e);
  }

  bool is_costly(int e) const {
    static const std::set<std::string> costly = {"exp",     "log",  "tanh", "erf",
                                                 "sigmoid", "gelu", "pow"};
    auto nodes = subtree(e);
    return std::any_of(nodes.begin(), nodes.end(), [&](int m) {
      return node(m).kind == Kind::elementwise && costly.count(node(m).op);
    });
  }

  // Whether every row-varying value n reads is reached through e.
  bool row_only_through(int n, int e) const {
    if (n == e || !variant_[n]) return true;
    if (node(n).kind != Kind::elementwise) return false;
    const auto& args = node(n).args;
    return std::all_of(args.begin(), args.end(), [&](int a) { return row_only_through(a, e); });
  }

  bool needed_by_reductions_of_pass(int e, int p) const {
    for (int m : members_of_pass(p))
      if (subtree(node(m).args[0]).count(e)) return true;
    return false;
  }

  // --- expressions -------------------------------------------------------------------------------

  std::string call(const std::string& op, const std::vector<std::string>& args) const {
    static const std::map<std::string, std::string> infix = {
        {"lt", "<"},  {"le", "<="}, {"gt", ">"},    {"ge", ">="},
        {"eq", "=="}, {"ne", "!="}, {"and", "and"}, {"or", "or"}};
    auto found = infix.find(op);
    if (found != infix.end()) return fmt::format("({} {} {})", args[0], found->second, args[1]);
    if (op == "not") return fmt::format("(not {})", args[0]);
    return fmt::format("{}({})", op, fmt::join(args, ", "));
  }

  // The tensor subscript of node n's tensor in the current context.
  std::string subscript(int n, const std::string& tensor) const {
    std::vector<std::string> parts;
    for (int g : groups_of(n)) parts.push_back(ctx_.index.at(g));
    if (parts.empty()) return tensor;
    return fmt::format("{}[{}]", tensor, fmt::join(parts, ", "));
  }

  // Whether node n's value in the current context is a tile (spans the tiled group's slice).
  bool is_tile(int n) const {
    return ctx_.tiled_group >= 0 && present(n, groups_[ctx_.tiled_group]);
  }

  std::string load(int n) { return load_from(n, tensor_of_.at(n)); }

  // Node n's element(s) in the current context, read from `tensor` (its input, or the output a
  // staged value was stored into).
  std::string load_from(int n, const std::string& tensor) {
    std::string name = fresh(tensor + (is_tile(n) ? "_tile" : "_value"));
    std::string shape = is_tile(n) ? "[BLOCK]" : "[]";
    std::string hints = is_tile(n) ? R"(, llm_hint=["fastest", "input_cache"])" : "";
    out_.line(fmt::format("{} = alloc({}, dtype={}{})", name, shape, node(n).dtype, hints));
    out_.line(fmt::format("load({} -> {})", subscript(n, tensor), name));
    return name;
  }

  bool is_staged_value(int e) const {
    return std::any_of(staged_.begin(), staged_.end(),
                       [&](const auto& entry) { return entry.second == e; });
  }

  std::string fresh(const std::string& base) { return fmt::format("{}_{}", base, counter_++); }

  // The sketch expression of node n in the current context, emitting loads and shared values.
  std::string value(int n, bool named = false) {
    if (const auto* name = scopes_.find(n)) return *name;
    const auto& x = node(n);
    switch (x.kind) {
      case Kind::constant:
        return literal(x.value);
      case Kind::input: {
        std::string name = load(n);
        scopes_.set(n, name);
        return name;
      }
      case Kind::elementwise:
        break;
      default:
        throw UnsupportedTask("the plan",
                              fmt::format("node {} ({}) is not available here", n, x.op));
    }
    std::vector<std::string> args;
    for (int a : x.args) args.push_back(value(a));
    std::string text;
    if (x.op == "view") {
      text = args[0];
    } else if (reciprocal_.count(n)) {
      text = fmt::format("mul({}, {})", args[0], reciprocal_.at(n));
    } else if (x.op == "cast") {
      text = fmt::format("cast({}, {})", args[0], x.dtype);
    } else {
      text = call(x.op, args);
    }
    if (uses_[n] < 2 && !named && !is_staged_value(n)) return text;
    std::string name = fresh("v");
    out_.line(fmt::format("{} = {}", name, text));
    scopes_.set(n, name);
    return name;
  }

  // --- emission ------------------------------------------------------------------------------

  std::string accumulator_dtype(int n) const {
    const auto& dtype = node(node(n).args[0]).dtype;
    if (dtype == "f16" || dtype == "bf16" || dtype == "bool")
      return dtype == "bool" ? "i64" : "f32";
    return dtype;
  }

  std::string init_value(const std::string& op) const {
    if (op == "max" || op == "argmax") return "-inf";
    if (op == "min" || op == "argmin") return "inf";
    if (op == "prod") return "1";
    return "";
  }

  std::string combine(const std::string& op, const std::string& a, const std::string& b) const {
    if (op == "max" || op == "min") return fmt::format("{}({}, {})", op, a, b);
    if (op == "prod") return fmt::format("{} * {}", a, b);
    return fmt::format("{} + {}", a, b);
  }

  std::string reduce_function(const std::string& op) const {
    if (op == "max" || op == "min" || op == "prod") return "reduce_" + op;
    return "reduce_sum";
  }

  std::string reduced_count() const {
    std::vector<std::string> parts;
    for (const auto& g : groups_)
      if (g.label == 'A') parts.push_back(g.symbol);
    return fmt::format("{}", fmt::join(parts, " * "));
  }

  void alloc_filled(const std::string& name, const std::string& shape, const std::string& dtype,
                    const std::string& init) {
    std::string hints = init.empty() ? R"(["fastest", "accumulator", "init_zero"])"
                                     : R"(["fastest", "accumulator"])";
    out_.line(fmt::format("{} = alloc({}, dtype={}, llm_hint={})", name, shape, dtype, hints));
    if (!init.empty()) out_.line(fmt::format("{} = fill({}, {})", name, name, init));
  }

  struct Accumulator {
    std::string acc, tail, best, index;  // names; which are used depends on the reduction
  };

  // Accumulators of the reductions and carries of the scans in one pass, before its loops.
  void open_accumulators(const std::vector<int>& members) {
    for (int n : members) {
      const auto& x = node(n);
      Accumulator a;
      std::string lane_shape = rows_ ? "[BLOCK]" : (is_tile_group_value(n) ? "[BLOCK]" : "[]");
      if (x.kind == Kind::scan) {
        a.acc = fresh("carry");
        std::string dtype = scan_carry_dtype(n);
        alloc_filled(a.acc, rows_ ? "[]" : lane_shape, dtype, x.op == "cumprod" ? "1" : "");
      } else if (x.op == "argmax" || x.op == "argmin") {
        a.best = fresh("best");
        a.index = fresh("index");
        std::string shape = rows_ ? "[]" : lane_shape;
        alloc_filled(a.best, shape, accumulator_dtype(n), init_value(x.op));
        alloc_filled(a.index, shape, "i64", "");
      } else {
        a.acc = fresh("acc");
        alloc_filled(a.acc, lane_shape, accumulator_dtype(n), init_value(x.op));
        if (rows_) {
          a.tail = fresh("tail");
          alloc_filled(a.tail, "[]", accumulator_dtype(n), init_value(x.op));
        }
      }
      accumulators_[n] = a;
    }
  }

  // In the column form every value spans the tiled (kept) group when its operand does.
  bool is_tile_group_value(int n) const { return present(node(n).args[0], groups_[tiled_]); }

  std::string scan_carry_dtype(int n) const {
    const auto& dtype = node(n).dtype;
    if (node(n).op == "cumsum" && (dtype == "f32" || dtype == "f16" || dtype == "bf16"))
      return "f64";
    return dtype;
  }

  // Updates of the pass's reductions and scans for the current element(s), then stores.
  void accumulate(const std::vector<int>& members, bool tail, const std::string& position) {
    for (int n : members) {
      const auto& x = node(n);
      const auto& a = accumulators_.at(n);
      std::string e = value(x.args[0]);
      std::string acc_dtype = x.kind == Kind::scan ? scan_carry_dtype(n) : accumulator_dtype(n);
      std::string operand_dtype = node(x.args[0]).dtype;
      std::string ec = operand_dtype == acc_dtype ? e : fmt::format("cast({}, {})", e, acc_dtype);
      if (x.kind == Kind::scan) {
        scan_update(n, a, e, ec, tail);
        continue;
      }
      if (x.op == "argmax" || x.op == "argmin") {
        arg_update(n, a, e, tail, position);
        continue;
      }
      const std::string& target = (rows_ && tail) ? a.tail : a.acc;
      out_.line(fmt::format("{} = {}", target, combine(x.op, target, ec)));
    }
  }

  void scan_update(int n, const Accumulator& a, const std::string& e, const std::string& ec,
                   bool tail) {
    const auto& x = node(n);
    std::string name = fresh("scan");
    std::string op = x.op == "cumsum" ? "+" : "*";
    bool cast_back = scan_carry_dtype(n) != x.dtype;
    if (rows_ && !tail) {
      std::string local = fmt::format("{}({}, 0) {} {}", x.op, ec, op, a.acc);
      out_.line(fmt::format("{} = {}", name,
                            cast_back ? fmt::format("cast({}, {})", local, x.dtype) : local));
      std::string whole =
          x.op == "cumsum" ? fmt::format("reduce_sum({})", ec) : fmt::format("reduce_prod({})", ec);
      out_.line(fmt::format("{} = {} {} {}", a.acc, a.acc, op, whole));
    } else {
      out_.line(fmt::format("{} = {} {} {}", a.acc, a.acc, op, ec));
      out_.line(fmt::format("{} = {}", name,
                            cast_back ? fmt::format("cast({}, {})", a.acc, x.dtype) : a.acc));
    }
    (void)e;
    scopes_.set(n, name);
  }

  void arg_update(int n, const Accumulator& a, const std::string& e, bool tail,
                  const std::string& position) {
    const auto& x = node(n);
    std::string better = x.op == "argmax" ? ">" : "<";
    if (rows_ && !tail) {
      std::string extreme = fresh("tile_extreme");
      std::string at = fresh("tile_index");
      out_.line(
          fmt::format("{} = {}({})", extreme, x.op == "argmax" ? "reduce_max" : "reduce_min", e));
      out_.line(fmt::format("{} = {}({}, 0)", at, x.op, e));
      out_.open(fmt::format("if {} {} {}:", extreme, better, a.best));
      out_.line(fmt::format("{} = {}", a.best, extreme));
      out_.line(fmt::format("{} = {} + {}", a.index, at, position));
      out_.close();
      return;
    }
    if (rows_) {
      out_.open(fmt::format("if {} {} {}:", e, better, a.best));
      out_.line(fmt::format("{} = {}", a.best, e));
      out_.line(fmt::format("{} = fill({}, {})", a.index, a.index, position));
      out_.close();
      return;
    }
    // The index first, then the extreme: no bool buffer between them (a byte mask beside float
    // lanes keeps the compiler from vectorizing the selects).
    out_.line(fmt::format("{} = where({} {} {}, fill({}, {}), {})", a.index, e, better, a.best,
                          a.index, position, a.index));
    out_.line(fmt::format("{} = {}({}, {})", a.best, x.op == "argmax" ? "max" : "min", a.best, e));
  }

  // After the pass's loops: the reductions' results as row-level names.
  void finish_accumulators(const std::vector<int>& members) {
    for (int n : members) {
      const auto& x = node(n);
      if (x.kind == Kind::scan) continue;
      const auto& a = accumulators_.at(n);
      if (x.op == "argmax" || x.op == "argmin") {
        scopes_.set(n, a.index);
        continue;
      }
      std::string total =
          rows_ ? combine(x.op, fmt::format("{}({})", reduce_function(x.op), a.acc), a.tail)
                : a.acc;
      if (global_pattern_) {
        partial_result(n, total);
        continue;
      }
      finish_value(n, total);
    }
  }

  void finish_value(int n, std::string total) {
    const auto& x = node(n);
    if (x.op == "mean") total = fmt::format("({}) / ({})", total, reduced_count());
    if (accumulator_dtype(n) != x.dtype) total = fmt::format("cast({}, {})", total, x.dtype);
    std::string name = fresh("reduced");
    out_.line(fmt::format("{} = {}", name, total));
    scopes_.set(n, name);
  }

  // Global form: each chunk stores its partial result; the total is taken after the loop.
  void partial_result(int n, const std::string& total) {
    out_.line(fmt::format("store({} -> {}[c])", total, partials_.at(n)));
  }

  // --- the loop structure ----------------------------------------------------------------------

  std::vector<int> members_of_pass(int p) const {
    std::vector<int> members;
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n)
      if (pass_[n] == p && (node(n).kind == Kind::reduce || node(n).kind == Kind::scan))
        members.push_back(n);
    return members;
  }

  std::vector<int> stores_of_pass(int p) const {
    std::vector<int> stores;
    for (int n : graph_.outputs)
      if (variant_[n] && pass_[n] == p) stores.push_back(n);
    return stores;
  }

  // The element work after a pass's accumulation: staged values for later passes, then outputs.
  void emit_element_stores(int p, const std::vector<int>& stores) {
    for (const auto& [o, e] : staged_) {
      if (stage_pass_.at(o) != p) continue;
      out_.line(fmt::format("store({} -> {})", value(e), subscript(o, output_tensor_.at(o))));
    }
    for (int n : stores) store_output(n);
  }

  void store_output(int n) {
    auto staged = staged_.find(n);
    if (staged != staged_.end() && scopes_.find(staged->second) == nullptr)
      scopes_.set(staged->second, load_from(n, output_tensor_.at(n)));
    std::string value_text = value(n);
    out_.line(fmt::format("store({} -> {})", value_text, subscript(n, output_tensor_.at(n))));
  }

  // The loops over the reduced groups that are not tiled (column form: all of them).
  void open_reduced_loops(int& opened) {
    for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
      if (groups_[g].label != 'A' || g == tiled_) continue;
      if (global_pattern_ && g == 0 && chunk_group_ == 0) continue;  // the chunk loop is this one
      out_.open(fmt::format("for {} in range({}):", groups_[g].var, groups_[g].symbol));
      ctx_.index[g] = groups_[g].var;
      ++opened;
    }
  }

  std::string flat_reduced_index() const {
    std::string index;
    for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
      if (groups_[g].label != 'A') continue;
      std::string var = g == tiled_ && rows_ ? "" : groups_[g].var;
      index = index.empty() ? var : fmt::format("({}) * {} + {}", index, groups_[g].symbol, var);
    }
    return index;
  }

  // One pass over the reduced dims for the current row (or chunk / column tile).
  void emit_pass(int p) {
    auto members = members_of_pass(p);
    auto stores = stores_of_pass(p);
    if (members.empty() && stores.empty()) return;
    open_accumulators(members);
    int opened = 0;
    open_reduced_loops(opened);
    if (rows_) {
      emit_row_tiles(p, members, stores);
    } else {
      scopes_.push();
      accumulate(members, false, flat_reduced_index());
      emit_element_stores(p, stores);
      scopes_.pop();
    }
    for (int i = 0; i < opened; ++i) out_.close();
    for (int g = 0; g < static_cast<int>(groups_.size()); ++g)
      if (groups_[g].label == 'A' && g != tiled_) ctx_.index.erase(g);
    finish_accumulators(members);
  }

  // Row form: full tiles of the reduced dim, then the tail one element at a time.
  void emit_row_tiles(int p, const std::vector<int>& members, const std::vector<int>& stores) {
    const auto& t = groups_[tiled_];
    std::string full_end = fmt::format("{} - {} % BLOCK", t.symbol, t.symbol);
    std::string begin = "0", end = t.symbol;
    if (global_pattern_ && chunk_group_ == tiled_) {
      begin = "c * CHUNK";
      end = fmt::format("min(c * CHUNK + CHUNK, {})", t.symbol);
      full_end = fmt::format("min(c * CHUNK + CHUNK, {})", full_end);
    }
    std::string prefix = flat_prefix();
    out_.line("@llm_hint(vectorize)");
    out_.open(fmt::format("for s in range({}, {}, BLOCK):", begin, full_end));
    scopes_.push();
    ctx_.index[tiled_] = "s:s + BLOCK";
    ctx_.tiled_group = tiled_;
    accumulate(members, false, prefix.empty() ? "s" : prefix + " + s");
    emit_element_stores(p, stores);
    scopes_.pop();
    out_.close();
    std::string tail_begin =
        global_pattern_ && chunk_group_ == tiled_
            ? fmt::format("max(c * CHUNK, {} - {} % BLOCK)", t.symbol, t.symbol)
            : fmt::format("{} - {} % BLOCK", t.symbol, t.symbol);
    out_.open(fmt::format("for r in range({}, {}):", tail_begin, end));
    scopes_.push();
    ctx_.index[tiled_] = "r";
    ctx_.tiled_group = -1;
    accumulate(members, true, prefix.empty() ? "r" : prefix + " + r");
    emit_element_stores(p, stores);
    scopes_.pop();
    out_.close();
  }

  // Row form with several reduced groups: the flat index of the tile's first element.
  std::string flat_prefix() const {
    std::string index;
    for (int g = 0; g < tiled_; ++g) {
      if (groups_[g].label != 'A') continue;
      index = index.empty()
                  ? groups_[g].var
                  : fmt::format("({}) * {} + {}", index, groups_[g].symbol, groups_[g].var);
    }
    return index.empty() ? "" : fmt::format("({}) * {}", index, groups_[tiled_].symbol);
  }

  // Row-level values a pass reads (reductions of earlier passes and what is computed from them).
  void emit_invariants_for(int p) {
    std::set<int> seen;
    std::function<void(int)> visit = [&](int n) {
      if (!seen.insert(n).second) return;
      if (reloaded_in_pass(n, p)) return;  // read back from the output, not recomputed
      if (!variant_[n] && !epilogue_[n] && node(n).kind != Kind::constant &&
          node(n).kind != Kind::reduce && node(n).kind != Kind::gather) {
        value(n, true);  // once per row, not once per element
        return;
      }
      if (variant_[n] && node(n).kind != Kind::scan)
        for (int a : node(n).args) visit(a);
      if (variant_[n] && divides_by_row_value(n) && !reciprocal_.count(n)) {
        // Per element a multiply, not a divide: the reciprocal is taken once per row.
        std::string name = fresh("reciprocal");
        out_.line(fmt::format("{} = 1 / {}", name, value(node(n).args[1])));
        reciprocal_[n] = name;
      }
      if (node(n).kind == Kind::scan || (node(n).kind == Kind::reduce && pass_[n] == p))
        for (int a : node(n).args) visit(a);
    };
    for (int n : members_of_pass(p)) visit(n);
    for (int n : stores_of_pass(p)) visit(n);
  }

  bool reloaded_in_pass(int e, int p) const {
    return std::any_of(staged_.begin(), staged_.end(), [&](const auto& entry) {
      return entry.second == e && pass_[entry.first] == p;
    });
  }

  bool divides_by_row_value(int n) const {
    const auto& x = node(n);
    if (x.kind != Kind::elementwise || x.op != "div") return false;
    const auto& divisor = node(x.args[1]);
    return !variant_[x.args[1]] && !global_[x.args[1]] && divisor.kind != Kind::constant &&
           is_float_dtype(divisor.dtype);
  }

  static bool is_float_dtype(const std::string& dtype) {
    return dtype == "f32" || dtype == "f64" || dtype == "f16" || dtype == "bf16";
  }

  // nll: the operand's element at the row's target index, 0 when the target is ignore_index.
  void emit_gathers() {
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n) || node(n).kind != Kind::gather) continue;
      const auto& x = node(n);
      std::string target = value(x.args[1]);
      std::string name = fresh("picked");
      out_.line(fmt::format("{} = alloc([], dtype={})", name, x.dtype));
      out_.open(fmt::format("if {} != {}:", target, x.ignore_index));
      scopes_.push();
      auto saved = ctx_;
      for (int g = 0; g < static_cast<int>(groups_.size()); ++g)
        if (groups_[g].label == 'A') ctx_.index[g] = target;
      ctx_.tiled_group = -1;
      out_.line(fmt::format("{} = {}", name, value(x.args[0])));
      ctx_ = saved;
      scopes_.pop();
      out_.close();
      scopes_.set(n, name);
    }
  }

  // Per-row values that feed a final total (a loss's mean over rows) go to a workspace.
  void emit_workspace_stores() {
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n) || !epilogue_[n]) continue;
      std::string v = value(node(n).args[0]);
      std::vector<std::string> index;
      for (int g = 0; g < static_cast<int>(groups_.size()); ++g)
        if (groups_[g].label == 'K') index.push_back(ctx_.index.at(g));
      out_.line(fmt::format("store({} -> {}[{}])", v, workspace_.at(n), fmt::join(index, ", ")));
    }
  }

  void emit_row_outputs() {
    for (int n : graph_.outputs)
      if (!variant_[n] && !global_[n]) store_output(n);
  }

  void emit_row_body() {
    for (int p = 0; p < passes_; ++p) {
      emit_invariants_for(p);
      emit_pass(p);
    }
    emit_gathers();
    emit_row_outputs();
    emit_workspace_stores();
  }

  std::string kept_shape() const {
    std::vector<std::string> dims;
    for (const auto& g : groups_)
      if (g.label == 'K') dims.push_back(g.symbol);
    return fmt::format("[{}]", fmt::join(dims, ", "));
  }

  void emit_epilogue() {
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n) || !epilogue_[n]) continue;
      const auto& x = node(n);
      std::string total = fmt::format("{}({})", reduce_function(x.op), workspace_.at(n));
      if (x.op == "mean") total = fmt::format("{} / ({})", total, fmt::join(kept_symbols(), " * "));
      std::string name = fresh("total");
      out_.line(fmt::format("{} = {}", name, total));
      scopes_.set(n, name);
    }
    ctx_.index.clear();
    ctx_.tiled_group = -1;
    for (int n : graph_.outputs)
      if (global_[n]) store_output(n);
  }

  std::vector<std::string> kept_symbols() const {
    std::vector<std::string> symbols;
    for (const auto& g : groups_)
      if (g.label == 'K') symbols.push_back(g.symbol);
    return symbols;
  }

  // Values that do not change along the tiled kept group (batch norm's per-channel
  // rsqrt(var + eps)) are computed once before its loop, not once per element of every tile.
  void hoist_tile_invariants() {
    std::set<int> seen;
    std::function<void(int)> visit = [&](int n) {
      if (!seen.insert(n).second) return;
      if (hoistable(n)) {
        value(n, true);
        return;
      }
      if (node(n).kind == Kind::elementwise || node(n).kind == Kind::reduce)
        for (int a : node(n).args) visit(a);
    };
    for (int o : graph_.outputs) visit(o);
  }

  bool hoistable(int n) const {
    const auto& x = node(n);
    if (present(n, groups_[tiled_]) || variant_[n] || global_[n]) return false;
    if (x.kind == Kind::input) return true;
    if (x.kind != Kind::elementwise) return false;
    return std::all_of(x.args.begin(), x.args.end(),
                       [&](int a) { return node(a).kind == Kind::constant || hoistable(a); });
  }

  void emit_kept_loops() {
    int opened = 0;
    bool parallel_done = false;
    scopes_.push();  // values hoisted before the tile loop live until the loops close
    for (int g = 0; g < static_cast<int>(groups_.size()); ++g) {
      if (groups_[g].label != 'K') continue;
      if (!parallel_done) out_.line(R"(@llm_hint(parallel="grididx"))");
      parallel_done = true;
      if (g == tiled_) {
        hoist_tile_invariants();
        out_.open(fmt::format("for {} in range(0, {}, BLOCK):", groups_[g].var, groups_[g].symbol));
        ctx_.index[g] = fmt::format("{}:{} + BLOCK", groups_[g].var, groups_[g].var);
        ctx_.tiled_group = g;
      } else {
        out_.open(fmt::format("for {} in range({}):", groups_[g].var, groups_[g].symbol));
        ctx_.index[g] = groups_[g].var;
      }
      ++opened;
    }
    scopes_.push();
    emit_row_body();
    scopes_.pop();
    for (int i = 0; i < opened; ++i) out_.close();
    scopes_.pop();
  }

  // Global form (every dim reduced): each pass is a parallel loop over chunks (or over the
  // outermost reduced group) storing partial results, combined after the loop.
  void emit_global_passes() {
    chunk_group_ = groups_.size() == 1 ? 0 : -1;
    for (int p = 0; p < passes_; ++p) {
      ctx_.index.clear();
      ctx_.tiled_group = -1;
      emit_invariants_for(p);
      auto members = members_of_pass(p);
      auto stores = stores_of_pass(p);
      if (members.empty() && stores.empty()) continue;
      std::string count =
          chunk_group_ == 0 ? fmt::format("ceil({}, CHUNK)", groups_[0].symbol) : groups_[0].symbol;
      for (int n : members) {
        if (node(n).kind == Kind::scan) throw UnsupportedTask("a scan", "over a flattened tensor");
        if (node(n).op == "argmax" || node(n).op == "argmin")
          throw UnsupportedTask("aten::argmax", "over a flattened tensor");
        partials_[n] = fresh("partial");
        out_.line(fmt::format(R"({} = alloc([{}], dtype={}, llm_hint=["slow", "temp_workspace"]))",
                              partials_[n], count, accumulator_dtype(n)));
      }
      out_.line(R"(@llm_hint(parallel="grididx"))");
      if (chunk_group_ == 0) {
        out_.open(fmt::format("for c in range({}):", count));
      } else {
        out_.open(fmt::format("for c in range({}):", groups_[0].symbol));
        ctx_.index[0] = "c";
      }
      scopes_.push();
      emit_pass(p);
      scopes_.pop();
      out_.close();
      for (int n : members) {
        std::string total = fmt::format("{}({})", reduce_function(node(n).op), partials_[n]);
        finish_value(n, total);
      }
    }
    ctx_.index.clear();
    for (int n : graph_.outputs)
      if (!variant_[n]) store_output(n);
  }

  void emit() {
    design_.sketch_name = name_;
    out_.open(fmt::format("sketch {} {{", name_));
    std::vector<std::string> symbols;
    for (const auto& g : groups_) symbols.push_back(g.symbol);
    out_.line(fmt::format("symbols: {}", fmt::join(symbols, ", ")));
    out_.open("tensors:");
    for (int n : inputs_in_task_order()) declare(n, tensor_of_[n]);
    for (int n : graph_.outputs) declare(n, output_tensor_.at(n));
    out_.close();
    int block = default_block();
    out_.open("constexpr:");
    out_.line(fmt::format("BLOCK = {}", block));
    if (global_pattern_ && groups_.size() == 1) out_.line("CHUNK = BLOCK * 64");
    out_.close();
    out_.line("");
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n) || !epilogue_[n]) continue;
      workspace_[n] = fresh("per_row");
      out_.line(fmt::format(R"({} = alloc({}, dtype={}, llm_hint=["slow", "temp_workspace"]))",
                            workspace_[n], kept_shape(), node(node(n).args[0]).dtype));
    }
    scopes_.push();
    if (global_pattern_) {
      emit_global_passes();
    } else {
      emit_kept_loops();
      emit_epilogue();
    }
    scopes_.pop();
    out_.close();
    out_.line("}");
    design_.sketch = out_.text();
    design_.configs = tuning_configs(block);
  }

  void declare(int n, const std::string& name) {
    std::vector<std::string> dims;
    for (int g : groups_of(n)) dims.push_back(groups_[g].symbol);
    out_.line(fmt::format("{}: [{}] {}", name, fmt::join(dims, ", "), node(n).dtype));
  }

  std::int64_t tiled_extent() const {
    std::int64_t extent = 1;
    for (int d : groups_[tiled_].dims) extent *= domain_[d];
    return extent;
  }

  // Tiles along a reduced row: long enough for full vectors, short enough to stay in L1.
  int default_block() const {
    auto extent = tiled_extent();
    if (!rows_ && reduced_.empty()) return extent >= 1024 ? 1024 : extent >= 256 ? 256 : 64;
    // Column form: each reduced step reads BLOCK contiguous elements; 256 (1 KiB of f32) keeps
    // the hardware prefetcher streaming and the accumulator in L1.
    if (!rows_) return extent >= 256 ? 256 : extent >= 64 ? 64 : 16;
    if (extent >= 4096) return fitted_block(1024);
    if (extent >= 512) return fitted_block(256);
    return fitted_block(64);
  }

  // A row tile near `target` (a multiple of 16, at most the row's length) that leaves the shortest
  // tail: the tail runs one element at a time, so a 1000-long row gets 496-wide tiles (8 left
  // over), not 256-wide ones (232 left over). Sized for the task's default shape.
  int fitted_block(int target) const {
    auto extent = tiled_extent();
    if (global_pattern_ || extent < 16) return target;
    std::int64_t low = std::max(16, target / 2 / 16 * 16);
    std::int64_t high = std::min<std::int64_t>(2 * target, extent);
    if (low > high) return static_cast<int>(extent / 16 * 16);
    std::int64_t best = -1;
    for (std::int64_t b = low; b <= high; b += 16) {
      auto tail = extent % b, best_tail = best < 0 ? extent : extent % best;
      bool closer = best < 0 || std::abs(b - target) < std::abs(best - target);
      if (tail < best_tail || (tail == best_tail && closer)) best = b;
    }
    return static_cast<int>(best);
  }

  std::vector<TuningConfig> tuning_configs(int block) const {
    std::vector<int> blocks =
        rows_ ? std::vector<int>{block, fitted_block(256), fitted_block(1024), fitted_block(4096)}
        : reduced_.empty() ? std::vector<int>{block, 256, 4096}
                           : std::vector<int>{block, 64, 16, 256};
    std::vector<TuningConfig> configs;
    std::set<int> seen;
    for (int b : blocks) {
      if (!seen.insert(b).second) continue;
      if (rows_ && b > std::max<std::int64_t>(tiled_extent(), 16) && b != block) continue;
      configs.push_back({fmt::format("BLOCK={}", b), {{"BLOCK", b}}});
    }
    return configs;
  }

  std::set<int> reduced_;
  std::vector<bool> variant_, global_, epilogue_;
  std::vector<Group> groups_;
  int tiled_ = -1;
  bool rows_ = false;
  bool global_pattern_ = false;
  int chunk_group_ = -1;
  std::map<int, std::string> tensor_of_, output_tensor_;
  std::vector<int> pass_;
  int passes_ = 0;
  std::map<int, Accumulator> accumulators_;
  std::map<int, std::string> partials_, workspace_, reciprocal_;
  std::map<int, int> staged_;      // output -> the value an earlier pass stores into it
  std::map<int, int> stage_pass_;  // output -> the pass that stores its staged value
  SketchWriter out_;
  Scopes scopes_;
  Context ctx_;
  int counter_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Matrix products: a tiled GEMM, the elementwise epilogue (bias, activation) fused in.

class GemmPlanner : public Planner {
 public:
  using Planner::Planner;

  RuleDesign plan() {
    find_gemm();
    declare_tensors();
    emit();
    return design_;
  }

 private:
  void find_gemm() {
    for (int n = 0; n < static_cast<int>(graph_.nodes.size()); ++n) {
      if (!used(n)) continue;
      const auto& x = node(n);
      if (x.kind == Kind::gemm) {
        if (gemm_ >= 0) throw UnsupportedTask("a second matrix product", "one GEMM per kernel");
        gemm_ = n;
      } else if (x.kind == Kind::reduce || x.kind == Kind::scan || x.kind == Kind::gather) {
        throw UnsupportedTask("a " + x.op, "after a matrix product");
      }
    }
    if (graph_.outputs.size() != 1)
      throw UnsupportedTask("a matrix product", "with several outputs");
    batched_ = graph_.rank == 3;
    if (batched_ && node(node(gemm_).args[0]).aligned.size() != 3)
      throw UnsupportedTask("a batched product", "of a broadcast matrix");
  }

  std::string dims_of(const std::vector<std::string>& symbols) const {
    return fmt::format("[{}]", fmt::join(symbols, ", "));
  }

  void declare_tensors() {
    const auto& g = node(gemm_);
    a_ = unique_name(node(g.args[0]).source);
    b_ = unique_name(node(g.args[1]).source);
    for (int i = 0; i < 2; ++i) {
      int operand = g.args[i];
      auto binding = input_binding(operand, i == 0 ? a_ : b_);
      const auto& x = node(operand);
      int first = graph_.rank - static_cast<int>(x.shape.size());
      for (int d = first; d < graph_.rank; ++d) binding.dims.push_back(x.dims[d]);
      design_.tensors.push_back(binding);
    }
    std::vector<std::string> batch =
        batched_ ? std::vector<std::string>{"B"} : std::vector<std::string>{};
    auto with_batch = [&](std::vector<std::string> dims) {
      dims.insert(dims.begin(), batch.begin(), batch.end());
      return dims;
    };
    decls_.push_back(
        fmt::format("{}: {} {}", a_,
                    dims_of(with_batch(g.trans_a ? std::vector<std::string>{"K", "M"}
                                                 : std::vector<std::string>{"M", "K"})),
                    node(g.args[0]).dtype));
    decls_.push_back(
        fmt::format("{}: {} {}", b_,
                    dims_of(with_batch(g.trans_b ? std::vector<std::string>{"N", "K"}
                                                 : std::vector<std::string>{"K", "N"})),
                    node(g.args[1]).dtype));
    for (int n : inputs_in_task_order()) {
      if (n == g.args[0] || n == g.args[1]) continue;
      std::string name = unique_name(node(n).source);
      epilogue_inputs_[n] = name;
      auto binding = input_binding(n, name);
      std::vector<std::string> symbols;
      for (int d = 0; d < graph_.rank; ++d) {
        if (node(n).aligned[d] <= 1) continue;
        binding.dims.push_back(node(n).dims[d]);
        symbols.push_back(axis_symbol(d));
      }
      if (symbols.size() == 1 && symbols[0] == "M")
        throw UnsupportedTask("a per-row epilogue operand",
                              "only per-column and full operands fuse");
      design_.tensors.push_back(binding);
      decls_.push_back(fmt::format("{}: {} {}", name, dims_of(symbols), node(n).dtype));
    }
    int out = graph_.outputs[0];
    KernelBinding o;
    o.name = unique_name("out");
    o.output = true;
    o.output_index = 0;
    o.torch_dtype = torch_dtype(node(out).dtype);
    // Sizes come from the operands: M from a, N from b (their other dim is K, not an output dim).
    const auto& a = design_.tensors[0];
    const auto& b = design_.tensors[1];
    std::size_t last = a.dims.size() - 1;
    if (batched_) o.dims.push_back(a.dims[0]);
    o.dims.push_back(g.trans_a ? a.dims[last] : a.dims[last - 1]);
    o.dims.push_back(g.trans_b ? b.dims[last - 1] : b.dims[last]);
    o.result_shape = o.dims;
    design_.tensors.push_back(o);
    decls_.push_back(
        fmt::format("{}: {} {}", o.name, dims_of(with_batch({"M", "N"})), node(out).dtype));
    out_name_ = o.name;
  }

  std::string axis_symbol(int d) const {
    if (batched_ && d == 0) return "B";
    return d == graph_.rank - 2 ? "M" : "N";
  }

  std::string epilogue_slice(int n) const {
    std::vector<std::string> parts;
    for (int d = 0; d < graph_.rank; ++d) {
      if (node(n).aligned[d] <= 1) continue;
      auto symbol = axis_symbol(d);
      parts.push_back(symbol == "B" ? "bb" : symbol == "M" ? "m:m + BM" : "n:n + BN");
    }
    return fmt::format("{}[{}]", epilogue_inputs_.at(n), fmt::join(parts, ", "));
  }

  std::string epilogue_value(int n) {
    auto done = values_.find(n);
    if (done != values_.end()) return done->second;
    const auto& x = node(n);
    std::string text;
    if (n == gemm_) return "acc";
    if (x.kind == Kind::constant) return literal(x.value);
    if (x.kind == Kind::input) {
      bool full = node(n).aligned[graph_.rank - 2] > 1;
      text = fmt::format("{}_tile", epilogue_inputs_.at(n));
      out_.line(fmt::format(R"({} = alloc({}, dtype={}, llm_hint=["fast", "input_cache"]))", text,
                            full ? "[BM, BN]" : "[BN]", x.dtype));
      out_.line(fmt::format("load({} -> {})", epilogue_slice(n), text));
      values_[n] = text;
      return text;
    }
    std::vector<std::string> args;
    for (int a : x.args) args.push_back(epilogue_value(a));
    if (x.op == "view") return args[0];
    if (x.op == "cast") return fmt::format("cast({}, {})", args[0], x.dtype);
    static const std::map<std::string, std::string> infix = {
        {"lt", "<"}, {"le", "<="}, {"gt", ">"}, {"ge", ">="}, {"eq", "=="}, {"ne", "!="}};
    auto found = infix.find(x.op);
    text = found != infix.end() ? fmt::format("({} {} {})", args[0], found->second, args[1])
                                : fmt::format("{}({})", x.op, fmt::join(args, ", "));
    if (uses_[n] < 2) return text;
    std::string name = fmt::format("v{}", n);
    out_.line(fmt::format("{} = {}", name, text));
    values_[n] = name;
    return name;
  }

  void emit() {
    const auto& g = node(gemm_);
    design_.sketch_name = name_;
    out_.open(fmt::format("sketch {} {{", name_));
    out_.line(batched_ ? "symbols: B, M, N, K" : "symbols: M, N, K");
    out_.open("tensors:");
    for (const auto& d : decls_) out_.line(d);
    out_.close();
    out_.open("constexpr:");
    out_.line("BM = 64");
    out_.line("BN = 64");
    out_.line("BK = 128");
    out_.close();
    out_.line("");
    std::string batch_index = batched_ ? "bb, " : "";
    if (batched_) {
      out_.line(R"(@llm_hint(parallel="grididx"))");
      out_.open("for bb in range(B):");
    } else {
      out_.line(R"(@llm_hint(parallel="grididx"))");
    }
    out_.open("for m in range(0, M, BM):");
    out_.line(R"(@llm_hint(parallel="blockidx"))");
    out_.open("for n in range(0, N, BN):");
    out_.line(R"(acc = alloc([BM, BN], llm_hint=["fastest", "accumulator", "init_zero"]))");
    out_.open("for k in range(0, K, BK):");
    out_.line(fmt::format(R"(a_tile = alloc({}, dtype={}, llm_hint=["fast", "input_cache"]))",
                          g.trans_a ? "[BK, BM]" : "[BM, BK]", node(g.args[0]).dtype));
    out_.line(fmt::format(R"(b_tile = alloc({}, dtype={}, llm_hint=["fast", "input_cache"]))",
                          g.trans_b ? "[BN, BK]" : "[BK, BN]", node(g.args[1]).dtype));
    out_.line(fmt::format("load({}[{}{}] -> a_tile)", a_, batch_index,
                          g.trans_a ? "k:k + BK, m:m + BM" : "m:m + BM, k:k + BK"));
    out_.line(fmt::format("load({}[{}{}] -> b_tile)", b_, batch_index,
                          g.trans_b ? "n:n + BN, k:k + BK" : "k:k + BK, n:n + BN"));
    std::string flags;
    if (g.trans_a) flags += ", trans_a=True";
    if (g.trans_b) flags += ", trans_b=True";
    out_.line(fmt::format("acc = gemm(a_tile, b_tile, acc{})", flags));
    out_.close();
    std::string result = epilogue_value(graph_.outputs[0]);
    out_.line(fmt::format("store({} -> {}[{}m:m + BM, n:n + BN])", result, out_name_, batch_index));
    out_.close();
    out_.close();
    if (batched_) out_.close();
    out_.close();
    out_.line("}");
    design_.sketch = out_.text();
    design_.configs = {{"BM=64 BN=64 BK=128", {{"BM", 64}, {"BN", 64}, {"BK", 128}}},
                       {"BM=32 BN=128 BK=64", {{"BM", 32}, {"BN", 128}, {"BK", 64}}},
                       {"BM=64 BN=256 BK=64", {{"BM", 64}, {"BN", 256}, {"BK", 64}}},
                       {"BM=16 BN=64 BK=256", {{"BM", 16}, {"BN", 64}, {"BK", 256}}}};
  }

  int gemm_ = -1;
  bool batched_ = false;
  std::string a_, b_, out_name_;
  std::vector<std::string> decls_;
  std::map<int, std::string> epilogue_inputs_, values_;
  SketchWriter out_;
};

}  // namespace

std::string graph_family(const OpGraph& graph) {
  bool gemm = false, reduce = false, scan = false, gather = false, elementwise = false;
  for (const auto& n : graph.nodes) {
    gemm |= n.kind == Kind::gemm;
    reduce |= n.kind == Kind::reduce;
    scan |= n.kind == Kind::scan;
    gather |= n.kind == Kind::gather;
    elementwise |= n.kind == Kind::elementwise;
  }
  if (gemm) return elementwise ? "fused" : "matmul";
  if (scan) return "scan";
  if (gather) return "loss";
  if (reduce) return "reduction";
  return "elementwise";
}

RuleDesign design_with_rules(const TaskSpec& spec) {
  OpGraph graph = build_op_graph(spec);
  std::string family = family_from_path(spec.path);
  if (family.empty()) family = graph_family(graph);
  RuleDesign design =
      graph.has_gemm() ? GemmPlanner(spec, graph).plan() : RowPlanner(spec, graph).plan();
  design.family = family;
  return design;
}

}  // namespace anvil::agents
