// Lowering of a checked sketch to one C++/OpenMP translation unit: the entry point, the ABI
// prologue (tensor pointers, symbols from dims, shape checks) and the statements. Values are in
// lower_cpp_expr.cpp. The interpreter (interpreter.cpp) is the reference for every meaning here.
#include "sketch/lower_cpp.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "sketch/lower_cpp_impl.hpp"
#include "sketch/printer.hpp"

namespace anvil::sketch {

LoweringError::LoweringError(Location loc, const std::string& message)
    : std::runtime_error(message), loc_(loc) {}

namespace lowering {

void fail(Location loc, const std::string& message) { throw LoweringError(loc, message); }

bool mentions(const Expr& expr, const std::string& name) {
  if (expr.kind == Expr::Kind::name && expr.text == name) return true;
  for (const auto& operand : expr.operands) {
    if (mentions(*operand, name)) return true;
  }
  for (const auto& arg : expr.args) {
    if (arg.value && mentions(*arg.value, name)) return true;
    if (arg.destination && mentions(*arg.destination, name)) return true;
  }
  for (const auto& sub : expr.subscripts) {
    for (const Expr* part : {sub.index.get(), sub.start.get(), sub.stop.get(), sub.step.get()}) {
      if (part && mentions(*part, name)) return true;
    }
  }
  return false;
}

bool mentions(const Stmt& stmt, const std::string& name) {
  if (stmt.value && mentions(*stmt.value, name)) return true;
  for (const auto& arg : stmt.range_args) {
    if (mentions(*arg, name)) return true;
  }
  for (const auto& inner : stmt.body) {
    if (mentions(inner, name)) return true;
  }
  for (const auto& branch : stmt.branches) {
    if (branch.condition && mentions(*branch.condition, name)) return true;
    for (const auto& inner : branch.body) {
      if (mentions(inner, name)) return true;
    }
  }
  return false;
}

namespace {

// The buffer or tensor a reference names: `x` of `x[i, j:j + B]`.
const Expr& reference_base(const Expr& ref) {
  return ref.kind == Expr::Kind::subscript ? *ref.operands[0] : ref;
}

// The `value -> destination` argument of a load or store statement; null for other statements.
const Argument* transfer_argument(const Stmt& stmt) {
  if (stmt.kind != Stmt::Kind::call || !stmt.value || stmt.value->kind != Expr::Kind::call) {
    return nullptr;
  }
  if (stmt.value->text != "load" && stmt.value->text != "store") return nullptr;
  const auto positional = stmt.value->positional();
  if (positional.empty() || !positional[0]->destination || !positional[0]->value) return nullptr;
  return positional[0];
}

// Whether a statement stores, loads or assigns into `name`, at any depth.
bool writes_to(const Stmt& stmt, const std::string& name) {
  if (stmt.kind == Stmt::Kind::assign && stmt.target == name) return true;
  if (const Argument* moved = transfer_argument(stmt)) {
    const Expr& base = reference_base(*moved->destination);
    if (base.kind == Expr::Kind::name && base.text == name) return true;
  }
  for (const auto& inner : stmt.body) {
    if (writes_to(inner, name)) return true;
  }
  for (const auto& branch : stmt.branches) {
    for (const auto& inner : branch.body) {
      if (writes_to(inner, name)) return true;
    }
  }
  return false;
}

// Types whose tensor storage and local storage are the same C++ type.
bool same_storage_in_tensor_and_buffer(ScalarType dtype) {
  return storage_type(dtype, Layout::tensor) == storage_type(dtype, Layout::local) &&
         storage_type(dtype, Layout::local) == compute_type(dtype);
}

int count_reads(const Expr& expr, const std::string& name) {
  int count = expr.kind == Expr::Kind::name && expr.text == name ? 1 : 0;
  for (const auto& operand : expr.operands) count += count_reads(*operand, name);
  for (const auto& arg : expr.args) {
    if (arg.value) count += count_reads(*arg.value, name);
    if (arg.destination) count += count_reads(*arg.destination, name);
  }
  for (const auto& sub : expr.subscripts) {
    for (const Expr* part : {sub.index.get(), sub.start.get(), sub.stop.get(), sub.step.get()}) {
      if (part) count += count_reads(*part, name);
    }
  }
  return count;
}

int count_reads(const std::vector<Stmt>& body, const std::string& name) {
  int count = 0;
  for (const auto& stmt : body) {
    if (stmt.value) count += count_reads(*stmt.value, name);
    for (const auto& arg : stmt.range_args) count += count_reads(*arg, name);
    count += count_reads(stmt.body, name);
    for (const auto& branch : stmt.branches) {
      if (branch.condition) count += count_reads(*branch.condition, name);
      count += count_reads(branch.body, name);
    }
  }
  return count;
}

// Every `name = value` statement in `body`, at any depth.
void collect_assignments(const std::vector<Stmt>& body, std::vector<const Stmt*>& out) {
  for (const auto& stmt : body) {
    if (stmt.kind == Stmt::Kind::assign) out.push_back(&stmt);
    collect_assignments(stmt.body, out);
    for (const auto& branch : stmt.branches) collect_assignments(branch.body, out);
  }
}

bool has_loop(const std::vector<Stmt>& body) {
  return std::any_of(body.begin(), body.end(), [](const Stmt& s) {
    if (s.kind == Stmt::Kind::for_loop) return true;
    return std::any_of(s.branches.begin(), s.branches.end(),
                       [](const IfBranch& b) { return has_loop(b.body); });
  });
}

const Hint* find_hint(const Stmt& loop, const std::string& name) {
  for (const auto& hint : loop.hints) {
    if (hint.name == name) return &hint;
  }
  return nullptr;
}

// The operator of `v = v OP e` / `v = e OP v` / `v = max(v, e)` with `e` free of `v`, or "".
std::string reduction_operator(const Stmt& stmt) {
  const Expr& value = *stmt.value;
  const std::string& v = stmt.target;
  const Expr* left = nullptr;
  const Expr* right = nullptr;
  std::string op;
  if (value.kind == Expr::Kind::binary && (value.text == "+" || value.text == "*")) {
    op = value.text;
    left = value.operands[0].get();
    right = value.operands[1].get();
  } else if (value.kind == Expr::Kind::call && value.args.size() == 2 &&
             (value.text == "add" || value.text == "mul" || value.text == "max" ||
              value.text == "min") &&
             value.args[0].keyword.empty() && value.args[1].keyword.empty()) {
    op = value.text == "add" ? "+" : value.text == "mul" ? "*" : value.text;
    left = value.args[0].value.get();
    right = value.args[1].value.get();
  } else {
    return "";
  }
  auto is_v = [&](const Expr* e) { return e->kind == Expr::Kind::name && e->text == v; };
  if (is_v(left) && !mentions(*right, v)) return op;
  if (is_v(right) && !mentions(*left, v)) return op;
  return "";
}

bool reads_subscripts(const Expr& ref, const std::string& name) {
  for (const auto& sub : ref.subscripts) {
    for (const Expr* part : {sub.index.get(), sub.start.get(), sub.stop.get(), sub.step.get()}) {
      if (part && mentions(*part, name)) return true;
    }
  }
  return false;
}

// Whether `body` reads tensor `name` anywhere (being a store's destination is no read).
bool reads_tensor(const std::vector<Stmt>& body, const std::string& name) {
  for (const auto& stmt : body) {
    if (stmt.kind == Stmt::Kind::call && stmt.value->text == "store") {
      const auto positional = stmt.value->positional();
      if (positional.empty() || !positional[0]->destination) continue;
      if (mentions(*positional[0]->value, name)) return true;
      if (reads_subscripts(*positional[0]->destination, name)) return true;
      continue;
    }
    if (stmt.value && mentions(*stmt.value, name)) return true;
    for (const auto& arg : stmt.range_args) {
      if (mentions(*arg, name)) return true;
    }
    if (reads_tensor(stmt.body, name)) return true;
    for (const auto& branch : stmt.branches) {
      if (branch.condition && mentions(*branch.condition, name)) return true;
      if (reads_tensor(branch.body, name)) return true;
    }
  }
  return false;
}

// Whether a sketch may read an element of output `name` before storing it: only then is the
// interpreter's zero start observable and the kernel must zero-fill the output (a whole extra
// pass over it). A load is covered when an earlier statement of its block stores the same region
// (the same subscript text, over names that cannot change), or an earlier loop with the same
// header stores it unconditionally at the same nesting: values staged in an output and read back
// (softmax's exp stored in pass 2, rescaled in pass 3) then cost no zero-fill.
class OutputCoverage {
 public:
  OutputCoverage(std::string name, std::function<bool(const std::string&)> immutable_global)
      : name_(std::move(name)), immutable_global_(std::move(immutable_global)) {}

