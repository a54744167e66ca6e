// Values of the C++ lowering: index arithmetic, element-wise expression trees fused into one loop
// nest, and the calls that are not element-wise (reductions, scans, gemm, gathers), which are
// computed into temporaries or straight into the assigned buffer.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sketch/lower_cpp_impl.hpp"

namespace anvil::sketch::lowering {
namespace {

std::size_t storage_bytes(ScalarType type) {
  switch (type) {
    case ScalarType::f64:
    case ScalarType::i64:
      return 8;
    case ScalarType::i8:
    case ScalarType::boolean:
      return 1;
    default:
      return 4;  // f32, i32 and f16/bf16 held as float locally
  }
}

// Rounds a compute value to what an element of `type` holds (f16 after each operation, ...).
std::string rounded(ScalarType type, const std::string& value) {
  switch (type) {
    case ScalarType::f16:
      return "anvil_rh(" + value + ")";
    case ScalarType::bf16:
      return "anvil_rbf(" + value + ")";
    case ScalarType::i8:
      return "std::int64_t(std::int8_t(" + value + "))";
    case ScalarType::i32:
      return "std::int64_t(std::int32_t(" + value + "))";
    default:
      return value;
  }
}

bool is_comparison(const std::string& op) {
  return op == "<" || op == "<=" || op == ">" || op == ">=" || op == "==" || op == "!=";
}

std::string type_name(ScalarType type) { return std::string(scalar_type_name(type)); }

constexpr std::size_t kStackLimitBytes = 128 * 1024;

// The accumulator type of reductions and gemm on `type`: at least f32.
std::string accumulator_type(ScalarType type) {
  if (type == ScalarType::f64) return "double";
  if (is_float(type)) return "float";
  return "std::int64_t";
}

ScalarType accumulator_dtype(ScalarType type) {
  if (type == ScalarType::f64) return ScalarType::f64;
  if (is_float(type)) return ScalarType::f32;
  return ScalarType::i64;
}

Shape sub_shape(const Shape& shape, std::size_t begin, std::size_t end) {
  return Shape(shape.begin() + static_cast<std::ptrdiff_t>(begin),
               shape.begin() + static_cast<std::ptrdiff_t>(end));
}

// Row-major flat offset of `vars` (one per dim of `shape`, "" meaning 0).
std::string flat_offset(const Shape& shape, const std::vector<std::string>& vars) {
  std::string text;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const std::string& i = vars[d];
    if (text.empty()) {
      text = i;
      continue;
    }
    text = "(" + text + ") * " + shape[d].text + (i.empty() ? "" : " + " + i);
  }
  return text.empty() ? "0" : text;
}

// Whether every array leaf of `node` has exactly `shape` (one flat loop then covers them all).
bool flattenable(const Node& node, const Shape& shape) {
  if (node.kind == Node::Kind::array) {
    if (node.shape.size() != shape.size()) return false;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (!same_dim(node.shape[d], shape[d])) return false;
    }
    return true;
  }
  return std::all_of(node.kids.begin(), node.kids.end(),
                     [&](const Node& kid) { return flattenable(kid, shape); });
}

Dim broadcast_dim(const Dim& a, const Dim& b) {
  if (is_one(a)) return b;
  if (is_one(b)) return a;
  if (a.value) return a;
  return b.value ? b : a;
}

Shape broadcast(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const Dim one = constant_dim(1);
    const Dim& x = i < a.size() ? a[a.size() - 1 - i] : one;
    const Dim& y = i < b.size() ? b[b.size() - 1 - i] : one;
    out[rank - 1 - i] = broadcast_dim(x, y);
  }
  return out;
}

Node literal(ScalarType type, bool weak, const std::string& text) {
  Node node;
  node.kind = Node::Kind::literal;
  node.dtype = type;
  node.weak = weak;
  node.text = text;
  return node;
}

Node op_node(const std::string& op, ScalarType type, bool weak, Shape shape,
             std::vector<Node> kids) {
  Node node;
  node.kind = Node::Kind::op;
  node.op = op;
  node.dtype = type;
  node.weak = weak;
  node.shape = std::move(shape);
  node.kids = std::move(kids);
  return node;
}

struct ResultType {
  ScalarType type;
  bool weak;
};

// The dtype of an element-wise result, as the interpreter's combine_types decides it.
ResultType combine(const Node& a, const Node& b, Location loc, const std::string& name,
                   bool arithmetic) {
  if (!a.weak && !b.weak) {
    if (a.dtype != b.dtype) {
      fail(loc, name + ": the operands are " + type_name(a.dtype) + " and " + type_name(b.dtype) +
                    "; cast one of them so that the dtypes match");
    }
    return {a.dtype, false};
  }
  if (a.weak && b.weak) {
    if (is_float(a.dtype) || is_float(b.dtype)) return {ScalarType::f64, true};
    if (a.dtype == ScalarType::boolean && b.dtype == ScalarType::boolean) {
      return {ScalarType::boolean, true};
    }
    return {ScalarType::i64, true};
  }
  const ScalarType strong = a.weak ? b.dtype : a.dtype;
  const ScalarType weak = a.weak ? a.dtype : b.dtype;
  if (arithmetic && !is_float(strong) && is_float(weak)) {
    fail(loc, name + ": a float literal cannot combine with a " + type_name(strong) +
                  " value; cast the value to a float dtype first");
  }
  return {strong, false};
}

}  // namespace

// ---- dims and affine index forms ----------------------------------------------------------

Dim constant_dim(std::int64_t value) {
  return Dim{value < 0 ? "(" + std::to_string(value) + ")" : std::to_string(value), value};
}

bool same_dim(const Dim& a, const Dim& b) {
  if (a.value && b.value) return *a.value == *b.value;
  return a.text == b.text;
}

bool is_one(const Dim& dim) { return dim.value && *dim.value == 1; }

std::optional<std::int64_t> constant_count(const Shape& shape) {
  std::int64_t count = 1;
  for (const auto& d : shape) {
    if (!d.value) return std::nullopt;
    count *= *d.value;
  }
  return count;
}

Dim product(const Shape& shape) {
  if (auto count = constant_count(shape)) return constant_dim(*count);
  std::string text;
  for (const auto& d : shape) text += (text.empty() ? "" : " * ") + d.text;
  return Dim{"(" + text + ")", std::nullopt};
}

std::string Affine::text() const {
  std::string text;
  for (const auto& [atom, coefficient] : terms) {
    std::string term = coefficient == 1 ? atom : std::to_string(coefficient) + " * " + atom;
    text += text.empty() ? term : " + " + term;
  }
  if (text.empty())
    return constant < 0 ? "(" + std::to_string(constant) + ")" : std::to_string(constant);
  if (constant != 0) text += " + " + std::to_string(constant);
  if (terms.size() == 1 && constant == 0 && terms.begin()->second == 1) return text;
  return "(" + text + ")";
}

Dim Affine::dim() const {
  if (is_constant()) return constant_dim(constant);
  return Dim{text(), std::nullopt};
}

Affine affine_of(const Dim& dim) {
  if (!dim.value) return affine_atom("(" + dim.text + ")");
  Affine a;
  a.constant = *dim.value;
  return a;
}

