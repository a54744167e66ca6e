#include "sketch/checker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "sketch/printer.hpp"
#include "sketch/stdlib.hpp"
#include "sketch/types.hpp"

namespace anvil::sketch {
namespace {

// ---- checked integer arithmetic ------------------------------------------------------------
// Sizes in sketches are user input: overflow makes a value unknown instead of undefined.

std::optional<std::int64_t> add_checked(std::int64_t a, std::int64_t b) {
  std::int64_t out;
  return __builtin_add_overflow(a, b, &out) ? std::nullopt : std::optional(out);
}
std::optional<std::int64_t> sub_checked(std::int64_t a, std::int64_t b) {
  std::int64_t out;
  return __builtin_sub_overflow(a, b, &out) ? std::nullopt : std::optional(out);
}
std::optional<std::int64_t> mul_checked(std::int64_t a, std::int64_t b) {
  std::int64_t out;
  return __builtin_mul_overflow(a, b, &out) ? std::nullopt : std::optional(out);
}

// ---- symbolic sizes ------------------------------------------------------------------------

// A polynomial over symbol and loop-variable names with integer coefficients: enough to prove
// that `start + BLOCK - start` equals `BLOCK`, or that `M` and `4` may differ.
class SizeExpr {
 public:
  static SizeExpr constant(std::int64_t value) {
    SizeExpr e;
    if (value != 0) e.terms_[{}] = value;
    return e;
  }
  static SizeExpr variable(const std::string& name) {
    SizeExpr e;
    e.terms_[{name}] = 1;
    return e;
  }

  SizeExpr operator+(const SizeExpr& other) const { return combine(other, 1); }
  SizeExpr operator-(const SizeExpr& other) const { return combine(other, -1); }
  SizeExpr operator*(const SizeExpr& other) const {
    SizeExpr out;
    out.overflowed_ = overflowed_ || other.overflowed_;
    for (const auto& [ma, ca] : terms_) {
      for (const auto& [mb, cb] : other.terms_) {
        auto monomial = ma;
        monomial.insert(monomial.end(), mb.begin(), mb.end());
        std::sort(monomial.begin(), monomial.end());
        auto product = mul_checked(ca, cb);
        if (!product) out.overflowed_ = true;
        out.add(monomial, product.value_or(0));
      }
    }
    return out;
  }
  // False when some coefficient overflowed: the value is then unknown.
  bool ok() const { return !overflowed_; }
  bool operator==(const SizeExpr& other) const {
    return ok() && other.ok() && terms_ == other.terms_;
  }

  std::optional<std::int64_t> as_constant() const {
    if (overflowed_) return std::nullopt;
    if (terms_.empty()) return 0;
    if (terms_.size() == 1 && terms_.begin()->first.empty()) return terms_.begin()->second;
    return std::nullopt;
  }

  std::string text() const {
    if (terms_.empty()) return "0";
    std::string out;
    for (const auto& [monomial, coefficient] : terms_) {
      std::string term = fmt::format("{}", fmt::join(monomial, "*"));
      if (monomial.empty()) {
        term = std::to_string(std::llabs(coefficient));
      } else if (std::llabs(coefficient) != 1) {
        term = std::to_string(std::llabs(coefficient)) + "*" + term;
      }
      if (out.empty()) {
        out = (coefficient < 0 ? "-" : "") + term;
      } else {
        out += (coefficient < 0 ? " - " : " + ") + term;
      }
    }
    return out;
  }

 private:
  void add(const std::vector<std::string>& monomial, std::int64_t coefficient) {
    auto& slot = terms_[monomial];
    auto sum = add_checked(slot, coefficient);
    if (!sum) overflowed_ = true;
    slot = sum.value_or(0);
    if (slot == 0) terms_.erase(monomial);
  }
  SizeExpr combine(const SizeExpr& other, std::int64_t sign) const {
    SizeExpr out = *this;
    out.overflowed_ = overflowed_ || other.overflowed_;
    for (const auto& [monomial, coefficient] : other.terms_) {
      auto scaled = mul_checked(sign, coefficient);
      if (!scaled) out.overflowed_ = true;
      out.add(monomial, scaled.value_or(0));
    }
    return out;
  }