  bool may_read_unstored(const std::vector<Stmt>& block, std::set<std::string> known) {
    for (const auto& stmt : block) {
      if (!mentions(stmt, name_)) {
        continue;
      }
      if (stmt.kind == Stmt::Kind::for_loop) {
        if (loop_may_read_unstored(stmt, known)) return true;
        continue;
      }
      const Argument* moved = transfer_argument(stmt);
      if (!moved) return true;  // read by an assignment, a condition, or a store's value
      const bool is_store = stmt.value->text == "store";
      const Expr& tensor_side = is_store ? *moved->destination : *moved->value;
      const Expr& other_side = is_store ? *moved->value : *moved->destination;
      if (mentions(other_side, name_) || !is_region_of_name(tensor_side) ||
          stmt.value->args.size() != 1) {
        return true;
      }
      const auto key = region_key(tensor_side);
      if (is_store) {
        if (key) known.insert(*key);
        continue;
      }
      if (!key || !(known.count(*key) || known.count("*"))) return true;
    }
    return false;
  }

 private:
  bool loop_may_read_unstored(const Stmt& loop, std::set<std::string>& known) {
    for (const auto& arg : loop.range_args) {
      if (mentions(*arg, name_)) return true;
    }
    const auto head = header(loop);
    std::set<std::string> inner;
    if (known.count("*")) inner.insert("*");
    const std::string prefix = head ? *head + " > " : "";
    for (const auto& key : known) {
      if (head && key.rfind(prefix, 0) == 0) inner.insert(key.substr(prefix.size()));
    }
    loop_vars_.push_back(loop.target);
    bool unstored = may_read_unstored(loop.body, inner);
    if (!unstored && head) {
      for (const auto& key : stored_keys(loop.body)) known.insert(prefix + key);
    }
    loop_vars_.pop_back();
    return unstored;
  }

  bool is_region_of_name(const Expr& ref) const {
    const Expr& base = reference_base(ref);
    return base.kind == Expr::Kind::name && base.text == name_;
  }

  // Unconditional stores of a loop body, keyed relative to it (nested loops by their headers).
  std::set<std::string> stored_keys(const std::vector<Stmt>& body) {
    std::set<std::string> keys;
    for (const auto& stmt : body) {
      if (stmt.kind == Stmt::Kind::for_loop) {
        const auto head = header(stmt);
        if (!head) continue;
        loop_vars_.push_back(stmt.target);
        for (const auto& key : stored_keys(stmt.body)) keys.insert(*head + " > " + key);
        loop_vars_.pop_back();
        continue;
      }
      const Argument* moved = transfer_argument(stmt);
      if (!moved || stmt.value->text != "store" || !is_region_of_name(*moved->destination))
        continue;
      if (auto key = region_key(*moved->destination)) keys.insert(*key);
    }
    return keys;
  }

  std::optional<std::string> header(const Stmt& loop) const {
    std::string text = loop.target + " in range(";
    for (std::size_t i = 0; i < loop.range_args.size(); ++i) {
      if (!fixed(*loop.range_args[i])) return std::nullopt;
      text += (i ? ", " : "") + format_expr(*loop.range_args[i]);
    }
    return text + ")";
  }

  // The region's text when every name in it is a loop variable, symbol or constexpr ("*" for
  // the whole tensor); none when an index is read from data or from a variable.
  std::optional<std::string> region_key(const Expr& ref) const {
    if (ref.kind != Expr::Kind::subscript) return std::string("*");
    for (const auto& sub : ref.subscripts) {
      for (const Expr* part : {sub.index.get(), sub.start.get(), sub.stop.get(), sub.step.get()}) {
        if (part && !fixed(*part)) return std::nullopt;
      }
    }
    return format_expr(ref);
  }