Affine affine_atom(const std::string& text) {
  Affine a;
  a.terms[text] = 1;
  return a;
}

Affine affine_add(const Affine& a, const Affine& b, std::int64_t sign) {
  Affine out = a;
  out.constant += sign * b.constant;
  for (const auto& [atom, coefficient] : b.terms) {
    out.terms[atom] += sign * coefficient;
    if (out.terms[atom] == 0) out.terms.erase(atom);
  }
  return out;
}

Affine affine_mul(const Affine& a, const Affine& b) {
  if (!a.is_constant() && !b.is_constant())
    return affine_atom("(" + a.text() + " * " + b.text() + ")");
  const Affine& scale = a.is_constant() ? a : b;
  const Affine& other = a.is_constant() ? b : a;
  Affine out;
  if (scale.constant == 0) return out;
  out.constant = other.constant * scale.constant;
  for (const auto& [atom, coefficient] : other.terms)
    out.terms[atom] = coefficient * scale.constant;
  return out;
}

// ---- types and literals -------------------------------------------------------------------

std::string compute_type(ScalarType type) {
  switch (type) {
    case ScalarType::f64:
      return "double";
    case ScalarType::i8:
    case ScalarType::i32:
    case ScalarType::i64:
      return "std::int64_t";
    case ScalarType::boolean:
      return "bool";
    default:
      return "float";
  }
}

std::string storage_type(ScalarType type, Layout layout) {
  switch (type) {
    case ScalarType::f16:
    case ScalarType::bf16:
      return layout == Layout::tensor ? "std::uint16_t" : "float";
    case ScalarType::f32:
      return "float";
    case ScalarType::f64:
      return "double";
    case ScalarType::i8:
      return "std::int8_t";
    case ScalarType::i32:
      return "std::int32_t";
    case ScalarType::i64:
      return "std::int64_t";
    case ScalarType::boolean:
      return layout == Layout::tensor ? "std::uint8_t" : "bool";
  }
  return "float";
}

std::string double_literal(double value) {
  if (std::isnan(value)) return "std::numeric_limits<double>::quiet_NaN()";
  if (std::isinf(value)) return value > 0 ? "anvil_inf_d" : "(-anvil_inf_d)";
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  std::string text = buffer;
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return value < 0 ? "(" + text + ")" : text;
}

std::string int_literal(std::int64_t value) {
  return "std::int64_t(" + std::to_string(value) + ")";
}

std::string Lowerer::convert(const std::string& value, ScalarType from, ScalarType to, bool) {
  if (from == to) return value;
  const std::string target = compute_type(to);
  if (is_float(to)) {
    const std::string v = compute_type(from) == target ? value : target + "(" + value + ")";
    return (to == ScalarType::f16 || to == ScalarType::bf16) ? rounded(to, v) : v;
  }
  if (is_integer(to)) {
    std::string v = value;
    if (is_float(from)) v = "anvil_f2i(double(" + value + "))";
    if (from == ScalarType::boolean) v = "std::int64_t(" + value + ")";
    return rounded(to, v);
  }
  return "(" + value + " != 0)";
}

std::string Lowerer::read_element(const std::string& ptr, const std::string& offset,
                                  ScalarType dtype, Layout layout) const {
  const std::string element = ptr + "[" + offset + "]";
  if (layout == Layout::tensor) {
    if (dtype == ScalarType::f16) return "anvil_h2f(" + element + ")";
    if (dtype == ScalarType::bf16) return "anvil_bf2f(" + element + ")";
    if (dtype == ScalarType::boolean) return "(" + element + " != 0)";
  }
  if (dtype == ScalarType::i8 || dtype == ScalarType::i32) return "std::int64_t(" + element + ")";
  return element;
}

std::string Lowerer::write_element(const std::string& value, ScalarType dtype,
                                   Layout layout) const {
  if (layout == Layout::tensor) {
    if (dtype == ScalarType::f16) return "anvil_f2h(" + value + ")";
    if (dtype == ScalarType::bf16) return "anvil_f2bf(" + value + ")";
    if (dtype == ScalarType::boolean) return "std::uint8_t(" + value + ")";
  }
  if (dtype == ScalarType::i8) return "std::int8_t(" + value + ")";
  if (dtype == ScalarType::i32) return "std::int32_t(" + value + ")";
  return value;
}

// ---- index expressions --------------------------------------------------------------------

Affine Lowerer::index(const Expr& expr) {
  if (auto value = constant_value(expr)) {
    if (*value != std::floor(*value) || !std::isfinite(*value)) {
      fail(expr.loc, "an index or size must be an integer, got " + double_literal(*value));
    }
    Affine a;
    a.constant = static_cast<std::int64_t>(*value);
    return a;
  }
  if (expr.kind == Expr::Kind::name) {
    const Var& var = lookup(expr.text, expr.loc);
    if (var.kind == Var::Kind::symbol || var.kind == Var::Kind::loop) return affine_atom(var.cxx);
    if (var.kind == Var::Kind::scalar && is_integer(var.dtype)) return affine_atom(var.cxx);
  }
  if (expr.kind == Expr::Kind::unary && expr.text == "-") {
    return affine_add(Affine{}, index(*expr.operands[0]), 1 - 2);
  }
  if (expr.kind == Expr::Kind::binary && (expr.text == "+" || expr.text == "-")) {
    return affine_add(index(*expr.operands[0]), index(*expr.operands[1]),
                      expr.text == "+" ? 1 : -1);
  }
  if (expr.kind == Expr::Kind::binary && expr.text == "*") {
    return affine_mul(index(*expr.operands[0]), index(*expr.operands[1]));
  }
  Node node = build(expr);
  if (!node.shape.empty() || !(is_integer(node.dtype) || node.dtype == ScalarType::boolean)) {
    fail(expr.loc, "an index or size must be an integer scalar");
  }
  return affine_atom("std::int64_t(" + gen(node, Index{}, 0) + ")");
}

// ---- building element-wise trees ----------------------------------------------------------

namespace {

const std::vector<std::string> kFloatUnary = {"exp",  "log",     "sqrt", "rsqrt",
                                              "tanh", "sigmoid", "gelu", "erf"};

}  // namespace