  std::map<std::vector<std::string>, std::int64_t> terms_;
  bool overflowed_ = false;
};

using Dim = std::optional<SizeExpr>;  // nullopt: not known statically
using Shape = std::vector<Dim>;

std::string shape_text(const Shape& shape) {
  std::vector<std::string> dims;
  for (const auto& d : shape) dims.push_back(d ? d->text() : "?");
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

enum class Equality { equal, different, unknown };

Equality compare_dims(const Dim& a, const Dim& b) {
  if (!a || !b) return Equality::unknown;
  if (*a == *b) return Equality::equal;
  if (a->as_constant() && b->as_constant()) return Equality::different;
  return Equality::unknown;  // different symbols: they may be equal at run time
}

bool is_one(const Dim& d) { return d && d->as_constant() == 1; }

// ---- what the checker knows of a value -----------------------------------------------------

struct Info {
  enum class Kind { value, dtype, list, string, none, invalid };
  Kind kind = Kind::invalid;
  std::optional<ScalarType> dtype;  // nullopt: unknown
  bool weak = false;                // a literal-like scalar that adopts the other operand's dtype
  std::optional<Shape> shape;       // nullopt: unknown rank
  std::optional<SizeExpr> size;     // integer scalars: their value, symbolically
  std::optional<std::pair<std::int64_t, std::int64_t>> range;  // integer scalars: bounds
  std::vector<Info> items;                                     // lists
  std::string text;                                            // dtype names and strings
  bool from_alloc = false;
  bool alloc_init_zero = false;

  static Info invalid() { return {}; }
  static Info scalar(ScalarType type, bool weak) {
    Info info;
    info.kind = Kind::value;
    info.dtype = type;
    info.weak = weak;
    info.shape = Shape{};
    return info;
  }
  static Info integer(std::int64_t value) {
    Info info = scalar(ScalarType::i64, true);
    info.size = SizeExpr::constant(value);
    info.range = {{value, value}};
    return info;
  }
  bool ok() const { return kind == Kind::value; }
  bool is_scalar() const { return shape && shape->empty(); }
  bool is_integer() const { return dtype && sketch::is_integer(*dtype); }
  std::optional<std::int64_t> constant() const { return size ? size->as_constant() : std::nullopt; }
};

struct Binding {
  enum class Kind { symbol, tensor, constant, loop_var, local };
  Kind kind = Kind::local;
  Info info;
  Location loc;
  bool zeros_without_hint = false;  // from alloc, without "init_zero"
  bool written = false;
  bool warned = false;
};

const char* kind_name(Binding::Kind kind) {
  switch (kind) {
    case Binding::Kind::symbol:
      return "symbol";
    case Binding::Kind::tensor:
      return "tensor";
    case Binding::Kind::constant:
      return "constexpr";
    case Binding::Kind::loop_var:
      return "loop variable";
    case Binding::Kind::local:
      return "buffer";
  }
  return "name";
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = SIZE_MAX;
  for (const auto& candidate : candidates) {
    std::size_t d = edit_distance(name, candidate);
    // Close enough to be a typo: at most half the length of the longer name.
    if (d * 2 <= std::max(name.size(), candidate.size()) && d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

// "an f32 value", "a bool value".
std::string with_article(ScalarType type) {
  std::string name(scalar_type_name(type));
  return (name[0] == 'f' || name[0] == 'i' ? "an " : "a ") + name;
}

const std::set<std::string> kFloatOnly{"exp",  "log",     "sqrt", "rsqrt",
                                       "tanh", "sigmoid", "gelu", "erf"};

// ---- the checker ---------------------------------------------------------------------------

class Checker {
 public:
  std::vector<Diagnostic> run(const Sketch& sketch) {
    scopes_.emplace_back();
    declare_symbols(sketch);
    declare_constants(sketch);
    declare_tensors(sketch);
    require_inferable_symbols(sketch);
    check_body(sketch.body);
    if (output_tensor_names(sketch).empty()) {
      error(sketch.loc, "sketch '" + sketch.name +
                            "' stores into no tensor, so it has no outputs: "
                            "store(...) its results into a declared tensor");
    }
    return std::move(diagnostics_);
  }

 private:
  // ---- diagnostics and scopes ------------------------------------------------------------
  void error(Location loc, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::error, loc, std::move(message)});
  }
  void warning(Location loc, std::string message) {
    diagnostics_.push_back({Diagnostic::Severity::warning, loc, std::move(message)});
  }

  Binding* lookup(const std::string& name) {
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
      auto found = scope->find(name);
      if (found != scope->end()) return &found->second;
    }
    return nullptr;
  }

  std::vector<std::string> visible_names() const {
    std::vector<std::string> names;
    for (const auto& scope : scopes_) {
      for (const auto& [name, binding] : scope) names.push_back(name);
    }
    return names;
  }

  bool declare(const std::string& name, Binding binding) {
    if (auto* existing = lookup(name)) {
      error(binding.loc, fmt::format("'{}' is already declared as a {} at line {}", name,
                                     kind_name(existing->kind), existing->loc.line));
      return false;
    }
    scopes_.back()[name] = std::move(binding);
    return true;
  }

  // ---- declarations ----------------------------------------------------------------------
  void declare_symbols(const Sketch& sketch) {
    for (const auto& symbol : sketch.symbols) {
      Info info = Info::scalar(ScalarType::i64, true);
      info.size = SizeExpr::variable(symbol.name);
      info.range = {{0, INT64_MAX}};
      declare(symbol.name, {Binding::Kind::symbol, info, symbol.loc});
    }
  }

  void declare_constants(const Sketch& sketch) {
    for (const auto& c : sketch.constexprs) {
      in_constexpr_ = true;
      Info info = eval(*c.value);
      in_constexpr_ = false;
      if (info.ok() && !info.is_scalar()) {
        error(c.value->loc, "constexpr '" + c.name + "' must be a scalar");
        info = Info::invalid();
      }
      declare(c.name, {Binding::Kind::constant, info, c.loc});
    }
  }

  void declare_tensors(const Sketch& sketch) {
    for (const auto& tensor : sketch.tensors) {
      auto dtype = parse_scalar_type(tensor.dtype);
      if (!dtype) {
        error(tensor.dtype_loc, "unknown dtype '" + tensor.dtype +
                                    "' (use f16, bf16, f32, f64, i8, i32, i64 or bool)");
      }
      Info info;
      info.kind = Info::Kind::value;
      info.dtype = dtype;
      info.shape = Shape{};
      for (const auto& dim : tensor.shape)
        info.shape->push_back(index_value(*dim, "a tensor dimension"));
      declare(tensor.name, {Binding::Kind::tensor, info, tensor.loc, false, true});
    }
  }

  void require_inferable_symbols(const Sketch& sketch) {
    std::set<std::string> bare;
    for (const auto& tensor : sketch.tensors) {
      for (const auto& dim : tensor.shape) {
        if (dim->kind == Expr::Kind::name) bare.insert(dim->text);
      }
    }
    for (const auto& symbol : sketch.symbols) {
      if (!bare.count(symbol.name)) {
        error(symbol.loc, "symbol '" + symbol.name +
                              "' is not a dimension of any tensor, so its value "
                              "cannot be inferred: use it as a dimension (e.g. x: [" +
                              symbol.name + "] f32) or make it a constexpr");
      }
    }
  }

  // ---- statements ------------------------------------------------------------------------
  void check_body(const std::vector<Stmt>& body) {
    for (const auto& stmt : body) check_statement(stmt);
  }

  void check_block(const std::vector<Stmt>& body) {
    scopes_.emplace_back();
    check_body(body);
    scopes_.pop_back();
  }

  void check_statement(const Stmt& stmt) {
    switch (stmt.kind) {
      case Stmt::Kind::assign:
        check_assign(stmt);
        return;
      case Stmt::Kind::call:
        check_call_statement(*stmt.value);
        return;
      case Stmt::Kind::for_loop:
        check_for(stmt);
        return;
      case Stmt::Kind::if_chain:
        check_if(stmt);
        return;
    }
  }

  void check_assign(const Stmt& stmt) {
    Info value = eval(*stmt.value);
    if (value.kind != Info::Kind::value && value.kind != Info::Kind::invalid) {
      error(stmt.value->loc, "only values (buffers and scalars) can be assigned");
      value = Info::invalid();
    }
    Binding* existing = lookup(stmt.target);
    if (existing && existing->kind != Binding::Kind::local) {
      error(stmt.target_loc,
            fmt::format("cannot assign to {} '{}'{}", kind_name(existing->kind), stmt.target,
                        existing->kind == Binding::Kind::tensor ? ": store(...) into it" : ""));
      return;
    }
    if (existing) {
      check_shape_kept(*existing, value, stmt);
      existing->info = value;
      existing->written = true;
      existing->zeros_without_hint = false;
      return;
    }
    Binding binding{Binding::Kind::local, value, stmt.target_loc};
    binding.zeros_without_hint = value.from_alloc && !value.alloc_init_zero;
    binding.written = !binding.zeros_without_hint;
    scopes_.back()[stmt.target] = std::move(binding);
  }

  void check_shape_kept(const Binding& existing, const Info& value, const Stmt& stmt) {
    const auto& before = existing.info.shape;
    const auto& after = value.shape;
    if (!before || !after) return;
    bool differs = before->size() != after->size();
    for (std::size_t i = 0; !differs && i < before->size(); ++i) {
      differs = compare_dims((*before)[i], (*after)[i]) == Equality::different;
    }
    if (differs) {
      error(stmt.value->loc,
            fmt::format("'{}' is {} but this assigns a {} value: a buffer keeps its shape",
                        stmt.target, shape_text(*before), shape_text(*after)));
    }
  }

  void check_call_statement(const Expr& call) {
    if (call.text == "load" || call.text == "store") {
      eval(call);
      return;
    }
    Info result = eval(call);
    if (result.kind != Info::Kind::invalid) {
      error(call.loc, "the result of " + call.text + "(...) is discarded: assign it to a name");
    }
  }

  void check_for(const Stmt& stmt) {
    check_loop_hints(stmt.hints);
    std::vector<Info> args;
    for (const auto& arg : stmt.range_args) {
      Info info = eval(*arg);
      if (info.ok() && (!info.is_scalar() || (info.dtype && !info.is_integer()))) {
        error(arg->loc, "range(...) arguments must be integer scalars");
      }
      args.push_back(info);
    }
    Info loop = Info::scalar(ScalarType::i64, true);
    loop.size = SizeExpr::variable(stmt.target);
    loop.range = loop_range(args, stmt);
    scopes_.emplace_back();
    if (Binding* shadowed = lookup(stmt.target)) {
      error(stmt.target_loc,
            fmt::format("loop variable '{}' reuses the name of a {} (line {})", stmt.target,
                        kind_name(shadowed->kind), shadowed->loc.line));
    }
    scopes_.back()[stmt.target] = {Binding::Kind::loop_var, loop, stmt.target_loc, false, true};
    check_body(stmt.body);
    scopes_.pop_back();
  }

  std::optional<std::pair<std::int64_t, std::int64_t>> loop_range(const std::vector<Info>& args,
                                                                  const Stmt& stmt) {
    auto value = [&](std::size_t i, std::int64_t fallback) -> std::optional<std::int64_t> {
      return i < args.size() ? args[i].constant() : std::optional<std::int64_t>(fallback);
    };
    bool single = args.size() == 1;
    auto start = single ? std::optional<std::int64_t>(0) : value(0, 0);
    auto stop = single ? value(0, 0) : value(1, 0);
    auto step = value(2, 1);
    if (step && *step <= 0) {
      error(stmt.range_args.back()->loc, "range step must be positive");
      return std::nullopt;
    }
    auto low = start ? start
                     : (args.size() > 1 && args[0].range ? std::optional(args[0].range->first)
                                                         : std::nullopt);
    if (!low) return std::nullopt;
    if (!stop || *stop == INT64_MIN) return std::pair{*low, INT64_MAX};
    return std::pair{*low, std::max(*low, *stop - 1)};
  }

  void check_loop_hints(const std::vector<Hint>& hints) {
    for (const auto& hint : hints) {
      if (!is_known_loop_hint(hint.name)) {
        warning(hint.loc, "unknown loop hint '" + hint.name +
                              "' (known: parallel, pipeline, vectorize, unroll); it is ignored");
        continue;
      }
      if (hint.name == "parallel" && hint.value && !is_known_parallel_level(*hint.value)) {
        warning(hint.loc, "unknown parallel level '" + *hint.value +
                              "' (known: grididx, blockidx, threadidx, coreidx)");
      }
      if ((hint.name == "pipeline" || hint.name == "unroll") && hint.value &&
          hint.value->find_first_not_of("0123456789") != std::string::npos) {
        warning(hint.loc, hint.name + " takes a positive integer, not '" + *hint.value + "'");
      }
    }
  }

  void check_if(const Stmt& stmt) {
    for (const auto& branch : stmt.branches) {
      if (branch.condition) {
        Info condition = eval(*branch.condition);
        if (condition.ok() && condition.shape && !condition.is_scalar()) {
          error(branch.condition->loc,
                "an if condition must be a scalar; use where(...) to choose elementwise");
        }
      }
      check_block(branch.body);
    }
  }

  // ---- expressions -----------------------------------------------------------------------
  Info eval(const Expr& expr) {
    switch (expr.kind) {
      case Expr::Kind::integer:
        return Info::integer(expr.int_value);
      case Expr::Kind::floating:
        return Info::scalar(ScalarType::f32, true);
      case Expr::Kind::boolean:
        return Info::scalar(ScalarType::boolean, true);
      case Expr::Kind::string: {
        Info info;
        info.kind = Info::Kind::string;
        info.text = expr.text;
        return info;
      }
      case Expr::Kind::none: {
        Info info;
        info.kind = Info::Kind::none;
        return info;
      }
      case Expr::Kind::name:
        return eval_name(expr);
      case Expr::Kind::list: {
        Info info;
        info.kind = Info::Kind::list;
        for (const auto& item : expr.operands) info.items.push_back(eval(*item));
        return info;
      }
      case Expr::Kind::subscript:
        return eval_subscript(expr);
      case Expr::Kind::unary:
        return eval_unary(expr);
      case Expr::Kind::binary:
        return eval_binary(expr);
      case Expr::Kind::call:
        return eval_call(expr);
    }
    return Info::invalid();
  }

  // A value an operation consumes: lists, strings, dtypes and None are errors here.
  Info operand(const Expr& expr) {
    Info info = eval(expr);
    if (info.kind == Info::Kind::value || info.kind == Info::Kind::invalid) return info;
    const char* what = info.kind == Info::Kind::list
                           ? "a list (lists only give alloc's shape and hints)"
                       : info.kind == Info::Kind::string ? "a string (strings only appear in hints)"
                       : info.kind == Info::Kind::dtype
                           ? "a dtype name (dtypes go to cast(...) and alloc(dtype=...))"
                           : "None";
    error(expr.loc, std::string("expected a value here, not ") + what);
    return Info::invalid();
  }

  Info eval_name(const Expr& expr) {
    Binding* binding = lookup(expr.text);
    if (!binding) {
      if (parse_scalar_type(expr.text)) {
        Info info;
        info.kind = Info::Kind::dtype;
        info.text = expr.text;
        return info;
      }
      error(expr.loc,
            "'" + expr.text + "' is not defined" + suggestion(expr.text, visible_names()));
      return Info::invalid();
    }
    if (in_constexpr_ && binding->kind != Binding::Kind::constant) {
      error(expr.loc, "a constexpr can only use literals and earlier constexprs, not the " +
                          std::string(kind_name(binding->kind)) + " '" + expr.text + "'");
      return Info::invalid();
    }
    note_read(*binding, expr);
    return binding->info;
  }

  void note_read(Binding& binding, const Expr& expr) {
    if (shape_only_ || !binding.zeros_without_hint || binding.written || binding.warned) return;
    binding.warned = true;
    warning(expr.loc,
            "'" + expr.text +
                "' is read before anything is written to it; alloc gives zeros, so add "
                "\"init_zero\" to its llm_hint to tell the Coder the design relies on them");
  }

  Info eval_subscript(const Expr& expr) {
    const Expr& base = *expr.operands[0];
    Binding* binding = lookup(base.text);
    if (!binding) return eval_name(base);
    if (binding->kind != Binding::Kind::tensor && binding->kind != Binding::Kind::local) {
      error(base.loc,
            fmt::format("the {} '{}' cannot be subscripted", kind_name(binding->kind), base.text));
      return Info::invalid();
    }
    note_read(*binding, base);
    return slice(*binding, base.text, expr);
  }

  // The value of `name[subscripts]`: shape from the unclamped slices, after static bound checks.
  Info slice(const Binding& binding, const std::string& name, const Expr& expr) {
    Info info = binding.info;
    if (!info.ok() || !info.shape) {
      for (const auto& sub : expr.subscripts) check_subscript_parts(sub);
      info.shape.reset();
      return info;
    }
    const Shape& shape = *info.shape;
    if (expr.subscripts.size() != shape.size()) {
      error(expr.loc, fmt::format("'{}' has rank {} ({}) but {} subscript{} given", name,
                                  shape.size(), shape_text(shape), expr.subscripts.size(),
                                  expr.subscripts.size() == 1 ? " is" : "s are"));
      return Info::invalid();
    }
    Shape result;
    for (std::size_t i = 0; i < shape.size(); ++i) {
      const auto& sub = expr.subscripts[i];
      auto parts = check_subscript_parts(sub);
      if (!sub.is_slice) {
        check_index_bounds(parts[0], shape[i], sub.loc, name, i);
        continue;
      }
      result.push_back(slice_extent(sub, parts, shape[i], name, i));
    }
    info.shape = result;
    info.size.reset();
    info.range.reset();
    return info;
  }

  // Evaluates index/start/stop/step of one subscript, each required to be an integer scalar.
  std::vector<Info> check_subscript_parts(const Subscript& sub) {
    std::vector<Info> parts;
    for (const Expr* part : {sub.index.get(), sub.start.get(), sub.stop.get(), sub.step.get()}) {
      if (!part) {
        parts.push_back(Info::invalid());
        continue;
      }
      Info info = operand(*part);
      if (info.ok() && (!info.is_scalar() || (info.dtype && !info.is_integer()))) {
        error(part->loc, "subscripts must be integer scalars");
        info = Info::invalid();
      }
      parts.push_back(info);
    }
    return parts;
  }

  void check_index_bounds(const Info& index, const Dim& extent, Location loc,
                          const std::string& name, std::size_t axis) {
    if (!index.range) return;
    if (index.range->first < 0) {
      error(loc, "negative indices are not allowed");
      return;
    }
    auto size = extent ? extent->as_constant() : std::nullopt;
    if (size && index.range->second >= *size) {
      error(loc, fmt::format("index {} is out of bounds for dimension {} of '{}' (size {})",
                             index.range->second, axis, name, *size));
    }
  }

  Dim slice_extent(const Subscript& sub, const std::vector<Info>& parts, const Dim& extent,
                   const std::string& name, std::size_t axis) {
    const Info& start = parts[1];
    const Info& stop = parts[2];
    const Info& step = parts[3];
    for (const Info* bound : {&start, &stop}) {
      if (bound->range && bound->range->second < 0)
        error(sub.loc, "negative slice bounds are not allowed");
    }
    if (step.constant() && *step.constant() <= 0) error(sub.loc, "a slice step must be positive");
    Dim low = sub.start ? (start.size ? Dim(*start.size) : Dim()) : Dim(SizeExpr::constant(0));
    Dim high = sub.stop ? (stop.size ? Dim(*stop.size) : Dim()) : extent;
    auto size = extent ? extent->as_constant() : std::nullopt;
    if (size && start.range && start.range->first >= *size) {
      warning(sub.loc, fmt::format("this slice of '{}' starts at {}, past the end of dimension {} "
                                   "(size {}): it is empty",
                                   name, start.range->first, axis, *size));
    }
    if (!low || !high) return std::nullopt;
    if (!sub.step || step.constant() == 1) return *high - *low;
    // A stepped slice holds ceil((stop - start) / step) elements: known when all are constants.
    auto span = (*high - *low).as_constant();
    auto stride = step.constant();
    if (!span || !stride || *stride <= 0) return std::nullopt;
    return SizeExpr::constant(*span <= 0 ? 0 : (*span - 1) / *stride + 1);
  }

  Info eval_unary(const Expr& expr) {
    Info value = operand(*expr.operands[0]);
    if (!value.ok()) return value;
    if (expr.text == "not") {
      require_bool(value, expr.operands[0]->loc, "not");
      Info out = value;
      out.dtype = ScalarType::boolean;
      return out;
    }
    if (value.size) value.size = SizeExpr::constant(0) - *value.size;
    if (value.range) {
      auto low = sub_checked(0, value.range->second);
      auto high = sub_checked(0, value.range->first);
      value.range = low && high ? std::optional(std::pair{*low, *high}) : std::nullopt;
    }
    return value;
  }

  void require_bool(const Info& info, Location loc, const std::string& what) {
    if (info.dtype && *info.dtype != ScalarType::boolean) {
      error(loc, what + " needs a bool operand (a comparison), not " +
                     std::string(scalar_type_name(*info.dtype)));
    }
  }

  Info eval_binary(const Expr& expr) {
    Info left = operand(*expr.operands[0]);
    Info right = operand(*expr.operands[1]);
    if (!left.ok() || !right.ok()) return Info::invalid();
    const std::string& op = expr.text;
    if (op == "and" || op == "or") {
      require_bool(left, expr.operands[0]->loc, op);
      require_bool(right, expr.operands[1]->loc, op);
      return combine(left, right, expr, ScalarType::boolean);
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=" || op == "==" || op == "!=") {
      unify(left, right, expr.loc);
      return combine(left, right, expr, ScalarType::boolean);
    }
    return arithmetic(op, left, right, expr);
  }

  Info arithmetic(const std::string& op, const Info& left, const Info& right, const Expr& expr) {
    bool integers = (left.is_integer() || !left.dtype) && (right.is_integer() || !right.dtype) &&
                    left.dtype && right.dtype;
    if ((op == "//" || op == "%") && left.dtype && right.dtype && !integers) {
      error(expr.loc, "'" + op + "' is for integer index arithmetic; use div(...) for values");
    }
    if ((op == "//" || op == "%") && right.constant() == 0) {
      error(expr.operands.size() > 1 ? expr.operands[1]->loc : expr.loc, "division by zero");
    }
    if ((op == "/" || op == "div") && integers) {
      error(expr.loc,
            "'/' on integers: use '//' for floor division or ceil(a, b) for ceiling division");
    }
    Info out = combine(left, right, expr, unify(left, right, expr.loc));
    if (left.size && right.size && (op == "+" || op == "add")) out.size = *left.size + *right.size;
    if (left.size && right.size && (op == "-" || op == "sub")) out.size = *left.size - *right.size;
    if (left.size && right.size && (op == "*" || op == "mul")) out.size = *left.size * *right.size;
    if ((op == "//" || op == "%") && left.constant() && right.constant() &&
        *right.constant() != 0 && !(*left.constant() == INT64_MIN && *right.constant() == -1)) {
      std::int64_t a = *left.constant(), b = *right.constant();
      std::int64_t q = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
      out.size = SizeExpr::constant(op == "//" ? q : a - q * b);
    } else if (op == "//" || op == "%") {
      out.size = left.size && right.constant() == 1 && op == "//" ? left.size : std::nullopt;
    }
    out.range = combine_ranges(op, left, right, out);
    return out;
  }

  static std::optional<std::pair<std::int64_t, std::int64_t>> combine_ranges(const std::string& op,
                                                                             const Info& a,
                                                                             const Info& b,
                                                                             const Info& out) {
    if (out.constant()) return {{*out.constant(), *out.constant()}};
    if (!a.range || !b.range) return std::nullopt;
    auto both = [](std::optional<std::int64_t> low, std::optional<std::int64_t> high)
        -> std::optional<std::pair<std::int64_t, std::int64_t>> {
      if (!low || !high) return std::nullopt;
      return std::pair{*low, *high};
    };
    if (op == "+" || op == "add") {
      auto high = a.range->second == INT64_MAX || b.range->second == INT64_MAX
                      ? std::optional<std::int64_t>(INT64_MAX)
                      : add_checked(a.range->second, b.range->second);
      return both(add_checked(a.range->first, b.range->first), high);
    }
    if ((op == "*" || op == "mul") && b.constant() && *b.constant() >= 0 &&
        a.range->second != INT64_MAX) {
      return both(mul_checked(a.range->first, *b.constant()),
                  mul_checked(a.range->second, *b.constant()));
    }
    return std::nullopt;
  }

  // The dtype of an operation on `a` and `b`: weak scalars adopt the other side's dtype.
  std::optional<ScalarType> unify(const Info& a, const Info& b, Location loc) {
    if (!a.dtype || !b.dtype) return std::nullopt;
    if (a.weak && b.weak) {
      if (is_float(*a.dtype) || is_float(*b.dtype)) return ScalarType::f32;
      return *a.dtype == ScalarType::boolean && *b.dtype == ScalarType::boolean
                 ? ScalarType::boolean
                 : ScalarType::i64;
    }
    if (a.weak || b.weak) {
      const Info& weak = a.weak ? a : b;
      const Info& strong = a.weak ? b : a;
      if (is_float(*weak.dtype) && !is_float(*strong.dtype)) {
        error(loc, fmt::format(
                       "a float scalar with {} value: cast(...) the value to a float dtype first",
                       with_article(*strong.dtype)));
      }
      return strong.dtype;
    }
    if (*a.dtype != *b.dtype) {
      error(loc, fmt::format("operands have different dtypes {} and {}: cast(...) one of them",
                             scalar_type_name(*a.dtype), scalar_type_name(*b.dtype)));
      return std::nullopt;
    }
    return a.dtype;
  }

  Info combine(const Info& a, const Info& b, const Expr& expr, std::optional<ScalarType> dtype) {
    Info out;
    out.kind = Info::Kind::value;
    out.dtype = dtype;
    out.weak = a.weak && b.weak;
    out.shape = broadcast(a.shape, b.shape, expr.loc);
    return out;
  }

  std::optional<Shape> broadcast(const std::optional<Shape>& a, const std::optional<Shape>& b,
                                 Location loc) {
    if (!a || !b) return std::nullopt;
    const Shape& longer = a->size() >= b->size() ? *a : *b;
    const Shape& shorter = a->size() >= b->size() ? *b : *a;
    Shape out = longer;
    std::size_t offset = longer.size() - shorter.size();
    for (std::size_t i = 0; i < shorter.size(); ++i) {
      const Dim& x = longer[offset + i];
      const Dim& y = shorter[i];
      if (is_one(x)) out[offset + i] = y;
      if (is_one(x) || is_one(y)) continue;
      auto equality = compare_dims(x, y);
      if (equality == Equality::different) {
        error(loc,
              fmt::format("shapes {} and {} do not broadcast", shape_text(*a), shape_text(*b)));
        return std::nullopt;
      }
      if (equality == Equality::unknown && x && y) {
        warning(loc, fmt::format("shapes {} and {} broadcast only if {} equals {} at run time",
                                 shape_text(*a), shape_text(*b), x->text(), y->text()));
      }
      if (!x) out[offset + i] = y;
    }
    return out;
  }

  // ---- calls -----------------------------------------------------------------------------
  Info eval_call(const Expr& call) {
    const FunctionSpec* spec = find_function(call.text);
    if (!spec) {
      std::vector<std::string> names;
      for (const auto& f : all_functions()) names.emplace_back(f.name);
      error(call.loc, "unknown function '" + call.text + "'" + suggestion(call.text, names));
      for (const auto& arg : call.args) eval(*arg.value);
      return Info::invalid();
    }
    if (!check_arguments(call, *spec)) return Info::invalid();
    auto args = call.positional();
    switch (spec->kind) {
      case FunctionKind::alloc:
        return eval_alloc(call);
      case FunctionKind::load:
        return eval_load(call);
      case FunctionKind::store:
        return eval_store(call);
      case FunctionKind::unary:
        return eval_unary_function(call);
      case FunctionKind::binary: {
        Info a = operand(*args[0]->value);
        Info b = operand(*args[1]->value);
        if (!a.ok() || !b.ok()) return Info::invalid();
        return arithmetic(call.text, a, b, call);
      }
      case FunctionKind::where:
        return eval_where(call);
      case FunctionKind::cast:
        return eval_cast(call);
      case FunctionKind::fill:
        return eval_fill(call);
      case FunctionKind::reduction:
      case FunctionKind::arg_reduction:
      case FunctionKind::scan:
        return eval_reduction(call, spec->kind);
      case FunctionKind::gemm:
        return eval_gemm(call);
      case FunctionKind::ceil_div:
        return eval_ceil(call);
    }
    return Info::invalid();
  }

  bool check_arguments(const Expr& call, const FunctionSpec& spec) {
    bool ok = true;
    std::set<std::string> seen;
    int positional = 0;
    for (const auto& arg : call.args) {
      bool transfer_allowed = spec.kind == FunctionKind::load || spec.kind == FunctionKind::store;
      if (arg.destination && !transfer_allowed) {
        error(arg.loc, "'->' only appears in load(...) and store(...)");
        ok = false;
      }
      if (arg.keyword.empty()) {
        ++positional;
        continue;
      }
      if (std::find(spec.keywords.begin(), spec.keywords.end(), arg.keyword) ==
          spec.keywords.end()) {
        std::string known =
            spec.keywords.empty() ? "none" : fmt::format("{}", fmt::join(spec.keywords, ", "));
        error(arg.loc, fmt::format("{}() has no argument '{}' (keywords: {})", call.text,
                                   arg.keyword, known));
        ok = false;
      } else if (!seen.insert(arg.keyword).second) {
        error(arg.loc, fmt::format("argument '{}' is given twice", arg.keyword));
        ok = false;
      }
    }
    if (positional < spec.min_positional || positional > spec.max_positional) {
      std::string expected =
          spec.min_positional == spec.max_positional
              ? std::to_string(spec.min_positional)
              : fmt::format("{} to {}", spec.min_positional, spec.max_positional);
      error(call.loc, fmt::format("{}() takes {} positional argument{}, {} given", call.text,
                                  expected, spec.max_positional == 1 ? "" : "s", positional));
      ok = false;
    }
    return ok;
  }

  Info eval_alloc(const Expr& call) {
    const Expr& dims = *call.positional()[0]->value;
    Info info;
    info.kind = Info::Kind::value;
    info.dtype = ScalarType::f32;
    info.from_alloc = true;
    if (dims.kind != Expr::Kind::list) {
      error(dims.loc, "alloc's first argument is the shape as a list, e.g. alloc([BLOCK])");
      return Info::invalid();
    }
    info.shape = Shape{};
    for (const auto& dim : dims.operands) {
      info.shape->push_back(index_value(*dim, "an alloc dimension"));
      auto constant = info.shape->back() ? info.shape->back()->as_constant() : std::nullopt;
      if (constant && *constant < 0) error(dim->loc, "an alloc dimension cannot be negative");
    }
    if (const Argument* dtype = call.keyword("dtype")) {
      Info type = eval(*dtype->value);
      if (type.kind != Info::Kind::dtype) {
        error(dtype->value->loc, "dtype= takes a dtype name such as f16 or f32");
      } else {
        info.dtype = parse_scalar_type(type.text);
      }
    }
    if (const Argument* hints = call.keyword("llm_hint"))
      info.alloc_init_zero = check_buffer_hints(*hints->value);
    return info;
  }

  // Returns whether the hints include "init_zero".
  bool check_buffer_hints(const Expr& hints) {
    if (hints.kind != Expr::Kind::list) {
      error(hints.loc,
            "llm_hint= takes a list of strings, e.g. llm_hint=[\"fast\", \"accumulator\"]");
      return false;
    }
    bool init_zero = false;
    for (const auto& item : hints.operands) {
      if (item->kind != Expr::Kind::string) {
        error(item->loc, "buffer hints are strings, e.g. \"fast\"");
        continue;
      }
      init_zero = init_zero || item->text == "init_zero";
      if (!is_known_buffer_hint(item->text)) {
        warning(item->loc,
                "unknown buffer hint \"" + item->text +
                    "\" (known: fastest, fast, slow, accumulator, "
                    "init_zero, input_cache, output_buffer, temp_workspace); it is ignored");
      }
    }
    return init_zero;
  }

  // An integer expression over symbols, constexprs, loop variables and literals.
  Dim index_value(const Expr& expr, const std::string& what) {
    Info info = operand(expr);
    if (!info.ok()) return std::nullopt;
    if (!info.is_scalar() || (info.dtype && !info.is_integer())) {
      error(expr.loc, what + " must be an integer expression");
      return std::nullopt;
    }
    return info.size;
  }

  struct Reference {
    Binding* binding = nullptr;
    std::string name;
    Info info;
  };

  // `name` or `name[subscripts]` naming a tensor or buffer, for load and store.
  std::optional<Reference> reference(const Expr& expr, const std::string& role, bool writes) {
    const Expr* base = expr.kind == Expr::Kind::subscript ? expr.operands[0].get() : &expr;
    if (base->kind != Expr::Kind::name) {
      error(expr.loc,
            role + " must be a tensor or buffer, optionally subscripted, e.g. x[i, j:j + BLOCK]");
      return std::nullopt;
    }
    Binding* binding = lookup(base->text);
    if (!binding) {
      if (writes) {
        error(base->loc, "'" + base->text + "' is used before it is allocated: add `" + base->text +
                             " = alloc([...])` before this statement");
        // Remembered as a buffer of unknown shape, so later lines do not repeat the complaint.
        scopes_.back()[base->text] = {Binding::Kind::local, Info::invalid(), base->loc, false,
                                      true};
      } else {
        eval_name(*base);
      }
      return std::nullopt;
    }
    if (binding->kind != Binding::Kind::tensor && binding->kind != Binding::Kind::local) {
      error(base->loc, fmt::format("{} must be a tensor or a buffer, not the {} '{}'", role,
                                   kind_name(binding->kind), base->text));
      return std::nullopt;
    }
    if (!binding->info.ok()) return std::nullopt;
    if (!writes) note_read(*binding, *base);
    Info info =
        expr.kind == Expr::Kind::subscript ? slice(*binding, base->text, expr) : binding->info;
    if (!info.ok()) return std::nullopt;
    return Reference{binding, base->text, info};
  }

  const Argument* transfer(const Expr& call) {
    const Argument* arg = call.positional()[0];
    if (!arg->destination) {
      error(arg->loc, call.text == "load"
                          ? "load copies SOURCE -> BUFFER, e.g. load(x[i, j:j + B] -> tile)"
                          : "store writes VALUE -> DESTINATION, e.g. store(tile -> y[i, j:j + B])");
      return nullptr;
    }
    return arg;
  }

  Info eval_load(const Expr& call) {
    const Argument* arg = transfer(call);
    if (!arg) return Info::invalid();
    auto source = reference(*arg->value, "a load's source", false);
    auto destination = reference(*arg->destination, "a load's destination", true);
    if (const Argument* pad = call.keyword("pad")) {
      Info value = operand(*pad->value);
      if (value.ok() && !value.is_scalar()) error(pad->value->loc, "pad must be a scalar");
      if (destination) require_fits(value, destination->info.dtype, pad->value->loc, "pad");
    }
    if (destination && destination->binding->kind == Binding::Kind::tensor) {
      error(arg->destination->loc, "load writes into a buffer; to write the tensor '" +
                                       destination->name + "' use store(...)");
      return invalid_statement();
    }
    if (!source || !destination) return invalid_statement();
    require_same_shape(source->info.shape, destination->info.shape, arg->loc,
                       "the load's source slice", "its destination");
    if (source->info.dtype && destination->info.dtype &&
        *source->info.dtype != *destination->info.dtype) {
      error(arg->loc, fmt::format("load from {} data into {} buffer: alloc the buffer with "
                                  "dtype={} and cast(...) after",
                                  scalar_type_name(*source->info.dtype),
                                  with_article(*destination->info.dtype),
                                  scalar_type_name(*source->info.dtype)));
    }
    destination->binding->written = true;
    return invalid_statement();
  }

  // load and store produce no value.
  static Info invalid_statement() { return Info::invalid(); }

  void require_same_shape(const std::optional<Shape>& a, const std::optional<Shape>& b,
                          Location loc, const std::string& a_name, const std::string& b_name) {
    if (!a || !b) return;
    bool differs = a->size() != b->size();
    for (std::size_t i = 0; !differs && i < a->size(); ++i) {
      differs = (*a)[i] && (*b)[i] && !(*(*a)[i] == *(*b)[i]);
    }
    if (differs) {
      error(loc,
            fmt::format("{} is {} but {} is {}", a_name, shape_text(*a), b_name, shape_text(*b)));
    }
  }

  Info eval_store(const Expr& call) {
    const Argument* arg = transfer(call);
    if (!arg) return Info::invalid();
    Info value = operand(*arg->value);
    auto destination = reference(*arg->destination, "a store's destination", true);
    if (!value.ok() || !destination) return invalid_statement();
    const Info& target = destination->info;
    if (value.shape && target.shape) check_store_shape(*value.shape, *target.shape, arg->loc);
    if (value.dtype && target.dtype && !value.weak && *value.dtype != *target.dtype) {
      error(arg->loc, fmt::format("store of {} value into {} '{}': cast(...) it to {}",
                                  with_article(*value.dtype), scalar_type_name(*target.dtype),
                                  destination->name, scalar_type_name(*target.dtype)));
    }
    require_fits(value, target.dtype, arg->loc, "the stored value");
    destination->binding->written = true;
    return invalid_statement();
  }

  // A float literal (1.5, inf) cannot be written into integer or bool data.
  void require_fits(const Info& value, const std::optional<ScalarType>& target, Location loc,
                    const std::string& what) {
    if (!value.ok() || !value.weak || !value.dtype || !target) return;
    if (is_float(*value.dtype) && !is_float(*target)) {
      error(loc, fmt::format("{} is a float but the destination holds {}: use an integer value",
                             what, scalar_type_name(*target)));
    }
  }

  // The value must broadcast to the destination slice: each of its dims 1 or provably equal.
  void check_store_shape(const Shape& value, const Shape& target, Location loc) {
    bool fits = value.size() <= target.size();
    std::size_t offset = fits ? target.size() - value.size() : 0;
    for (std::size_t i = 0; fits && i < value.size(); ++i) {
      const Dim& v = value[i];
      const Dim& t = target[offset + i];
      fits = is_one(v) || !v || !t || *v == *t;
    }
    if (!fits) {
      error(loc, fmt::format("the stored value is {} but the destination is {}", shape_text(value),
                             shape_text(target)));
    }
  }

  Info eval_unary_function(const Expr& call) {
    Info value = operand(*call.positional()[0]->value);
    if (!value.ok()) return value;
    if (kFloatOnly.count(call.text) && value.dtype && !is_float(*value.dtype)) {
      if (value.weak) {
        value.dtype = ScalarType::f32;
      } else {
        error(call.loc, fmt::format("{}() needs a float value, not {}: cast(...) it first",
                                    call.text, scalar_type_name(*value.dtype)));
      }
    }
    value.size.reset();
    value.range.reset();
    value.from_alloc = false;
    return value;
  }

  Info eval_where(const Expr& call) {
    auto args = call.positional();
    Info condition = operand(*args[0]->value);
    Info a = operand(*args[1]->value);
    Info b = operand(*args[2]->value);
    if (!condition.ok() || !a.ok() || !b.ok()) return Info::invalid();
    require_bool(condition, args[0]->value->loc, "where's condition");
    Info out = combine(a, b, call, unify(a, b, call.loc));
    out.shape = broadcast(out.shape, condition.shape, call.loc);
    return out;
  }

  Info eval_cast(const Expr& call) {
    auto args = call.positional();
    Info value = operand(*args[0]->value);
    const Expr& type_expr = *args[1]->value;
    if (type_expr.kind == Expr::Kind::name && !lookup(type_expr.text) &&
        !parse_scalar_type(type_expr.text)) {
      error(type_expr.loc, "unknown dtype '" + type_expr.text +
                               "' (use f16, bf16, f32, f64, i8, i32, i64 or bool)");
      return Info::invalid();
    }
    Info type = eval(type_expr);
    if (type.kind != Info::Kind::dtype) {
      error(args[1]->value->loc, "cast's second argument is a dtype such as f16 or f32");
      return Info::invalid();
    }
    if (!value.ok()) return value;
    value.dtype = parse_scalar_type(type.text);
    value.weak = false;
    value.from_alloc = false;
    return value;
  }

  Info eval_fill(const Expr& call) {
    auto args = call.positional();
    shape_only_ = true;  // fill reads its first argument's shape and dtype, never its values
    Info like = operand(*args[0]->value);
    shape_only_ = false;
    Info value = operand(*args[1]->value);
    if (value.ok() && !value.is_scalar())
      error(args[1]->value->loc, "fill's value must be a scalar");
    if (like.ok()) require_fits(value, like.dtype, args[1]->value->loc, "fill's value");
    like.from_alloc = false;
    like.size.reset();
    return like;
  }

  // The axis argument: an integer literal (possibly negative) or None/absent.
  std::optional<std::int64_t> axis_argument(const Expr& call, bool& given, bool& ok) {
    auto positional = call.positional();
    const Argument* axis = positional.size() > 1 ? positional[1] : call.keyword("axis");
    given = axis && axis->value->kind != Expr::Kind::none;
    if (!given) return std::nullopt;
    Info info = eval(*axis->value);
    if (!info.constant()) {
      error(axis->value->loc, "axis must be an integer literal such as 0 or -1");
      ok = false;
      return std::nullopt;
    }
    return info.constant();
  }

  Info eval_reduction(const Expr& call, FunctionKind kind) {
    Info value = operand(*call.positional()[0]->value);
    bool given = false;
    bool ok = true;
    auto axis = axis_argument(call, given, ok);
    bool keepdims = false;
    if (const Argument* keep = call.keyword("keepdims")) {
      if (keep->value->kind != Expr::Kind::boolean) {
        error(keep->value->loc, "keepdims takes True or False");
      } else {
        keepdims = keep->value->bool_value;
      }
    }
    if (!value.ok() || !ok) return Info::invalid();
    value.from_alloc = false;
    value.size.reset();
    value.range.reset();
    if (kind == FunctionKind::arg_reduction) {
      value.dtype = ScalarType::i64;
      value.weak = false;
    }
    if (!value.shape) return value;
    auto rank = static_cast<std::int64_t>(value.shape->size());
    if (kind == FunctionKind::scan && !given) axis = -1;
    if (axis && (*axis < -rank || *axis >= rank)) {
      error(call.loc, fmt::format("axis {} is out of range for a rank-{} value {}", *axis, rank,
                                  shape_text(*value.shape)));
      return Info::invalid();
    }
    if (kind == FunctionKind::scan) return value;
    if (!axis) {
      value.shape = keepdims ? Shape(value.shape->size(), Dim(SizeExpr::constant(1))) : Shape{};
      return value;
    }
    auto index = static_cast<std::size_t>(*axis < 0 ? *axis + rank : *axis);
    if (keepdims) {
      (*value.shape)[index] = SizeExpr::constant(1);
    } else {
      value.shape->erase(value.shape->begin() + static_cast<std::ptrdiff_t>(index));
    }
    return value;
  }

  bool flag(const Expr& call, const std::string& name) {
    const Argument* arg = call.keyword(name);
    if (!arg) return false;
    if (arg->value->kind != Expr::Kind::boolean) {
      error(arg->value->loc, name + " takes True or False");
      return false;
    }
    return arg->value->bool_value;
  }

  Info eval_gemm(const Expr& call) {
    auto args = call.positional();
    Info a = operand(*args[0]->value);
    Info b = operand(*args[1]->value);
    bool trans_a = flag(call, "trans_a");
    bool trans_b = flag(call, "trans_b");
    const Argument* c_arg = args.size() > 2 ? args[2] : call.keyword("c");
    Info c =
        c_arg && c_arg->value->kind != Expr::Kind::none ? operand(*c_arg->value) : Info::invalid();
    if (!a.ok() || !b.ok()) return Info::invalid();
    for (const auto* side : {&a, &b}) {
      if (side->shape && side->shape->size() != 2) {
        error(call.loc,
              fmt::format("gemm takes rank-2 operands, got {}", shape_text(*side->shape)));
        return Info::invalid();
      }
    }
    Info out = Info::scalar(ScalarType::f32, false);
    out.dtype = unify(a, b, call.loc);
    out.weak = false;
    out.shape.reset();
    if (a.shape && b.shape) {
      Dim m = (*a.shape)[trans_a ? 1 : 0], k1 = (*a.shape)[trans_a ? 0 : 1];
      Dim k2 = (*b.shape)[trans_b ? 1 : 0], n = (*b.shape)[trans_b ? 0 : 1];
      if (compare_dims(k1, k2) == Equality::different) {
        error(call.loc,
              fmt::format("gemm's inner dimensions differ: {} against {}", k1->text(), k2->text()));
        return Info::invalid();  // one defect, one error: nothing downstream is checked against it
      }
      out.shape = Shape{m, n};
    }
    if (c.ok()) {
      unify(out, c, c_arg->value->loc);
      auto merged = broadcast(c.shape, out.shape, c_arg->value->loc);
      if (merged && out.shape && merged->size() != out.shape->size()) {
        error(c_arg->value->loc, "gemm's c must broadcast to the product's shape");
      }
    }
    return out;
  }

  Info eval_ceil(const Expr& call) {
    auto args = call.positional();
    Info a = operand(*args[0]->value);
    Info b = operand(*args[1]->value);
    if (!a.ok() || !b.ok()) return Info::invalid();
    for (std::size_t i = 0; i < 2; ++i) {
      const Info& side = i == 0 ? a : b;
      if (!side.is_scalar() || (side.dtype && !side.is_integer())) {
        error(args[i]->value->loc, "ceil(a, b) divides integer scalars, rounding up");
        return Info::invalid();
      }
    }
    if (b.constant() && *b.constant() <= 0) {
      error(args[1]->value->loc, "ceil(a, b) needs a positive divisor");
      return Info::invalid();
    }
    Info out = Info::scalar(ScalarType::i64, a.weak && b.weak);
    auto sum =
        a.constant() && b.constant() ? add_checked(*a.constant(), *b.constant() - 1) : std::nullopt;
    if (sum && *b.constant() > 0) {
      out.size = SizeExpr::constant(*sum / *b.constant());
      out.range = {{*out.constant(), *out.constant()}};
    }
    return out;
  }

  std::vector<std::map<std::string, Binding>> scopes_;
  std::vector<Diagnostic> diagnostics_;
  bool in_constexpr_ = false;
  bool shape_only_ = false;
};

}  // namespace

std::vector<Diagnostic> check_sketch(const Sketch& sketch) { return Checker().run(sketch); }

std::vector<Diagnostic> check_sketch_file(const SketchFile& file) {
  std::vector<Diagnostic> all;
  std::map<std::string, Location> names;
  for (const auto& sketch : file.sketches) {
    auto [it, inserted] = names.emplace(sketch.name, sketch.loc);
    if (!inserted) {
      all.push_back({Diagnostic::Severity::error, sketch.loc,
                     fmt::format("a sketch named '{}' is already defined at line {}", sketch.name,
                                 it->second.line)});
    }
    auto found = check_sketch(sketch);
    all.insert(all.end(), found.begin(), found.end());
  }
  return all;
}

}  // namespace anvil::sketch