  bool fixed(const Expr& expr) const {
    if (expr.kind == Expr::Kind::subscript) return false;
    if (expr.kind == Expr::Kind::name) {
      const bool loop_var =
          std::find(loop_vars_.begin(), loop_vars_.end(), expr.text) != loop_vars_.end();
      return loop_var || immutable_global_(expr.text);
    }
    for (const auto& operand : expr.operands) {
      if (!fixed(*operand)) return false;
    }
    for (const auto& arg : expr.args) {
      if (arg.value && !fixed(*arg.value)) return false;
    }
    return true;
  }

  std::string name_;
  std::function<bool(const std::string&)> immutable_global_;
  std::vector<std::string> loop_vars_;
};

struct Constant {
  double value = 0;
  ScalarType type = ScalarType::i64;
};

}  // namespace

// ---- emission ------------------------------------------------------------------------------

Lowerer::Lowerer(const Sketch& sketch, const LowerOptions& options)
    : sketch_(sketch), options_(options) {}

void Lowerer::line(const std::string& text) {
  out_.append(static_cast<std::size_t>(indent_) * 2, ' ');
  out_ += text;
  out_ += '\n';
}

void Lowerer::open(const std::string& head) {
  line(head.empty() ? "{" : head + " {");
  ++indent_;
}

void Lowerer::close(const std::string& tail) {
  --indent_;
  line(tail);
}

void Lowerer::otherwise() {
  --indent_;
  line("} else {");
  ++indent_;
}

std::string Lowerer::fresh(const std::string& stem) {
  return "anvil_" + stem + std::to_string(counter_++);
}

std::string Lowerer::capture(const std::function<void()>& emit) {
  std::string saved;
  std::swap(saved, out_);
  ++indent_;
  emit();
  --indent_;
  std::swap(saved, out_);
  return saved;
}

// ---- names and constants -------------------------------------------------------------------

const Var* Lowerer::find(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return &found->second;
  }
  auto global = globals_.find(name);
  return global == globals_.end() ? nullptr : &global->second;
}

Var* Lowerer::find_local(const std::string& name) {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return &found->second;
  }
  return nullptr;
}

const Var& Lowerer::lookup(const std::string& name, Location loc) const {
  if (const Var* var = find(name)) return *var;
  fail(loc, "unknown name '" + name + "'");
}