Node Lowerer::build(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::integer:
      return literal(ScalarType::i64, true, int_literal(expr.int_value));
    case Expr::Kind::floating:
      return literal(ScalarType::f64, true, double_literal(expr.float_value));
    case Expr::Kind::boolean:
      return literal(ScalarType::boolean, false, expr.bool_value ? "true" : "false");
    case Expr::Kind::string:
      fail(expr.loc, "a string is only allowed in hints");
    case Expr::Kind::none:
      fail(expr.loc, "None is only allowed as a keyword argument's value");
    case Expr::Kind::list:
      fail(expr.loc, "a list is only allowed as alloc's shape");
    case Expr::Kind::name:
      break;
    case Expr::Kind::subscript: {
      const Expr& base = *expr.operands[0];
      if (base.kind != Expr::Kind::name) {
        fail(base.loc,
             "lowering supports subscripts of names only; assign the value to a name first");
      }
      return read_region(region(expr, lookup(base.text, base.loc)), expr.loc);
    }
    case Expr::Kind::unary: {
      Node a = build(*expr.operands[0]);
      if (expr.text == "not") return op_node("not", ScalarType::boolean, false, a.shape, {a});
      if (a.dtype == ScalarType::boolean) fail(expr.loc, "- needs a numeric value, got bool");
      Shape shape = a.shape;
      return op_node("neg", a.dtype, a.weak, shape, {std::move(a)});
    }
    case Expr::Kind::binary: {
      const std::string op(operator_function(expr.text));
      Node a = build(*expr.operands[0]);
      Node b = build(*expr.operands[1]);
      const std::string name = "'" + expr.text + "'";
      Shape shape = broadcast(a.shape, b.shape);
      if (op == "and" || op == "or" || is_comparison(op)) {
        if (is_comparison(op)) combine(a, b, expr.loc, name, false);
        return op_node(op, ScalarType::boolean, false, shape, {std::move(a), std::move(b)});
      }
      const ResultType rt = combine(a, b, expr.loc, name, true);
      if (rt.type == ScalarType::boolean) fail(expr.loc, name + " on bool values; cast them first");
      if (op == "div" && is_integer(rt.type)) {
        fail(expr.loc, name + ": '/' on integers is an error; use '//' or ceil(a, b)");
      }
      if ((op == "//" || op == "%") && !is_integer(rt.type)) {
        fail(expr.loc, name + " needs integer operands");
      }
      return op_node(op, rt.type, rt.weak, shape, {std::move(a), std::move(b)});
    }
    case Expr::Kind::call:
      return build_call(expr);
  }
  const Var& var = lookup(expr.text, expr.loc);
  switch (var.kind) {
    case Var::Kind::symbol:
    case Var::Kind::loop: {
      Node node = literal(ScalarType::i64, true, var.cxx);
      node.kind = Node::Kind::scalar;
      return node;
    }
    case Var::Kind::constant: {
      if (var.dtype == ScalarType::boolean) {
        return literal(ScalarType::boolean, true, var.value != 0 ? "true" : "false");
      }
      if (is_integer(var.dtype)) {
        return literal(ScalarType::i64, true, int_literal(static_cast<std::int64_t>(var.value)));
      }
      return literal(ScalarType::f64, true, double_literal(var.value));
    }
    case Var::Kind::scalar: {
      Node node = literal(var.dtype, var.weak, var.cxx);
      node.kind = Node::Kind::scalar;
      return node;
    }
    case Var::Kind::tensor:
    case Var::Kind::buffer: {
      const Layout layout = var.kind == Var::Kind::tensor ? Layout::tensor : Layout::local;
      if (var.shape.empty()) {
        Node node = literal(var.dtype, false, read_element(var.cxx, "0", var.dtype, layout));
        node.kind = Node::Kind::scalar;
        return node;
      }
      Node node;
      node.kind = Node::Kind::array;
      node.dtype = var.dtype;
      node.weak = var.weak;
      node.shape = var.shape;
      node.text = var.cxx;
      node.layout = layout;
      return node;
    }
  }
  fail(expr.loc, "unsupported name '" + expr.text + "'");
}

Node Lowerer::build_call(const Expr& call) {
  const FunctionSpec* spec = find_function(call.text);
  if (!spec) fail(call.loc, "unknown function '" + call.text + "'");
  switch (spec->kind) {
    case FunctionKind::load:
    case FunctionKind::store:
      fail(call.loc, call.text + " is a statement; it has no value");
    case FunctionKind::alloc: {
      const Var info = infer_root_call(call);
      return op_node("fill", info.dtype, false, info.shape,
                     {literal(ScalarType::i64, true, int_literal(0))});
    }
    case FunctionKind::unary:
      return build_unary(call.text, build(*argument(call, 0, "")), call.loc);
    case FunctionKind::binary: {
      Node a = build(*argument(call, 0, ""));
      Node b = build(*argument(call, 1, ""));
      Shape shape = broadcast(a.shape, b.shape);
      const ResultType rt = combine(a, b, call.loc, call.text, true);
      if (rt.type == ScalarType::boolean)
        fail(call.loc, call.text + " on bool values; cast them first");
      return op_node(call.text, rt.type, rt.weak, shape, {std::move(a), std::move(b)});
    }
    case FunctionKind::ceil_div: {
      Node a = build(*argument(call, 0, ""));
      Node b = build(*argument(call, 1, ""));
      const ResultType rt = combine(a, b, call.loc, "ceil", true);
      if (!is_integer(rt.type)) fail(call.loc, "ceil(a, b) is the ceiling division of integers");
      Shape shape = broadcast(a.shape, b.shape);
      return op_node("ceil", rt.type, rt.weak, shape, {std::move(a), std::move(b)});
    }
    case FunctionKind::where: {
      Node c = build(*argument(call, 0, ""));
      Node a = build(*argument(call, 1, ""));
      Node b = build(*argument(call, 2, ""));
      const ResultType rt = combine(a, b, call.loc, "where", true);
      Shape shape = broadcast(c.shape, broadcast(a.shape, b.shape));
      const bool weak = rt.weak && c.weak;
      return op_node("where", rt.type, weak, shape, {std::move(c), std::move(a), std::move(b)});
    }
    case FunctionKind::cast: {
      Node a = build(*argument(call, 0, ""));
      const ScalarType type = dtype_argument(*argument(call, 1, ""));
      Shape shape = a.shape;
      return op_node("cast", type, false, shape, {std::move(a)});
    }
    case FunctionKind::fill: {
      Node a = build(*argument(call, 0, ""));
      Node v = build(*argument(call, 1, ""));
      if (!v.shape.empty()) fail(call.loc, "fill: the value must be a scalar");
      return op_node("fill", a.dtype, a.weak, a.shape, {std::move(v)});
    }
    default:
      break;
  }
  // Not element-wise: computed into a temporary first.
  Dest dest;
  emit_root_call(call, [&](const Var& info) {
    dest.ptr = fresh("t");
    dest.dtype = info.dtype;
    dest.shape = info.shape;
    dest.scalar = info.shape.empty();
    declare_storage(dest.ptr, info.dtype, info.shape, false);
    return dest;
  });
  Node node = literal(dest.dtype, false, dest.ptr);
  node.kind = dest.scalar ? Node::Kind::scalar : Node::Kind::array;
  node.shape = dest.shape;
  return node;
}

Node Lowerer::build_unary(const std::string& name, Node a, Location loc) {
  if (a.dtype == ScalarType::boolean) fail(loc, name + " needs a numeric value, got bool");
  ScalarType type = a.dtype;
  const bool float_only =
      std::find(kFloatUnary.begin(), kFloatUnary.end(), name) != kFloatUnary.end();
  if (float_only && !is_float(type)) {
    if (!a.weak)
      fail(loc, name + " needs a float value, got " + type_name(type) + "; cast it first");
    type = ScalarType::f64;
  }
  Shape shape = a.shape;
  const bool weak = a.weak;
  return op_node(name, type, weak, shape, {std::move(a)});
}

// ---- generating element expressions -------------------------------------------------------

std::string Lowerer::gen(const Node& node, const Index& idx, std::size_t rank) {
  switch (node.kind) {
    case Node::Kind::literal:
    case Node::Kind::scalar:
      return node.text;
    case Node::Kind::array: {
      if (!idx.flat.empty()) return read_element(node.text, idx.flat, node.dtype, node.layout);
      std::vector<std::string> vars;
      const std::size_t r = node.shape.size();
      for (std::size_t d = 0; d < r; ++d) {
        vars.push_back(is_one(node.shape[d]) ? "" : idx.vars[rank - r + d]);
      }
      return read_element(node.text, flat_offset(node.shape, vars), node.dtype, node.layout);
    }
    case Node::Kind::op:
      break;
  }
  std::vector<std::string> kids;
  for (const Node& kid : node.kids) kids.push_back(gen(kid, idx, rank));
  const std::string& op = node.op;
  const ScalarType t = node.dtype;
  // A weak operand (literal, symbol, ...) joins the operation unrounded, as in the interpreter.
  auto as_result = [&](std::size_t k) {
    const bool unrounded = node.kids[k].weak && (t == ScalarType::f16 || t == ScalarType::bf16);
    return convert(kids[k], node.kids[k].dtype, unrounded ? ScalarType::f32 : t);
  };
  if (op == "not") return "(!bool(" + kids[0] + "))";
  if (op == "and") return "(bool(" + kids[0] + ") & bool(" + kids[1] + "))";
  if (op == "or") return "(bool(" + kids[0] + ") | bool(" + kids[1] + "))";
  if (op == "fill") return convert(kids[0], node.kids[0].dtype, t);
  if (op == "cast") return convert(kids[0], node.kids[0].dtype, t, true);
  if (op == "where") return "(bool(" + kids[0] + ") ? " + as_result(1) + " : " + as_result(2) + ")";
  if (is_comparison(op)) {
    const Node& a = node.kids[0];
    const Node& b = node.kids[1];
    if (a.dtype == b.dtype) return "(" + kids[0] + " " + op + " " + kids[1] + ")";
    return "(double(" + kids[0] + ") " + op + " double(" + kids[1] + "))";
  }
  if (node.kids.size() == 1) {
    const std::string x = as_result(0);
    if (op == "neg") return rounded(t, "(-" + x + ")");
    if (op == "abs")
      return is_float(t) ? "std::fabs(" + x + ")" : rounded(t, "std::abs(" + x + ")");
    if (op == "relu") {
      const std::string zero = is_float(t) ? compute_type(t) + "(0)" : "std::int64_t(0)";
      return "(" + x + " < " + zero + " ? " + zero + " : " + x + ")";
    }
    return rounded(t, "anvil_" + op + "(" + x + ")");
  }
  const std::string a = as_result(0);
  const std::string b = as_result(1);
  if (op == "add") return rounded(t, "(" + a + " + " + b + ")");
  if (op == "sub") return rounded(t, "(" + a + " - " + b + ")");
  if (op == "mul") return rounded(t, "(" + a + " * " + b + ")");
  if (op == "div") return rounded(t, "(" + a + " / " + b + ")");
  if (op == "max" || op == "min") return "anvil_" + op + "(" + a + ", " + b + ")";
  if (op == "pow") {
    return rounded(t, (is_float(t) ? "anvil_pow(" : "anvil_ipow(") + a + ", " + b + ")");
  }
  if (op == "//") return rounded(t, "anvil_floordiv(" + a + ", " + b + ")");
  if (op == "%") return rounded(t, "anvil_mod(" + a + ", " + b + ")");
  if (op == "ceil") return rounded(t, "anvil_ceildiv(" + a + ", " + b + ")");
  throw LoweringError({}, "internal: unknown element operation '" + op + "'");
}

// ---- loops, storage and element-wise assignment --------------------------------------------

void Lowerer::loops(const Shape& extents,
                    const std::function<void(const std::vector<std::string>&)>& body, bool simd) {
  std::vector<std::string> vars;
  for (std::size_t d = 0; d < extents.size(); ++d) {
    vars.push_back(fresh("i"));
    if (simd && d + 1 == extents.size()) line("#pragma omp simd");
    open("for (std::int64_t " + vars[d] + " = 0; " + vars[d] + " < " + extents[d].text + "; ++" +
         vars[d] + ")");
  }
  body(vars);
  for (std::size_t d = 0; d < extents.size(); ++d) close();
}

void Lowerer::declare_storage(const std::string& name, ScalarType dtype, const Shape& shape,
                              bool zero) {
  if (shape.empty()) {
    line(compute_type(dtype) + " " + name + " = " + compute_type(dtype) + "(0);");
    return;
  }
  const std::string type = storage_type(dtype, Layout::local);
  const auto count = constant_count(shape);
  if (count && static_cast<std::size_t>(*count) * storage_bytes(dtype) <= kStackLimitBytes) {
    line("alignas(64) " + type + " " + name + "[" +
         std::to_string(std::max<std::int64_t>(*count, 1)) + "]" + (zero ? " = {}" : "") + ";");
    return;
  }
  line("anvil_buffer<" + type + "> " + name + "_storage(" + product(shape).text + ", " +
       (zero ? "true" : "false") + ");");
  line(type + "* const " + name + " = " + name + "_storage.data;");
}

void Lowerer::emit_elementwise(const Node& node, const Dest& dest) {
  if (dest.scalar) {
    line(dest.ptr + " = " + convert(gen(node, Index{}, 0), node.dtype, dest.dtype) + ";");
    return;
  }
  auto assign = [&](const std::string& offset, const Index& idx, std::size_t rank) {
    const std::string value = convert(gen(node, idx, rank), node.dtype, dest.dtype);
    line(dest.ptr + "[" + offset + "] = " + write_element(value, dest.dtype, Layout::local) + ";");
  };
  if (dest.shape.size() > 1 && flattenable(node, dest.shape)) {
    loops({product(dest.shape)}, [&](const std::vector<std::string>& vars) {
      Index idx;
      idx.flat = vars[0];
      assign(vars[0], idx, 1);
    });
    return;
  }
  loops(dest.shape, [&](const std::vector<std::string>& vars) {
    assign(flat_offset(dest.shape, vars), Index{vars, ""}, vars.size());
  });
}

Node Lowerer::materialize(const Node& node) {
  if (node.kind == Node::Kind::array && node.layout == Layout::local) return node;
  Dest dest{fresh("t"), node.dtype, node.shape, node.shape.empty()};
  declare_storage(dest.ptr, dest.dtype, dest.shape, false);
  emit_elementwise(node, dest);
  Node out = literal(node.dtype, node.weak, dest.ptr);
  out.kind = dest.scalar ? Node::Kind::scalar : Node::Kind::array;
  out.shape = node.shape;
  return out;
}

// ---- regions (load, store, gathers) -------------------------------------------------------