namespace {

std::optional<Constant> evaluate(const Expr& expr,
                                 const std::function<const Var*(const std::string&)>& find) {
  switch (expr.kind) {
    case Expr::Kind::integer:
      return Constant{static_cast<double>(expr.int_value), ScalarType::i64};
    case Expr::Kind::floating:
      return Constant{expr.float_value, ScalarType::f64};
    case Expr::Kind::boolean:
      return Constant{expr.bool_value ? 1.0 : 0.0, ScalarType::boolean};
    case Expr::Kind::name: {
      const Var* var = find(expr.text);
      if (!var || var->kind != Var::Kind::constant) return std::nullopt;
      return Constant{var->value, var->dtype};
    }
    case Expr::Kind::unary: {
      auto a = evaluate(*expr.operands[0], find);
      if (!a) return std::nullopt;
      if (expr.text == "not") return Constant{a->value != 0 ? 0.0 : 1.0, ScalarType::boolean};
      return Constant{-a->value, a->type};
    }
    case Expr::Kind::binary: {
      auto a = evaluate(*expr.operands[0], find);
      auto b = evaluate(*expr.operands[1], find);
      if (!a || !b) return std::nullopt;
      const bool ints = a->type != ScalarType::f64 && b->type != ScalarType::f64;
      const ScalarType type = ints ? ScalarType::i64 : ScalarType::f64;
      const std::string& op = expr.text;
      if (op == "+") return Constant{a->value + b->value, type};
      if (op == "-") return Constant{a->value - b->value, type};
      if (op == "*") return Constant{a->value * b->value, type};
      if (op == "/") return Constant{a->value / b->value, ScalarType::f64};
      if ((op == "//" || op == "%") && ints && b->value != 0) {
        const double q = std::floor(a->value / b->value);
        return Constant{op == "//" ? q : a->value - q * b->value, ScalarType::i64};
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<double> Lowerer::constant_value(const Expr& expr) const {
  auto value = evaluate(expr, [this](const std::string& name) { return find(name); });
  if (!value) return std::nullopt;
  return value->value;
}

ScalarType Lowerer::dtype_argument(const Expr& expr) const {
  if (expr.kind == Expr::Kind::name || expr.kind == Expr::Kind::string) {
    if (auto type = parse_scalar_type(expr.text)) return *type;
  }
  fail(expr.loc, "expected a dtype (f16, bf16, f32, f64, i8, i32, i64, bool)");
}

const Expr* Lowerer::argument(const Expr& call, std::size_t index,
                              const std::string& keyword) const {
  const auto positional = call.positional();
  if (index < positional.size()) return positional[index]->value.get();
  const Argument* by_keyword = keyword.empty() ? nullptr : call.keyword(keyword);
  return by_keyword ? by_keyword->value.get() : nullptr;
}

bool Lowerer::flag_argument(const Expr& call, const std::string& keyword) const {
  const Argument* arg = call.keyword(keyword);
  if (!arg || arg->value->kind == Expr::Kind::none) return false;
  auto value = constant_value(*arg->value);
  if (!value) fail(arg->loc, call.text + ": " + keyword + " must be True or False");
  return *value != 0;
}

// ---- prologue ------------------------------------------------------------------------------

void Lowerer::bind_constants() {
  for (const auto& override_entry : options_.constexpr_overrides) {
    const std::string& name = override_entry.first;
    const bool known = std::any_of(sketch_.constexprs.begin(), sketch_.constexprs.end(),
                                   [&](const ConstDecl& c) { return c.name == name; });
    if (!known) {
      fail(sketch_.loc,
           "constexpr override '" + name + "' names no constexpr of sketch '" + sketch_.name + "'");
    }
  }
  for (const auto& decl : sketch_.constexprs) {
    auto value = evaluate(*decl.value, [this](const std::string& name) { return find(name); });
    if (!value) {
      fail(decl.loc,
           "constexpr " + decl.name + " must be computed from literals and earlier constexprs");
    }
    auto override_it = options_.constexpr_overrides.find(decl.name);
    if (override_it != options_.constexpr_overrides.end()) {
      const double v = override_it->second;
      if (value->type == ScalarType::i64 && (v != std::floor(v) || !std::isfinite(v))) {
        fail(decl.loc, "constexpr " + decl.name + " is an integer; the override " +
                           double_literal(v) + " is not");
      }
      value->value = value->type == ScalarType::boolean ? (v != 0 ? 1 : 0) : v;
    }
    if (value->type != ScalarType::f64 && std::fabs(value->value) > 4.0e18) {
      fail(decl.loc, "constexpr " + decl.name + " is too large for a 64-bit integer");
    }
    Var var;
    var.kind = Var::Kind::constant;
    var.cxx = "c_" + decl.name;
    var.dtype = value->type;
    var.weak = true;
    var.value = value->value;
    globals_[decl.name] = var;
    if (value->type == ScalarType::f64) {
      line("[[maybe_unused]] constexpr double " + var.cxx + " = " + double_literal(var.value) +
           ";");
    } else {
      line("[[maybe_unused]] constexpr std::int64_t " + var.cxx + " = " +
           std::to_string(static_cast<std::int64_t>(var.value)) + ";");
    }
  }
}

void Lowerer::bind_tensors() {
  for (const auto& symbol : sketch_.symbols) {
    Var var;
    var.kind = Var::Kind::symbol;
    var.cxx = "s_" + symbol.name;
    var.dtype = ScalarType::i64;
    var.weak = true;
    globals_[symbol.name] = var;
    line("std::int64_t " + var.cxx + " = 0;");
  }
  std::set<std::string> bound;
  auto unbound = [&](const Expr& expr) {
    std::vector<std::string> names;
    for (const auto& symbol : sketch_.symbols) {
      if (!bound.count(symbol.name) && mentions(expr, symbol.name)) names.push_back(symbol.name);
    }
    return names;
  };
  // Pass 1: a dim that is exactly a symbol binds it.
  std::size_t k = 0;
  for (const auto& decl : sketch_.tensors) {
    for (const auto& dim_expr : decl.shape) {
      if (dim_expr->kind == Expr::Kind::name && globals_.count(dim_expr->text) &&
          globals_[dim_expr->text].kind == Var::Kind::symbol && !bound.count(dim_expr->text)) {
        line("s_" + dim_expr->text + " = anvil_dims[" + std::to_string(k) + "];");
        bound.insert(dim_expr->text);
      }
      ++k;
    }
  }
  // Pass 2: solve `4 * H`, `H + 1`, ... for a symbol seen nowhere else.
  std::function<bool(const Expr&, const std::string&)> solve = [&](const Expr& expr,
                                                                   const std::string& value) {
    if (expr.kind == Expr::Kind::name && !unbound(expr).empty()) {
      line("s_" + expr.text + " = " + value + ";");
      bound.insert(expr.text);
      return true;
    }
    if (expr.kind != Expr::Kind::binary) return false;
    const Expr& left = *expr.operands[0];
    const Expr& right = *expr.operands[1];
    const bool left_known = unbound(left).empty();
    if (left_known == unbound(right).empty()) return false;
    const std::string known = dim(left_known ? left : right).text;
    const std::string target = fresh("solve");
    if (expr.text == "+") {
      line("const std::int64_t " + target + " = " + value + " - " + known + ";");
    } else if (expr.text == "-") {
      line("const std::int64_t " + target + " = " +
           (left_known ? known + " - " + value : value + " + " + known) + ";");
    } else if (expr.text == "*") {
      line("if (" + known + " == 0 || " + value + " % " + known + " != 0) return 1;");
      line("const std::int64_t " + target + " = " + value + " / " + known + ";");
    } else {
      return false;
    }
    return solve(left_known ? right : left, target);
  };
  for (bool progress = true; progress;) {
    progress = false;
    k = 0;
    for (const auto& decl : sketch_.tensors) {
      for (const auto& dim_expr : decl.shape) {
        const std::string value = "anvil_dims[" + std::to_string(k++) + "]";
        if (unbound(*dim_expr).size() == 1 && solve(*dim_expr, value)) progress = true;
      }
    }
  }
  for (const auto& symbol : sketch_.symbols) {
    if (!bound.count(symbol.name)) {
      fail(symbol.loc, "symbol " + symbol.name +
                           " cannot be bound: no tensor dim is that symbol or a + - * "
                           "expression of it");
    }
  }
  // Pass 3: every declared dim must equal the given one; tensors get their pointers and shapes.
  k = 0;
  for (std::size_t t = 0; t < sketch_.tensors.size(); ++t) {
    const TensorDecl& decl = sketch_.tensors[t];
    auto dtype = parse_scalar_type(decl.dtype);
    if (!dtype) fail(decl.dtype_loc, "unknown dtype '" + decl.dtype + "'");
    Var var;
    var.kind = Var::Kind::tensor;
    var.cxx = "t_" + decl.name;
    var.dtype = *dtype;
    for (const auto& dim_expr : decl.shape) {
      var.shape.push_back(dim(*dim_expr));
      const std::string given = "anvil_dims[" + std::to_string(k++) + "]";
      line("if (" + given + " < 0 || " + given + " != " + var.shape.back().text + ") return 1;");
    }
    const std::string type = storage_type(*dtype, Layout::tensor);
    line(type + "* const " + var.cxx + " = static_cast<" + type + "*>(anvil_tensors[" +
         std::to_string(t) + "]);");
    globals_[decl.name] = var;
  }
}

// ---- statements ----------------------------------------------------------------------------

void Lowerer::lower_block(const std::vector<Stmt>& body) {
  scopes_.emplace_back();
  const auto* saved_block = current_block_;
  const std::size_t saved_index = current_index_;
  for (std::size_t i = 0; i < body.size(); ++i) {
    current_block_ = &body;
    current_index_ = i;
    lower_statement(body[i]);
  }
  current_block_ = saved_block;
  current_index_ = saved_index;
  scopes_.pop_back();
}

void Lowerer::lower_statement(const Stmt& stmt) {
  switch (stmt.kind) {
    case Stmt::Kind::assign:
      return lower_assign(stmt);
    case Stmt::Kind::for_loop:
      return lower_for(stmt);
    case Stmt::Kind::if_chain:
      open("");
      lower_if(stmt, 0);
      close();
      return;
    case Stmt::Kind::call:
      if (stmt.value->kind == Expr::Kind::call && stmt.value->text == "load") {
        return lower_load(*stmt.value);
      }
      if (stmt.value->kind == Expr::Kind::call && stmt.value->text == "store") {
        return lower_store(*stmt.value);
      }
      return;  // a bare value has no effect
  }
}

// Whether a new buffer's zeros are observable: false when the next statement of the block that
// touches it overwrites all of it (an assignment or a whole-buffer load not reading it).
bool Lowerer::needs_zero_fill(const std::string& name, const std::vector<Stmt>& block,
                              std::size_t from) const {
  for (std::size_t i = from; i < block.size(); ++i) {
    const Stmt& stmt = block[i];
    const bool assigns = stmt.kind == Stmt::Kind::assign && stmt.target == name;
    if (!assigns && !mentions(stmt, name)) continue;
    if (assigns) return mentions(*stmt.value, name);
    if (stmt.kind != Stmt::Kind::call || stmt.value->text != "load") return true;
    const auto positional = stmt.value->positional();
    if (positional.empty() || !positional[0]->destination) return true;
    const Expr& dst = *positional[0]->destination;
    return !(dst.kind == Expr::Kind::name && dst.text == name) ||
           mentions(*positional[0]->value, name);
  }
  return true;
}

// A 1-d tile whose first use is a whole-buffer load from a tensor, and that nothing writes
// afterwards (nor the tensor), can view the tensor's elements instead of copying them: the copy
// cost about a fifth of a memory-bound pass.
bool Lowerer::can_view_tensor(const std::string& name, const Var& info,
                              const std::vector<Stmt>& block, std::size_t from) const {
  if (info.shape.size() != 1 || !same_storage_in_tensor_and_buffer(info.dtype)) return false;
  std::size_t i = from;
  while (i < block.size() && !mentions(block[i], name)) ++i;
  if (i == block.size()) return false;
  const Argument* moved = transfer_argument(block[i]);
  if (!moved || block[i].value->text != "load") return false;
  const Expr& dst = *moved->destination;
  const Expr& src = *moved->value;
  if (dst.kind != Expr::Kind::name || dst.text != name || mentions(src, name)) return false;
  if (src.kind != Expr::Kind::subscript || src.operands[0]->kind != Expr::Kind::name) return false;
  const std::string& tensor = src.operands[0]->text;
  const auto global = globals_.find(tensor);
  if (global == globals_.end() || global->second.kind != Var::Kind::tensor ||
      global->second.dtype != info.dtype) {
    return false;
  }
  for (std::size_t j = i + 1; j < block.size(); ++j) {
    if (writes_to(block[j], name) || writes_to(block[j], tensor)) return false;
  }
  return true;
}

void Lowerer::lower_assign(const Stmt& stmt) {
  const std::string& name = stmt.target;
  if (globals_.count(name)) {
    fail(stmt.target_loc, "cannot assign to '" + name + "': it is a symbol, constexpr or tensor");
  }
  Var* existing = find_local(name);
  if (existing && existing->kind == Var::Kind::loop) {
    fail(stmt.target_loc, "cannot assign to loop variable " + name);
  }
  const Expr& value = *stmt.value;
  const int outer_indent = indent_;
  std::string declaration;
  auto declare = [&](const Var& info, bool zero) {
    Var var = info;
    var.kind = info.shape.empty() ? Var::Kind::scalar : Var::Kind::buffer;
    var.cxx = "v_" + name;
    std::string saved;
    std::swap(saved, out_);
    const int saved_indent = indent_;
    indent_ = outer_indent;
    declare_storage(var.cxx, var.dtype, var.shape, zero);
    indent_ = saved_indent;
    std::swap(saved, out_);
    declaration += saved;
    scopes_.back()[name] = var;
    return &scopes_.back()[name];
  };
  auto make_dest = [&](const Var& info) -> Dest {
    Var* var = existing ? existing : declare(info, false);
    if (var->dtype != info.dtype && !info.weak) {
      fail(stmt.loc, "'" + name + "' is " + std::string(scalar_type_name(var->dtype)) +
                         " but the new value is " + std::string(scalar_type_name(info.dtype)) +
                         "; the lowering keeps one C++ type per name, so use a new name or cast");
    }
    if (var->shape.size() != info.shape.size()) {
      fail(stmt.loc, "'" + name + "' changes rank; a buffer keeps its shape");
    }
    if (var->dtype == info.dtype) var->weak = info.weak;
    return Dest{var->cxx, var->dtype, var->shape, var->shape.empty()};
  };

  if (value.kind == Expr::Kind::call && value.text == "alloc") {
    const Var info = infer_root_call(value);
    if (!existing) {
      const bool zero = needs_zero_fill(name, *current_block_, current_index_ + 1);
      Var* var = declare(info, zero);
      append(declaration);
      if (can_view_tensor(name, info, *current_block_, current_index_ + 1)) {
        var->own_storage = var->cxx;
        var->cxx = var->own_storage + "_view";
        line("const " + storage_type(info.dtype, Layout::local) + "* " + var->cxx + " = " +
             var->own_storage + ";");
      }
      return;
    }
    Node zeros = build(value);
    open("");
    emit_elementwise(zeros, make_dest(info));
    close();
    return;
  }
  bool direct = is_root_call(value) && !mentions(value, name);
  if (is_root_call(value) && value.text == "gemm") {
    // acc = gemm(a, b, acc): c is read element by element right before the same element is
    // written, so the product accumulates in place.
    const Expr* c = argument(value, 2, "c");
    const Expr* a = argument(value, 0, "");
    const Expr* b = argument(value, 1, "");
    direct = !mentions(*a, name) && !mentions(*b, name) &&
             (!c || !mentions(*c, name) || (c->kind == Expr::Kind::name && c->text == name));
  }
  const std::string code = capture([&] {
    if (direct) return emit_root_call(value, make_dest);
    const Node node = build(value);
    const Var info{Var::Kind::buffer, "", node.dtype, node.weak, node.shape, 0, ""};
    emit_elementwise(node, make_dest(info));
  });
  append(declaration);
  line("{");
  append(code);
  line("}");
}

void Lowerer::lower_load(const Expr& call) {
  const auto positional = call.positional();
  const Argument& arg = *positional[0];
  const Expr& src_expr = *arg.value;
  const Expr& dst_expr = *arg.destination;
  const Expr& dst_base = reference_base(dst_expr);
  Var* dst_var = dst_base.kind == Expr::Kind::name ? find_local(dst_base.text) : nullptr;
  if (!dst_var || dst_var->kind == Var::Kind::loop) {
    fail(dst_expr.loc, "load: the destination must be a buffer from alloc");
  }
  open("");
  Var storage = *dst_var;
  if (!storage.own_storage.empty()) storage.cxx = storage.own_storage;
  const Region dst = region(dst_expr, storage);
  Node pad;
  pad.kind = Node::Kind::literal;
  pad.dtype = ScalarType::i64;
  pad.weak = true;
  pad.text = int_literal(0);
  if (const Argument* pad_arg = call.keyword("pad")) pad = build(*pad_arg->value);
  const Expr& src_base = reference_base(src_expr);
  if (src_base.kind != Expr::Kind::name) {
    emit_store_region(build(src_expr), dst);
  } else {
    const Var& src_var = lookup(src_base.text, src_base.loc);
    Region src = region(src_expr, src_var);
    if (src_base.text == dst_base.text) {
      // A copy within one buffer: read the source out first, as the interpreter does.
      const Node copy = read_region(src, src_expr.loc);
      src.ptr = copy.text;
      src.layout = Layout::local;
      src.offset = "0";
      src.valid.clear();
      for (std::size_t d = 0; d < src.strides.size(); ++d) {
        Shape rest(src.clamped.begin() + static_cast<std::ptrdiff_t>(d) + 1, src.clamped.end());
        src.strides[d] = product(rest).text;
      }
    }
    if (dst_var->own_storage.empty()) {
      emit_copy_region(src, dst, &pad);
    } else {
      emit_view_or_copy(src, dst, &pad, dst_var->cxx);
    }
  }
  close();
  dst_var->weak = false;
}

void Lowerer::lower_store(const Expr& call) {
  const auto positional = call.positional();
  const Argument& arg = *positional[0];
  const Expr& dst_expr = *arg.destination;
  const Expr& dst_base = reference_base(dst_expr);
  if (dst_base.kind != Expr::Kind::name) {
    fail(dst_expr.loc, "store: the destination must be a buffer or tensor name");
  }
  Var* local = find_local(dst_base.text);
  const Var& var = local ? *local : lookup(dst_base.text, dst_base.loc);
  if (var.kind != Var::Kind::tensor && var.kind != Var::Kind::buffer &&
      var.kind != Var::Kind::scalar) {
    fail(dst_base.loc, "store: cannot write into '" + dst_base.text + "'");
  }
  open("");
  const Region dst = region(dst_expr, var);
  Node value = build(*arg.value);
  if (var.kind != Var::Kind::tensor && dst_expr.kind == Expr::Kind::subscript &&
      mentions(*arg.value, dst_base.text)) {
    value = materialize(value);  // storing a buffer into itself: read a copy
  }
  emit_store_region(value, dst);
  close();
  if (local) local->weak = false;
}

namespace {

std::string join_conditions(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + " && " + b;
}

std::string element_offset(const Region& r, const std::vector<std::string>& vars) {
  std::string offset = r.offset;
  for (std::size_t d = 0; d < vars.size(); ++d) {
    offset += " + " + vars[d] + (r.strides[d] == "1" ? "" : " * " + r.strides[d]);
  }
  return offset;
}

// `clamped == full` for every dim whose clamping is not known to be a no-op.
std::string full_condition(const Region& r) {
  std::string condition;
  for (std::size_t d = 0; d < r.full.size(); ++d) {
    if (r.clamped[d].text == r.full[d].text) continue;
    condition = join_conditions(condition, r.clamped[d].text + " == " + r.full[d].text);
  }
  return condition;
}

}  // namespace

void Lowerer::emit_copy_region(const Region& src, const Region& dst, const Node* pad) {
  const std::string valid = join_conditions(src.valid, dst.valid);
  if (!valid.empty()) {
    open("if (!(" + valid + "))");
    line("anvil_fail(&" + status_ + ", 2);");
    otherwise();
  }
  const std::size_t rank = dst.full.size();
  auto copy = [&](const std::vector<std::string>& vars) {
    const std::string value =
        convert(read_element(src.ptr, element_offset(src, vars), src.dtype, src.layout), src.dtype,
                dst.dtype);
    line(dst.ptr + "[" + element_offset(dst, vars) +
         "] = " + write_element(value, dst.dtype, dst.layout) + ";");
  };
  if (rank == 0) {
    copy({});
  } else {
    const std::string fast = join_conditions(full_condition(src), full_condition(dst));
    if (!fast.empty() && constant_count(dst.full)) {
      // Interior tiles: constant trip counts, no masks.
      open("if (" + fast + ")");
      loops(dst.full, copy);
      otherwise();
    }
    const std::string pad_value = fresh("pad");
    line("const " + compute_type(dst.dtype) + " " + pad_value + " = " +
         convert(gen(*pad, Index{}, 0), pad->dtype, dst.dtype) + ";");
    std::vector<std::string> available;
    for (std::size_t d = 0; d < rank; ++d) {
      available.push_back(fresh("avail"));
      line("const std::int64_t " + available[d] + " = std::min<std::int64_t>(" +
           src.clamped[d].text + ", " + dst.clamped[d].text + ");");
    }
    std::vector<std::string> vars;
    std::string ok = "true";
    for (std::size_t d = 0; d + 1 < rank; ++d) {
      vars.push_back(fresh("i"));
      open("for (std::int64_t " + vars[d] + " = 0; " + vars[d] + " < " + dst.clamped[d].text +
           "; ++" + vars[d] + ")");
      const std::string next = fresh("ok");
      line("const bool " + next + " = " + ok + " && " + vars[d] + " < " + available[d] + ";");
      ok = next;
    }
    const std::string count = fresh("count");
    line("const std::int64_t " + count + " = " + ok + " ? " + available[rank - 1] + " : 0;");
    vars.push_back(fresh("j"));
    const std::string& j = vars.back();
    line("#pragma omp simd");
    open("for (std::int64_t " + j + " = 0; " + j + " < " + count + "; ++" + j + ")");
    copy(vars);
    close();
    line("#pragma omp simd");
    open("for (std::int64_t " + j + " = " + count + "; " + j + " < " + dst.clamped[rank - 1].text +
         "; ++" + j + ")");
    line(dst.ptr + "[" + element_offset(dst, vars) +
         "] = " + write_element(pad_value, dst.dtype, dst.layout) + ";");
    close();
    for (std::size_t d = 0; d + 1 < rank; ++d) close();
    if (!fast.empty() && constant_count(dst.full)) close();
  }
  if (!valid.empty()) close();
}

// A read-only tile: full tiles point at the tensor's contiguous elements; partial or
// out-of-range ones are copied (padded, or failing with status 2) into the tile's own storage,
// where the view points otherwise.
void Lowerer::emit_view_or_copy(const Region& src, const Region& dst, const Node* pad,
                                const std::string& view) {
  if (src.layout != Layout::tensor || src.strides.size() != 1 || src.strides[0] != "1") {
    emit_copy_region(src, dst, pad);
    return;
  }
  const std::string full = join_conditions(full_condition(src), full_condition(dst));
  const std::string valid = src.valid.empty() ? "" : "(" + src.valid + ")";
  const std::string condition = join_conditions(valid, full);
  const std::string point = view + " = " + src.ptr + " + (" + src.offset + ");";
  if (condition.empty()) {
    line(point);
    return;
  }
  open("if (" + condition + ")");
  line(point);
  otherwise();
  emit_copy_region(src, dst, pad);
  close();
}

void Lowerer::emit_store_region(const Node& value, const Region& dst) {
  if (!dst.valid.empty()) {
    open("if (!(" + dst.valid + "))");
    line("anvil_fail(&" + status_ + ", 2);");
    otherwise();
  }
  const std::size_t rank = dst.full.size();
  auto assign = [&](const std::vector<std::string>& vars) {
    const std::string v = convert(gen(value, Index{vars, ""}, vars.size()), value.dtype, dst.dtype);
    line(dst.ptr + "[" + element_offset(dst, vars) +
         "] = " + write_element(v, dst.dtype, dst.layout) + ";");
  };
  const std::string fast = full_condition(dst);
  if (rank > 0 && !fast.empty() && constant_count(dst.full)) {
    open("if (" + fast + ")");
    loops(dst.full, assign);
    otherwise();
    loops(dst.clamped, assign);
    close();
  } else {
    loops(dst.clamped, assign);
  }
  if (!dst.valid.empty()) close();
}

// `reduction(...)` clauses for the names of enclosing scopes that a parallel or simd loop
// assigns; `sequential` is set (and a note added) when such an assignment is not a reduction.
std::string Lowerer::parallel_clause(const Stmt& loop, bool& sequential, bool explain) {
  std::vector<const Stmt*> assignments;
  collect_assignments(loop.body, assignments);
  std::map<std::string, std::vector<const Stmt*>> outer;
  for (const Stmt* stmt : assignments) {
    if (find_local(stmt->target)) outer[stmt->target].push_back(stmt);
  }
  std::string clause;
  for (const auto& [name, stmts] : outer) {
    const Var& var = *find_local(name);
    std::string op = reduction_operator(*stmts[0]);
    for (const Stmt* stmt : stmts) {
      if (reduction_operator(*stmt) != op) op.clear();
    }
    const bool reads_ok = count_reads(loop.body, name) == static_cast<int>(stmts.size());
    if (op.empty() || !reads_ok || !var.shape.empty()) {
      sequential = true;
      if (!explain) return "";
      notes_.push_back("loop '" + loop.target + "' (line " + std::to_string(loop.loc.line) +
                       "): runs sequentially: it assigns '" + name +
                       "' of an enclosing block in a way that is not a sum/product/max/min "
                       "reduction, so its iterations depend on each other");
      return "";
    }
    std::string omp_op = op;
    if ((op == "max" || op == "min") && is_float(var.dtype)) omp_op = "anvil_f" + op;
    clause += " reduction(" + omp_op + ":" + var.cxx + ")";
  }
  return clause;
}

void Lowerer::lower_for(const Stmt& stmt) {
  const Affine start = stmt.range_args.size() == 1 ? Affine{} : index(*stmt.range_args[0]);
  const Affine stop = index(*stmt.range_args[stmt.range_args.size() == 1 ? 0 : 1]);
  Affine step;
  step.constant = 1;
  if (stmt.range_args.size() == 3) step = index(*stmt.range_args[2]);
  if (step.is_constant() && step.constant <= 0) {
    fail(stmt.range_args[2]->loc, "range's step must be positive");
  }
  const Hint* parallel_hint = find_hint(stmt, "parallel");
  const bool wants_parallel = parallel_hint && parallel_hint->value;
  bool parallel = wants_parallel && parallel_depth_ == 0;
  if (wants_parallel && parallel_depth_ > 0) {
    notes_.push_back("loop '" + stmt.target + "' (line " + std::to_string(stmt.loc.line) +
                     "): parallel=\"" + *parallel_hint->value +
                     "\" inside a parallel loop runs sequentially");
  }
  std::string clause;
  if (parallel) {
    bool sequential = false;
    clause = parallel_clause(stmt, sequential, true);
    parallel = !sequential;
  }
  // A parallel loop directly around a parallel loop with independent bounds: collapse(2).
  const Stmt* inner = nullptr;
  if (parallel && stmt.body.size() == 1 && stmt.body[0].kind == Stmt::Kind::for_loop &&
      find_hint(stmt.body[0], "parallel")) {
    inner = &stmt.body[0];
    for (const auto& arg : inner->range_args) {
      if (mentions(*arg, stmt.target)) inner = nullptr;
    }
  }
  auto bounds = [&](const Stmt& loop, const Affine& lo, const Affine& hi, const Affine& st) {
    const std::string v = "i_" + loop.target + "_" + std::to_string(counter_++);
    const std::string hi_var = fresh("stop");
    line("const std::int64_t " + hi_var + " = " + hi.text() + ";");
    std::string step_text = st.text();
    if (!st.is_constant()) {
      step_text = fresh("step");
      line("const std::int64_t " + step_text + " = std::max<std::int64_t>(" + st.text() + ", 1);");
    }
    return std::make_pair(v, "for (std::int64_t " + v + " = " + lo.text() + "; " + v + " < " +
                                 hi_var + "; " + v + " += " + step_text + ")");
  };
  open("");
  const auto [var, head] = bounds(stmt, start, stop, step);
  std::pair<std::string, std::string> inner_loop;
  if (inner) {
    const Affine inner_start =
        inner->range_args.size() == 1 ? Affine{} : index(*inner->range_args[0]);
    const Affine inner_stop = index(*inner->range_args[inner->range_args.size() == 1 ? 0 : 1]);
    Affine inner_step;
    inner_step.constant = 1;
    if (inner->range_args.size() == 3) inner_step = index(*inner->range_args[2]);
    inner_loop = bounds(*inner, inner_start, inner_stop, inner_step);
  }
  scopes_.emplace_back();
  scopes_.back()[stmt.target] = Var{Var::Kind::loop, var, ScalarType::i64, true, {}, 0, ""};
  if (parallel) ++parallel_depth_;
  const std::string body = capture([&] {
    if (!inner) return lower_block(stmt.body);
    scopes_.emplace_back();
    scopes_.back()[inner->target] =
        Var{Var::Kind::loop, inner_loop.first, ScalarType::i64, true, {}, 0, ""};
    ++indent_;
    lower_block(inner->body);
    --indent_;
    scopes_.pop_back();
  });
  if (parallel) --parallel_depth_;
  if (parallel) {
    line("#pragma omp parallel for schedule(static)" + std::string(inner ? " collapse(2)" : "") +
         clause);
  } else if ((find_hint(stmt, "vectorize") || wants_parallel) &&
             body.find("for (") == std::string::npos && !has_loop(stmt.body)) {
    bool sequential = false;
    const std::string simd_clause = parallel_clause(stmt, sequential, false);
    if (!sequential) line("#pragma omp simd" + simd_clause);
  } else if (const Hint* unroll = find_hint(stmt, "unroll")) {
    line("#pragma GCC unroll " + unroll->value.value_or("4"));
  }
  open(head);
  if (inner) open(inner_loop.second);
  append(body);
  if (inner) close();
  close();
  scopes_.pop_back();
  close();
}

void Lowerer::lower_if(const Stmt& stmt, std::size_t branch_index) {
  if (branch_index >= stmt.branches.size()) return;
  const IfBranch& branch = stmt.branches[branch_index];
  if (!branch.condition) {
    lower_block(branch.body);
    return;
  }
  const Node condition = build(*branch.condition);
  if (!condition.shape.empty()) fail(branch.condition->loc, "a condition must be a scalar");
  std::string text = gen(condition, Index{}, 0);
  if (condition.dtype != ScalarType::boolean) text = "(" + text + ") != 0";
  open("if (" + text + ")");
  lower_block(branch.body);
  if (branch_index + 1 < stmt.branches.size()) {
    otherwise();
    lower_if(stmt, branch_index + 1);
  }
  close();
}

// ---- the unit ------------------------------------------------------------------------------

CppKernel Lowerer::run() {
  CppKernel kernel;
  // "anvil_sketch_": a sketch named like a prelude function (gelu, exp) must not shadow it.
  kernel.entry = "anvil_sketch_" + sketch_.name;
  for (const auto& decl : sketch_.tensors) kernel.tensors.push_back(decl.name);
  kernel.outputs = output_tensor_names(sketch_);

  line("int " + status_ + " = 0;");
  line("(void)anvil_dims;");
  line("(void)anvil_tensors;");
  bind_constants();
  bind_tensors();
  // Outputs start at zero in the interpreter; that is observable only where the sketch reads
  // them (or leaves elements unstored, which the ABI leaves to the caller).
  for (const auto& name : kernel.outputs) {
    const bool read = reads_tensor(sketch_.body, name);
    if (!read) continue;
    OutputCoverage coverage(name, [this](const std::string& global) {
      auto found = globals_.find(global);
      return found != globals_.end() &&
             (found->second.kind == Var::Kind::symbol || found->second.kind == Var::Kind::constant);
    });
    if (!coverage.may_read_unstored(sketch_.body, {})) {
      kernel.notes.push_back("output '" + name +
                             "' is read only where the sketch stored it first: no zero-fill");
      continue;
    }
    const Var& var = globals_[name];
    line("std::memset(static_cast<void*>(" + var.cxx + "), 0, sizeof(*" + var.cxx + ") * " +
         product(var.shape).text + ");");
    kernel.notes.push_back("output '" + name +
                           "' is read by the sketch, so the kernel zero-fills it first");
  }
  lower_block(sketch_.body);

  kernel.source = cpp_prelude();
  kernel.source += "\n// Lowered from sketch '" + sketch_.name +
                   "' by anvil (src/sketch/lower_cpp.cpp); returns 0, 1 (shape mismatch) or 2 "
                   "(index out of range).\n";
  kernel.source += "extern \"C\" int " + kernel.entry +
                   "(void* const* anvil_tensors, const std::int64_t* anvil_dims) {\n";
  kernel.source += out_;
  kernel.source += "  return " + status_ + ";\n}\n";
  kernel.notes.insert(kernel.notes.end(), notes_.begin(), notes_.end());
  return kernel;
}

}  // namespace lowering

CppKernel lower_to_cpp(const Sketch& sketch, const LowerOptions& options) {
  lowering::Lowerer lowerer(sketch, options);
  return lowerer.run();
}

}  // namespace anvil::sketch