Region Lowerer::region(const Expr& ref, const Var& base) {
  Region r;
  r.ptr = base.kind == Var::Kind::scalar ? "(&" + base.cxx + ")" : base.cxx;
  r.dtype = base.dtype;
  r.layout = base.kind == Var::Kind::tensor ? Layout::tensor : Layout::local;
  const Shape& shape = base.shape;
  std::vector<Dim> strides(shape.size(), constant_dim(1));
  for (std::size_t d = shape.size(); d > 1; --d) {
    strides[d - 2] = product({strides[d - 1], shape[d - 1]});
    if (!strides[d - 2].value)
      strides[d - 2].text = strides[d - 1].text + " * " + shape[d - 1].text;
  }
  if (ref.kind != Expr::Kind::subscript) {
    r.full = r.clamped = shape;
    for (const auto& s : strides) r.strides.push_back(s.text);
    return r;
  }
  if (ref.subscripts.size() != shape.size()) {
    fail(ref.loc, "'" + ref.operands[0]->text + "' has rank " + std::to_string(shape.size()) +
                      " but " + std::to_string(ref.subscripts.size()) + " subscript(s) are given");
  }
  std::vector<std::string> checks;
  Affine offset;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const Subscript& sub = ref.subscripts[d];
    const Dim& extent = shape[d];
    const Affine stride = affine_of(strides[d]);
    if (!sub.is_slice) {
      const Affine i = index(*sub.index);
      const bool known_ok =
          i.is_constant() && extent.value && i.constant >= 0 && i.constant < *extent.value;
      if (!known_ok) {
        const std::string var = fresh("ix");
        line("const std::int64_t " + var + " = " + i.text() + ";");
        checks.push_back(var + " >= 0 && " + var + " < " + extent.text);
        offset = affine_add(offset, affine_mul(affine_atom(var), stride), 1);
      } else {
        offset = affine_add(offset, affine_mul(i, stride), 1);
      }
      continue;
    }
    if (!sub.start && !sub.stop && !sub.step) {
      r.full.push_back(extent);
      r.clamped.push_back(extent);
      r.strides.push_back(strides[d].text);
      continue;
    }
    const Affine start = sub.start ? index(*sub.start) : Affine{};
    const Affine stop = sub.stop ? index(*sub.stop) : affine_of(extent);
    Affine step;
    step.constant = 1;
    if (sub.step) step = index(*sub.step);
    if (!step.is_constant()) {
      const std::string var = fresh("step");
      line("const std::int64_t " + var + " = " + step.text() + ";");
      checks.push_back(var + " > 0");
      step = affine_atom(var);
    } else if (step.constant <= 0) {
      fail(sub.loc, "slice step " + std::to_string(step.constant) + " must be positive");
    }
    const std::string start_var = fresh("start");
    line("const std::int64_t " + start_var + " = " + start.text() + ";");
    if (!(start.is_constant() && start.constant >= 0)) checks.push_back(start_var + " >= 0");
    if (!(stop.is_constant() && stop.constant >= 0)) checks.push_back(stop.text() + " >= 0");
    const std::string full_var = fresh("full");
    const std::string clamped_var = fresh("n");
    line("std::int64_t " + full_var + " = 0;");
    line("const std::int64_t " + clamped_var + " = anvil_clamp_extent(" + start_var + ", " +
         stop.text() + ", " + step.text() + ", " + extent.text + ", &" + full_var + ");");
    Dim full{full_var, std::nullopt};
    const Affine span = affine_add(stop, start, -1);
    if (span.is_constant() && step.is_constant()) {
      full = constant_dim(
          std::max<std::int64_t>(0, (span.constant + step.constant - 1) / step.constant));
    }
    r.full.push_back(full);
    r.clamped.push_back(Dim{clamped_var, std::nullopt});
    r.strides.push_back(affine_mul(stride, step).text());
    offset = affine_add(offset, affine_mul(affine_atom(start_var), stride), 1);
  }
  r.offset = offset.text();
  for (const auto& check : checks) r.valid += (r.valid.empty() ? "" : " && ") + ("(" + check + ")");
  return r;
}

Node Lowerer::read_region(const Region& region, const Location& loc) {
  (void)loc;
  const std::string temp = fresh("g");
  auto element = [&](const std::vector<std::string>& vars) {
    std::string offset = region.offset;
    for (std::size_t d = 0; d < vars.size(); ++d)
      offset += " + " + vars[d] + " * " + region.strides[d];
    return read_element(region.ptr, offset, region.dtype, region.layout);
  };
  if (region.clamped.empty()) {
    line(compute_type(region.dtype) + " " + temp + " = " + compute_type(region.dtype) + "(0);");
    const std::string read = temp + " = " + element({}) + ";";
    if (region.valid.empty()) {
      line(read);
    } else {
      open("if (" + region.valid + ")");
      line(read);
      otherwise();
      line("anvil_fail(&" + status_ + ", 2);");
      close();
    }
    Node node = literal(region.dtype, false, temp);
    node.kind = Node::Kind::scalar;
    return node;
  }
  const bool full_known = constant_count(region.full).has_value();
  declare_storage(temp, region.dtype, full_known ? region.full : region.clamped, true);
  if (!region.valid.empty()) {
    open("if (!(" + region.valid + "))");
    line("anvil_fail(&" + status_ + ", 2);");
    otherwise();
  }
  loops(region.clamped, [&](const std::vector<std::string>& vars) {
    line(temp + "[" + flat_offset(region.clamped, vars) +
         "] = " + write_element(element(vars), region.dtype, Layout::local) + ";");
  });
  if (!region.valid.empty()) close();
  Node node = literal(region.dtype, false, temp);
  node.kind = Node::Kind::array;
  node.shape = region.clamped;
  return node;
}

// ---- calls that are not element-wise -------------------------------------------------------

bool Lowerer::is_root_call(const Expr& expr) const {
  if (expr.kind != Expr::Kind::call) return false;
  const FunctionSpec* spec = find_function(expr.text);
  if (!spec) return false;
  return spec->kind == FunctionKind::reduction || spec->kind == FunctionKind::arg_reduction ||
         spec->kind == FunctionKind::scan || spec->kind == FunctionKind::gemm;
}

Var Lowerer::infer_root_call(const Expr& call) {
  Var info;
  info.kind = Var::Kind::buffer;
  if (call.text == "alloc") {
    const Expr& shape = *argument(call, 0, "");
    if (shape.kind != Expr::Kind::list) fail(shape.loc, "alloc: the shape must be a list of dims");
    for (const auto& item : shape.operands) info.shape.push_back(dim(*item));
    const Argument* dtype = call.keyword("dtype");
    info.dtype = dtype ? dtype_argument(*dtype->value) : ScalarType::f32;
    return info;
  }
  // Plan the call into a discarded buffer: what it would declare is its type and shape.
  capture([&] {
    emit_root_call(call, [&](const Var& v) {
      info = v;
      return Dest{"anvil_unused", v.dtype, v.shape, v.shape.empty()};
    });
  });
  return info;
}

void Lowerer::emit_root_call(const Expr& call, const std::function<Dest(const Var&)>& make_dest) {
  const FunctionSpec* spec = find_function(call.text);
  switch (spec->kind) {
    case FunctionKind::reduction:
    case FunctionKind::arg_reduction:
      return emit_reduction(call, make_dest);
    case FunctionKind::scan:
      return emit_scan(call, make_dest);
    case FunctionKind::gemm:
      return emit_gemm(call, make_dest);
    default:
      fail(call.loc, "internal: " + call.text + " is element-wise");
  }
}

std::optional<std::size_t> Lowerer::axis_argument(const Expr& call, std::size_t rank,
                                                  std::optional<std::int64_t> fallback) {
  const Expr* axis_expr = argument(call, 1, "axis");
  std::optional<std::int64_t> axis = fallback;
  if (axis_expr && axis_expr->kind == Expr::Kind::none) {
    axis = std::nullopt;
  } else if (axis_expr) {
    auto value = constant_value(*axis_expr);
    if (!value) fail(axis_expr->loc, call.text + ": the axis must be an integer literal");
    axis = static_cast<std::int64_t>(*value);
  }
  if (!axis) return std::nullopt;
  const auto r = static_cast<std::int64_t>(rank);
  const std::int64_t a = *axis < 0 ? *axis + r : *axis;
  if (a < 0 || a >= r) {
    fail(axis_expr ? axis_expr->loc : call.loc, call.text + ": axis " + std::to_string(*axis) +
                                                    " is out of range for rank " +
                                                    std::to_string(rank));
  }
  return static_cast<std::size_t>(a);
}

namespace {

struct ReduceOp {
  std::string init;
  std::function<std::string(const std::string&, const std::string&)> apply;
};

ReduceOp reduce_op(const std::string& fn, const std::string& acc_type) {
  const bool is_float_acc = acc_type != "std::int64_t";
  const std::string inf = acc_type == "double" ? "anvil_inf_d" : "anvil_inf_f";
  if (fn == "reduce_prod") {
    return {acc_type + "(1)", [](auto a, auto x) { return a + " * " + x; }};
  }
  if (fn == "reduce_max") {
    return {is_float_acc ? "-" + inf : "std::numeric_limits<std::int64_t>::min()",
            [](auto a, auto x) { return "anvil_max(" + a + ", " + x + ")"; }};
  }
  if (fn == "reduce_min") {
    return {is_float_acc ? inf : "std::numeric_limits<std::int64_t>::max()",
            [](auto a, auto x) { return "anvil_min(" + a + ", " + x + ")"; }};
  }
  return {acc_type + "(0)", [](auto a, auto x) { return a + " + " + x; }};
}

}  // namespace

void Lowerer::emit_reduction(const Expr& call, const std::function<Dest(const Var&)>& make_dest) {
  const Node a = build(*argument(call, 0, ""));
  const std::size_t rank = a.shape.size();
  const auto axis = axis_argument(call, rank, std::nullopt);
  const bool keepdims = flag_argument(call, "keepdims");
  const std::string& fn = call.text;
  const bool arg = fn == "argmax" || fn == "argmin";
  ScalarType out_type = a.dtype;
  ScalarType acc_dtype = accumulator_dtype(a.dtype);
  if (arg) {
    out_type = ScalarType::i64;
  } else if ((fn == "reduce_sum" || fn == "reduce_prod") && a.dtype == ScalarType::boolean) {
    out_type = ScalarType::i64;
  } else if (fn == "reduce_mean" && !is_float(a.dtype)) {
    if (!a.weak) fail(call.loc, "reduce_mean needs a float value, got " + type_name(a.dtype));
    out_type = acc_dtype = ScalarType::f64;
  }
  Var info;
  info.dtype = out_type;
  info.weak = a.weak && !arg;
  for (std::size_t d = 0; d < rank; ++d) {
    const bool reduced = !axis || d == *axis;
    if (!reduced) info.shape.push_back(a.shape[d]);
    if (reduced && keepdims) info.shape.push_back(constant_dim(1));
  }
  const Dest dest = make_dest(info);
  if (arg) return emit_arg_reduction(a, axis, fn == "argmax", dest);

  const std::string acc_type = compute_type(acc_dtype);
  const ReduceOp op = reduce_op(fn, acc_type);
  const std::size_t first = axis ? *axis : 0;
  const std::size_t last = axis ? *axis + 1 : rank;
  const Shape outer = sub_shape(a.shape, 0, first);
  const Shape inner = sub_shape(a.shape, last, rank);
  const Dim count = product(sub_shape(a.shape, first, last));
  auto finish = [&](const std::string& value) {
    const std::string mean =
        fn == "reduce_mean" ? "(" + value + " / " + acc_type + "(" + count.text + "))" : value;
    return convert(mean, acc_dtype, out_type);
  };
  auto element = [&](const Index& idx) {
    return acc_type + "(" + convert(gen(a, idx, rank), a.dtype, acc_dtype) + ")";
  };
  auto write = [&](const std::string& offset, const std::string& value) {
    if (dest.scalar) return line(dest.ptr + " = " + value + ";");
    line(dest.ptr + "[" + offset + "] = " + write_element(value, out_type, Layout::local) + ";");
  };

  if (inner.empty() || !axis) {
    // Reduce the trailing dims with vector lanes (independent partial results, one combine).
    const int lanes = acc_type == "float" ? 32 : 16;
    Shape reduced = sub_shape(a.shape, first, last);
    const bool flat = reduced.size() > 1 && outer.empty() && flattenable(a, a.shape);
    if (flat) reduced = {product(reduced)};
    loops(
        outer,
        [&](const std::vector<std::string>& outer_vars) {
          const std::string lane = fresh("lane");
          line(acc_type + " " + lane + "[" + std::to_string(lanes) + "];");
          line("for (std::int64_t l = 0; l < " + std::to_string(lanes) + "; ++l) " + lane +
               "[l] = " + op.init + ";");
          const Shape prefix = sub_shape(reduced, 0, reduced.empty() ? 0 : reduced.size() - 1);
          const Dim extent = reduced.empty() ? constant_dim(1) : reduced.back();
          loops(
              prefix,
              [&](const std::vector<std::string>& prefix_vars) {
                const std::string k = fresh("k");
                auto index_at = [&](const std::string& last_var) {
                  Index idx;
                  if (flat) {
                    idx.flat = last_var;
                    return idx;
                  }
                  idx.vars = outer_vars;
                  idx.vars.insert(idx.vars.end(), prefix_vars.begin(), prefix_vars.end());
                  if (!reduced.empty()) idx.vars.push_back(last_var);
                  return idx;
                };
                line("std::int64_t " + k + " = 0;");
                open("for (; " + k + " + " + std::to_string(lanes) + " <= " + extent.text + "; " +
                     k + " += " + std::to_string(lanes) + ")");
                line("#pragma omp simd");
                open("for (std::int64_t l = 0; l < " + std::to_string(lanes) + "; ++l)");
                line(lane +
                     "[l] = " + op.apply(lane + "[l]", element(index_at("(" + k + " + l)"))) + ";");
                close();
                close();
                open("for (; " + k + " < " + extent.text + "; ++" + k + ")");
                line(lane + "[0] = " + op.apply(lane + "[0]", element(index_at(k))) + ";");
                close();
              },
              false);
          // Lanes combined pairwise, halving each step: log2(lanes) vector steps, not a chain of
          // `lanes` dependent scalar operations (a 64-long product row spent most time there).
          for (int width = lanes / 2; width >= 1; width /= 2) {
            const std::string w = std::to_string(width);
            line("#pragma omp simd");
            line("for (std::int64_t l = 0; l < " + w + "; ++l) " + lane +
                 "[l] = " + op.apply(lane + "[l]", lane + "[l + " + w + "]") + ";");
          }
          write(flat_offset(outer, outer_vars), finish(lane + "[0]"));
        },
        false);
    return;
  }
  // A middle axis: one accumulator per inner element, updated row by row (vectorizes over inner).
  const Dim inner_count = product(inner);
  const std::string accs = fresh("acc");
  declare_storage(accs, acc_dtype, {inner_count}, false);
  loops(
      outer,
      [&](const std::vector<std::string>& outer_vars) {
        loops({inner_count}, [&](const std::vector<std::string>& v) {
          line(accs + "[" + v[0] + "] = " + op.init + ";");
        });
        const std::string k = fresh("k");
        open("for (std::int64_t " + k + " = 0; " + k + " < " + a.shape[first].text + "; ++" + k +
             ")");
        loops(inner, [&](const std::vector<std::string>& inner_vars) {
          Index idx;
          idx.vars = outer_vars;
          idx.vars.push_back(k);
          idx.vars.insert(idx.vars.end(), inner_vars.begin(), inner_vars.end());
          const std::string slot = accs + "[" + flat_offset(inner, inner_vars) + "]";
          line(slot + " = " + op.apply(slot, element(idx)) + ";");
        });
        close();
        const std::string base = "(" + flat_offset(outer, outer_vars) + ") * " + inner_count.text;
        loops({inner_count}, [&](const std::vector<std::string>& v) {
          write(base + " + " + v[0], finish(accs + "[" + v[0] + "]"));
        });
      },
      false);
}

void Lowerer::emit_arg_reduction(const Node& a, std::optional<std::size_t> axis, bool is_max,
                                 const Dest& dest) {
  const std::size_t rank = a.shape.size();
  const std::string cmp = is_max ? " > " : " < ";
  const std::string value_type = compute_type(a.dtype);
  // The first extreme wins; so does the first NaN.
  auto take = [&](const std::string& best, const std::string& cur, const std::string& v) {
    return "(" + best + " < 0 || (!(" + cur + " != " + cur + ") && (" + v + " != " + v + " || " +
           v + cmp + cur + ")))";
  };
  auto store = [&](const std::string& offset, const std::string& value) {
    if (dest.scalar) return line(dest.ptr + " = " + value + ";");
    line(dest.ptr + "[" + offset + "] = " + value + ";");
  };
  const std::size_t first = axis ? *axis : 0;
  const std::size_t last = axis ? *axis + 1 : rank;
  const Shape outer = sub_shape(a.shape, 0, first);
  const Shape reduced = sub_shape(a.shape, first, last);
  const Shape inner = sub_shape(a.shape, last, rank);
  const Dim inner_count = product(inner);
  const std::string best = fresh("best");
  const std::string cur = fresh("cur");
  declare_storage(best, ScalarType::i64, {inner_count}, false);
  declare_storage(cur, a.dtype, {inner_count}, false);
  loops(
      outer,
      [&](const std::vector<std::string>& outer_vars) {
        loops({inner_count},
              [&](const std::vector<std::string>& v) { line(best + "[" + v[0] + "] = -1;"); });
        const std::string pos = fresh("pos");
        line("std::int64_t " + pos + " = 0;");
        loops(
            reduced,
            [&](const std::vector<std::string>& reduced_vars) {
              loops(
                  inner,
                  [&](const std::vector<std::string>& inner_vars) {
                    Index idx;
                    idx.vars = outer_vars;
                    idx.vars.insert(idx.vars.end(), reduced_vars.begin(), reduced_vars.end());
                    idx.vars.insert(idx.vars.end(), inner_vars.begin(), inner_vars.end());
                    const std::string slot = "[" + flat_offset(inner, inner_vars) + "]";
                    const std::string v = fresh("v");
                    line("const " + value_type + " " + v + " = " + gen(a, idx, rank) + ";");
                    line("const bool " + v + "_take = " + take(best + slot, cur + slot, v) + ";");
                    line(cur + slot + " = " + v + "_take ? " + v + " : " + cur + slot + ";");
                    line(best + slot + " = " + v + "_take ? " + pos + " : " + best + slot + ";");
                  },
                  !inner.empty());
              line("++" + pos + ";");
            },
            false);
        const std::string base = "(" + flat_offset(outer, outer_vars) + ") * " + inner_count.text;
        loops({inner_count}, [&](const std::vector<std::string>& v) {
          store(base + " + " + v[0], best + "[" + v[0] + "]");
        });
      },
      false);
}

void Lowerer::emit_scan(const Expr& call, const std::function<Dest(const Var&)>& make_dest) {
  const Node a = build(*argument(call, 0, ""));
  const std::size_t rank = a.shape.size();
  Var info;
  info.dtype = a.dtype == ScalarType::boolean && rank > 0 ? ScalarType::i64 : a.dtype;
  info.weak = a.weak;
  info.shape = a.shape;
  if (rank == 0) {
    emit_elementwise(a, make_dest(info));
    return;
  }
  const auto axis = axis_argument(call, rank, -1);
  if (!axis) fail(call.loc, call.text + " needs an axis (it cannot scan all axes)");
  const Dest dest = make_dest(info);
  const bool sum = call.text == "cumsum";
  // Accumulate in double (integers in int64) and round each output, as the interpreter does.
  const ScalarType acc_dtype = is_float(a.dtype) ? ScalarType::f64 : ScalarType::i64;
  const std::string acc_type = compute_type(acc_dtype);
  const Shape outer = sub_shape(a.shape, 0, *axis);
  const Shape inner = sub_shape(a.shape, *axis + 1, rank);
  const Dim inner_count = product(inner);
  const std::string accs = fresh("acc");
  declare_storage(accs, acc_dtype, {inner_count}, false);
  loops(
      outer,
      [&](const std::vector<std::string>& outer_vars) {
        loops({inner_count}, [&](const std::vector<std::string>& v) {
          line(accs + "[" + v[0] + "] = " + acc_type + (sum ? "(0);" : "(1);"));
        });
        const std::string k = fresh("k");
        open("for (std::int64_t " + k + " = 0; " + k + " < " + a.shape[*axis].text + "; ++" + k +
             ")");
        loops(
            inner,
            [&](const std::vector<std::string>& inner_vars) {
              Index idx;
              idx.vars = outer_vars;
              idx.vars.push_back(k);
              idx.vars.insert(idx.vars.end(), inner_vars.begin(), inner_vars.end());
              const std::string slot = accs + "[" + flat_offset(inner, inner_vars) + "]";
              const std::string x = convert(gen(a, idx, rank), a.dtype, acc_dtype);
              line(slot + " = " + slot + (sum ? " + " : " * ") + x + ";");
              line(dest.ptr + "[" + flat_offset(a.shape, idx.vars) + "] = " +
                   write_element(convert(slot, acc_dtype, info.dtype), info.dtype, Layout::local) +
                   ";");
            },
            !inner.empty());
        close();
      },
      false);
}

void Lowerer::emit_gemm(const Expr& call, const std::function<Dest(const Var&)>& make_dest) {
  const bool trans_a = flag_argument(call, "trans_a");
  const bool trans_b = flag_argument(call, "trans_b");
  Node a = build(*argument(call, 0, ""));
  Node b = build(*argument(call, 1, ""));
  if (a.shape.size() != 2 || b.shape.size() != 2) fail(call.loc, "gemm: a and b must be rank 2");
  if (a.dtype != b.dtype) fail(call.loc, "gemm: a and b have different dtypes; cast one of them");
  if (a.dtype == ScalarType::boolean) fail(call.loc, "gemm on bool values; cast them first");
  if (a.kind != Node::Kind::array) a = materialize(a);
  const Dim m = trans_a ? a.shape[1] : a.shape[0];
  const Dim k = trans_a ? a.shape[0] : a.shape[1];
  const Dim n = trans_b ? b.shape[0] : b.shape[1];
  if (trans_b || b.kind != Node::Kind::array) {
    // b^T is copied once into a [K, N] tile so that the inner loop runs along contiguous rows.
    const std::string bt = fresh("bt");
    declare_storage(bt, b.dtype, {k, n}, false);
    loops({k, n}, [&](const std::vector<std::string>& v) {
      const std::string value =
          gen(b, Index{trans_b ? std::vector<std::string>{v[1], v[0]} : v, ""}, 2);
      line(bt + "[" + v[0] + " * " + n.text + " + " + v[1] +
           "] = " + write_element(value, b.dtype, Layout::local) + ";");
    });
    b = literal(b.dtype, false, bt);
    b.kind = Node::Kind::array;
    b.shape = {k, n};
  }
  std::optional<Node> c;
  if (const Expr* c_expr = argument(call, 2, "c"); c_expr && c_expr->kind != Expr::Kind::none) {
    c = build(*c_expr);
  }
  Var info;
  info.dtype = a.dtype;
  info.shape = {m, n};
  const Dest dest = make_dest(info);
  const ScalarType acc_dtype = accumulator_dtype(a.dtype);
  const std::string acc_type = accumulator_type(a.dtype);
  auto result = [&](const std::string& i, const std::string& j, const std::string& sum) {
    std::string value = sum;
    if (c) {
      const std::string c_elem = convert(gen(*c, Index{{i, j}, ""}, 2), c->dtype, acc_dtype);
      value = "(" + c_elem + " + " + value + ")";
    }
    const std::string out = convert(value, acc_dtype, info.dtype);
    line(dest.ptr + "[" + i + " * " + n.text + " + " + j +
         "] = " + write_element(out, info.dtype, Layout::local) + ";");
  };
  if (m.value && n.value && *m.value % kGemmRows == 0 && *n.value % kGemmCols == 0) {
    return emit_gemm_blocked(a, b, trans_a, {m, k, n}, acc_dtype, result);
  }
  const std::string row = fresh("row");
  declare_storage(row, acc_dtype, {n}, false);
  const std::string i = fresh("i");
  const std::string kk = fresh("k");
  open("for (std::int64_t " + i + " = 0; " + i + " < " + m.text + "; ++" + i + ")");
  loops({n}, [&](const std::vector<std::string>& v) {
    line(row + "[" + v[0] + "] = " + acc_type + "(0);");
  });
  open("for (std::int64_t " + kk + " = 0; " + kk + " < " + k.text + "; ++" + kk + ")");
  const std::string a_elem = gen(
      a, Index{trans_a ? std::vector<std::string>{kk, i} : std::vector<std::string>{i, kk}, ""}, 2);
  line("const " + acc_type + " x = " + acc_type + "(" + convert(a_elem, a.dtype, acc_dtype) + ");");
  loops({n}, [&](const std::vector<std::string>& v) {
    const std::string b_elem = convert(gen(b, Index{{kk, v[0]}, ""}, 2), b.dtype, acc_dtype);
    line(row + "[" + v[0] + "] += x * " + b_elem + ";");
  });
  close();
  loops({n}, [&](const std::vector<std::string>& v) { result(i, v[0], row + "[" + v[0] + "]"); });
  close();
}

// gemm on constant tile shapes in register blocks of kGemmRows x kGemmCols accumulators: each
// b element loaded feeds kGemmRows FMAs, and the block stays in vector registers over all of k.
void Lowerer::emit_gemm_blocked(
    const Node& a, const Node& b, bool trans_a, const Shape& mkn, ScalarType acc_dtype,
    const std::function<void(const std::string&, const std::string&, const std::string&)>& result) {
  const std::string acc_type = compute_type(acc_dtype);
  const std::string i0 = fresh("i");
  const std::string j0 = fresh("j");
  const std::string kk = fresh("k");
  const std::string cols = std::to_string(kGemmCols);
  open("for (std::int64_t " + i0 + " = 0; " + i0 + " < " + mkn[0].text + "; " + i0 +
       " += " + std::to_string(kGemmRows) + ")");
  open("for (std::int64_t " + j0 + " = 0; " + j0 + " < " + mkn[2].text + "; " + j0 + " += " + cols +
       ")");
  std::vector<std::string> rows;
  for (int r = 0; r < kGemmRows; ++r) {
    rows.push_back(fresh("r"));
    line(acc_type + " " + rows.back() + "[" + cols + "];");
  }
  line("#pragma omp simd");
  open("for (std::int64_t j = 0; j < " + cols + "; ++j)");
  for (const auto& r : rows) line(r + "[j] = " + acc_type + "(0);");
  close();
  open("for (std::int64_t " + kk + " = 0; " + kk + " < " + mkn[1].text + "; ++" + kk + ")");
  for (int r = 0; r < kGemmRows; ++r) {
    const std::string i = "(" + i0 + " + " + std::to_string(r) + ")";
    const std::string a_elem = gen(
        a, Index{trans_a ? std::vector<std::string>{kk, i} : std::vector<std::string>{i, kk}, ""},
        2);
    line("const " + acc_type + " x" + std::to_string(r) + " = " + acc_type + "(" +
         convert(a_elem, a.dtype, acc_dtype) + ");");
  }
  // The row of b as a pointer: plain addressing lets g++ keep the block in registers.
  const std::string b_row = fresh("brow");
  line("const " + storage_type(b.dtype, b.layout) + "* const " + b_row + " = " + b.text + " + " +
       kk + " * " + b.shape[1].text + " + " + j0 + ";");
  const std::string b_elem =
      convert(read_element(b_row, "j", b.dtype, b.layout), b.dtype, acc_dtype);
  line("#pragma omp simd");
  open("for (std::int64_t j = 0; j < " + cols + "; ++j)");
  line("const " + acc_type + " y = " + b_elem + ";");
  for (int r = 0; r < kGemmRows; ++r) line(rows[r] + "[j] += x" + std::to_string(r) + " * y;");
  close();
  close();
  line("#pragma omp simd");
  open("for (std::int64_t j = 0; j < " + cols + "; ++j)");
  for (int r = 0; r < kGemmRows; ++r) {
    result("(" + i0 + " + " + std::to_string(r) + ")", "(" + j0 + " + j)", rows[r] + "[j]");
  }
  close();
  close();
  close();
}

}  // namespace anvil::sketch::lowering
