#include "sketch/interpreter.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/float16.hpp"
#include "sketch/stdlib.hpp"

namespace anvil::sketch {

std::size_t Array::size() const {
  std::size_t n = 1;
  for (auto extent : shape) n *= static_cast<std::size_t>(extent);
  return n;
}

InterpretError::InterpretError(Location loc, const std::string& message)
    : std::runtime_error(message), loc_(loc) {}

namespace {

using Shape = std::vector<std::int64_t>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(Location loc, const std::string& message) {
  throw InterpretError(loc, message);
}

std::int64_t product(const Shape& shape) {
  std::int64_t n = 1;
  for (auto extent : shape) n *= extent;
  return n;
}

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string number_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

std::string type_name(ScalarType type) { return std::string(scalar_type_name(type)); }

// Row-major element strides of `shape`.
Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (std::size_t d = shape.size(); d > 1; --d) strides[d - 2] = strides[d - 1] * shape[d - 1];
  return strides;
}

// Wraps an integer-valued double into a two's-complement integer of `bits` bits.
double wrap_integer(double value, int bits) {
  const double modulus = std::ldexp(1.0, bits);
  const double half = modulus / 2;
  if (value >= -half && value < half) return value;
  double r = std::fmod(value, modulus);
  if (r < 0) r += modulus;
  if (r >= half) r -= modulus;
  return r;
}

// Rounds `value` to what an element of dtype `type` holds.
double round_to(ScalarType type, double value) {
  switch (type) {
    case ScalarType::f16:
      return half_to_float(float_to_half(static_cast<float>(value)));
    case ScalarType::bf16:
      return bfloat16_to_float(float_to_bfloat16(static_cast<float>(value)));
    case ScalarType::f32:
      return static_cast<double>(static_cast<float>(value));
    case ScalarType::f64:
      return value;
    case ScalarType::i8:
      return wrap_integer(value, 8);
    case ScalarType::i32:
      return wrap_integer(value, 32);
    case ScalarType::i64:
      return value;
    case ScalarType::boolean:
      return value != 0 ? 1.0 : 0.0;
  }
  return value;
}

// Rounds every element of `array` to its dtype (a no-op for f64 and i64).
void round_array(Array& array) {
  double* data = array.data.data();
  const std::size_t n = array.data.size();
  switch (array.dtype) {
    case ScalarType::f64:
    case ScalarType::i64:
      return;
    case ScalarType::f32:
      for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<float>(data[i]);
      return;
    default:
      for (std::size_t i = 0; i < n; ++i) data[i] = round_to(array.dtype, data[i]);
      return;
  }
}

Array make_scalar(ScalarType type, double value) {
  Array array;
  array.dtype = type;
  array.data.assign(1, value);
  return array;
}

Array make_zeros(ScalarType type, Shape shape) {
  Array array;
  array.dtype = type;
  array.data.assign(static_cast<std::size_t>(product(shape)), 0.0);
  array.shape = std::move(shape);
  return array;
}

// A value during evaluation: either owned, or a reference to a binding or tensor (no copy). Weak
// values (literals, symbols, constexprs, loop variables and what is computed from them alone)
// adopt the dtype of a strong operand.
struct Value {
  Array own;
  const Array* ref = nullptr;
  bool weak = false;

  const Array& get() const { return ref ? *ref : own; }
  Array take() {
    if (ref) return *ref;
    return std::move(own);
  }
};

Value owned(Array array, bool weak = false) {
  Value value;
  value.own = std::move(array);
  value.weak = weak;
  return value;
}

Value referenced(const Array& array, bool weak) {
  Value value;
  value.ref = &array;
  value.weak = weak;
  return value;
}

struct Binding {
  Array array;
  bool weak = false;
  bool loop_var = false;
};

// ---- strided iteration ----------------------------------------------------------------------

// Iterates over `extents` (row-major) for N operands with their own strides. For each innermost
// row calls body(offsets, count, inner_strides), offsets being each operand's offset of the row's
// first element. A rank-0 space is one row of one element.
template <std::size_t N, typename Body>
void for_each_row(const Shape& extents, const std::array<const Shape*, N>& strides,
                  std::array<std::int64_t, N> offsets, Body&& body) {
  const std::size_t rank = extents.size();
  for (auto extent : extents) {
    if (extent <= 0) return;
  }
  std::array<std::int64_t, N> inner{};
  if (rank == 0) {
    body(offsets, std::int64_t{1}, inner);
    return;
  }
  for (std::size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[rank - 1];
  const std::int64_t count = extents[rank - 1];
  Shape index(rank - 1, 0);
  while (true) {
    body(offsets, count, inner);
    bool advanced = false;
    for (std::size_t d = rank - 1; d-- > 0;) {
      ++index[d];
      for (std::size_t k = 0; k < N; ++k) offsets[k] += (*strides[k])[d];
      if (index[d] < extents[d]) {
        advanced = true;
        break;
      }
      for (std::size_t k = 0; k < N; ++k) offsets[k] -= (*strides[k])[d] * extents[d];
      index[d] = 0;
    }
    if (!advanced) return;
  }
}

// The strides with which an operand of `shape` is read when broadcast to `target` (0 along
// broadcast dimensions). `shape` must broadcast to `target`.
Shape broadcast_strides(const Shape& shape, const Shape& target) {
  Shape strides(target.size(), 0);
  const Shape own = contiguous_strides(shape);
  const std::size_t offset = target.size() - shape.size();
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] != 1) strides[offset + d] = own[d];
  }
  return strides;
}

bool broadcasts_to(const Shape& shape, const Shape& target) {
  if (shape.size() > target.size()) return false;
  const std::size_t offset = target.size() - shape.size();
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] != 1 && shape[d] != target[offset + d]) return false;
  }
  return true;
}

std::optional<Shape> broadcast_shape(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    std::int64_t x = i < a.size() ? a[a.size() - 1 - i] : 1;
    std::int64_t y = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (x != y && x != 1 && y != 1) return std::nullopt;
    out[rank - 1 - i] = x == 1 ? y : x;
  }
  return out;
}

// out = f(a, b) elementwise with broadcasting; reuses an owned operand's storage when it has the
// result's shape. The caller rounds the result to its dtype.
template <typename F>
Array elementwise2(Value& a, Value& b, const Shape& shape, ScalarType out_type, F f) {
  const Array& A = a.get();
  const Array& B = b.get();
  const bool same_a = A.shape == shape;
  const bool same_b = B.shape == shape;
  const std::size_t n = static_cast<std::size_t>(product(shape));
  Array out;
  out.dtype = out_type;
  out.shape = shape;
  const double* pa = A.data.data();
  const double* pb = B.data.data();
  if (!a.ref && same_a) {
    out.data = std::move(a.own.data);
    pa = out.data.data();
  } else if (!b.ref && same_b) {
    out.data = std::move(b.own.data);
    pb = out.data.data();
  } else {
    out.data.resize(n);
  }
  double* po = out.data.data();
  if (same_a && same_b) {
    for (std::size_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
  } else if (same_a && B.size() == 1) {
    const double y = pb[0];
    for (std::size_t i = 0; i < n; ++i) po[i] = f(pa[i], y);
  } else if (same_b && A.size() == 1) {
    const double x = pa[0];
    for (std::size_t i = 0; i < n; ++i) po[i] = f(x, pb[i]);
  } else {
    const Shape sa = broadcast_strides(A.shape, shape);
    const Shape sb = broadcast_strides(B.shape, shape);
    std::int64_t pos = 0;
    for_each_row<2>(shape, {&sa, &sb}, {0, 0}, [&](auto off, std::int64_t count, auto inner) {
      for (std::int64_t j = 0; j < count; ++j) {
        po[pos + j] = f(pa[off[0] + j * inner[0]], pb[off[1] + j * inner[1]]);
      }
      pos += count;
    });
  }
  return out;
}

// ---- load / store regions -------------------------------------------------------------------

// The elements a reference `name[subscripts]` covers: kept dimensions only, with their strides,
// unclamped extents (what the slices say) and clamped extents (what lies inside the array).
struct Region {
  std::int64_t offset = 0;
  Shape strides;
  Shape full;
  Shape clamped;
};

Region whole_region(const Array& array) {
  Region region;
  region.strides = contiguous_strides(array.shape);
  region.full = array.shape;
  region.clamped = array.shape;
  return region;
}

Array gather(const Array& array, const Region& region) {
  Array out = make_zeros(array.dtype, region.clamped);
  const double* src = array.data.data();
  double* dst = out.data.data();
  std::int64_t pos = 0;
  for_each_row<1>(region.clamped, {&region.strides}, {region.offset},
                  [&](auto off, std::int64_t count, auto inner) {
                    for (std::int64_t j = 0; j < count; ++j)
                      dst[pos + j] = src[off[0] + j * inner[0]];
                    pos += count;
                  });
  return out;
}

// Copies the in-bounds part of `src` to the front of `dst`'s in-bounds part and `pad` into the
// rest of it (the unclamped shapes are equal).
void copy_padded(const double* src, const Region& s, double* dst, const Region& d, double pad,
                 std::size_t dim, std::int64_t so, std::int64_t dof, bool valid) {
  const std::size_t rank = d.full.size();
  if (rank == 0) {
    dst[dof] = src[so];
    return;
  }
  const std::int64_t extent = d.clamped[dim];
  const std::int64_t available = valid ? std::min(s.clamped[dim], extent) : 0;
  const std::int64_t ss = s.strides[dim];
  const std::int64_t ds = d.strides[dim];
  if (dim + 1 == rank) {
    for (std::int64_t j = 0; j < available; ++j) dst[dof + j * ds] = src[so + j * ss];
    for (std::int64_t j = available; j < extent; ++j) dst[dof + j * ds] = pad;
    return;
  }
  for (std::int64_t j = 0; j < extent; ++j) {
    copy_padded(src, s, dst, d, pad, dim + 1, so + j * ss, dof + j * ds, j < available);
  }
}

// ---- function arguments ---------------------------------------------------------------------

enum class Unary { exp, log, sqrt, rsqrt, abs, neg, tanh, sigmoid, relu, gelu, erf };
enum class Binary {
  add,
  sub,
  mul,
  div,
  max,
  min,
  pow,
  floordiv,
  mod,
  lt,
  le,
  gt,
  ge,
  eq,
  ne,
  land,
  lor
};

std::optional<Unary> unary_op(std::string_view name) {
  static const std::pair<std::string_view, Unary> table[] = {
      {"exp", Unary::exp},     {"log", Unary::log},         {"sqrt", Unary::sqrt},
      {"rsqrt", Unary::rsqrt}, {"abs", Unary::abs},         {"neg", Unary::neg},
      {"tanh", Unary::tanh},   {"sigmoid", Unary::sigmoid}, {"relu", Unary::relu},
      {"gelu", Unary::gelu},   {"erf", Unary::erf}};
  for (const auto& [text, op] : table) {
    if (text == name) return op;
  }
  return std::nullopt;
}

std::optional<Binary> binary_op(std::string_view name) {
  static const std::pair<std::string_view, Binary> table[] = {
      {"add", Binary::add}, {"sub", Binary::sub}, {"mul", Binary::mul}, {"div", Binary::div},
      {"max", Binary::max}, {"min", Binary::min}, {"pow", Binary::pow}, {"//", Binary::floordiv},
      {"%", Binary::mod},   {"<", Binary::lt},    {"<=", Binary::le},   {">", Binary::gt},
      {">=", Binary::ge},   {"==", Binary::eq},   {"!=", Binary::ne},   {"and", Binary::land},
      {"or", Binary::lor}};
  for (const auto& [text, op] : table) {
    if (text == name) return op;
  }
  return std::nullopt;
}

bool is_comparison(Binary op) { return op >= Binary::lt && op <= Binary::ne; }
bool is_logic(Binary op) { return op == Binary::land || op == Binary::lor; }

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  if (b == -1) return static_cast<std::int64_t>(0ULL - static_cast<std::uint64_t>(a));  // wraps
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
  if (b == -1) return 0;
  std::int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

double nan_max(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return kNaN;
  return x < y ? y : x;
}

double nan_min(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return kNaN;
  return y < x ? y : x;
}

// ---- the interpreter ------------------------------------------------------------------------

struct TensorSlot {
  const Array* input = nullptr;  // inputs are read in place
  Array output;                  // outputs start at zero
  bool is_output = false;
  const TensorDecl* decl = nullptr;

  const Array& get() const { return input ? *input : output; }
};

class Interpreter {
 public:
  Interpreter(const Sketch& sketch, const InterpretOptions& options)
      : sketch_(sketch), options_(options) {}

  std::map<std::string, Array> run(const std::map<std::string, Array>& inputs) {
    for (const auto& symbol : sketch_.symbols) symbol_names_.insert(symbol.name);
    evaluate_constexprs();
    bind_tensors(inputs);
    exec_block(sketch_.body);
    std::map<std::string, Array> outputs;
    for (auto& [name, slot] : tensors_) {
      if (slot.is_output) outputs.emplace(name, std::move(slot.output));
    }
    return outputs;
  }

 private:
  using Scope = std::unordered_map<std::string, Binding>;

  const Sketch& sketch_;
  const InterpretOptions& options_;
  std::set<std::string> symbol_names_;
  std::map<std::string, Binding> symbols_;  // bound symbols, weak i64 scalars
  std::map<std::string, Binding> constexprs_;
  std::map<std::string, TensorSlot> tensors_;
  std::vector<std::unique_ptr<Scope>> scopes_;

  // ---- setup ---------------------------------------------------------------------------------

  void evaluate_constexprs() {
    for (const auto& override_entry : options_.constexpr_overrides) {
      const std::string& name = override_entry.first;
      bool known = std::any_of(sketch_.constexprs.begin(), sketch_.constexprs.end(),
                               [&](const ConstDecl& c) { return c.name == name; });
      if (!known) {
        std::string names;
        for (const auto& c : sketch_.constexprs) names += (names.empty() ? "" : ", ") + c.name;
        fail(sketch_.loc, "constexpr override '" + name + "' names no constexpr of sketch '" +
                              sketch_.name + "' (constexprs: " + (names.empty() ? "none" : names) +
                              ")");
      }
    }
    for (const auto& decl : sketch_.constexprs) {
      Value value = eval(*decl.value);
      Array array = value.take();
      if (array.size() != 1 || !array.shape.empty()) {
        fail(decl.loc,
             "constexpr " + decl.name + " must be a scalar, got shape " + shape_text(array.shape));
      }
      auto override_it = options_.constexpr_overrides.find(decl.name);
      if (override_it != options_.constexpr_overrides.end()) {
        double v = override_it->second;
        if (is_integer(array.dtype)) {
          if (v != std::floor(v) || !std::isfinite(v)) {
            fail(decl.loc, "constexpr " + decl.name + " is an integer; the override " +
                               number_text(v) + " is not");
          }
        } else if (array.dtype == ScalarType::boolean) {
          v = v != 0 ? 1 : 0;
        }
        array.data[0] = v;
      }
      constexprs_[decl.name] = Binding{std::move(array), true, false};
    }
  }

  void bind_symbol(const std::string& name, std::int64_t value, Location loc,
                   const std::string& where) {
    auto it = symbols_.find(name);
    if (it == symbols_.end()) {
      symbols_[name] = Binding{make_scalar(ScalarType::i64, static_cast<double>(value)), true};
      return;
    }
    auto bound = static_cast<std::int64_t>(it->second.array.data[0]);
    if (bound != value) {
      fail(loc, "symbol " + name + " is " + std::to_string(bound) + " from an earlier tensor but " +
                    std::to_string(value) + " from " + where);
    }
  }

  // Solves `expr == value` for its one unbound symbol where the expression is a chain of + - *
  // with evaluable other operands. Returns false when it cannot.
  bool solve_dim(const Expr& expr, std::int64_t value, Location loc, const std::string& where) {
    if (expr.kind == Expr::Kind::name && symbol_names_.count(expr.text) &&
        !symbols_.count(expr.text)) {
      bind_symbol(expr.text, value, loc, where);
      return true;
    }
    if (expr.kind != Expr::Kind::binary) return false;
    const Expr& left = *expr.operands[0];
    const Expr& right = *expr.operands[1];
    const bool left_known = unbound_symbols(left).empty();
    const bool right_known = unbound_symbols(right).empty();
    if (left_known == right_known) return false;
    const std::int64_t known = eval_int(left_known ? left : right, "a dimension");
    const Expr& unknown = left_known ? right : left;
    std::int64_t target = 0;
    if (expr.text == "+") {
      target = value - known;
    } else if (expr.text == "-") {
      target = left_known ? known - value : value + known;
    } else if (expr.text == "*") {
      if (known == 0 || value % known != 0) {
        fail(loc, where + " is " + std::to_string(value) + ", not a multiple of " +
                      std::to_string(known));
      }
      target = value / known;
    } else {
      return false;
    }
    return solve_dim(unknown, target, loc, where);
  }

  std::vector<std::string> unbound_symbols(const Expr& expr) const {
    std::vector<std::string> names;
    if (expr.kind == Expr::Kind::name && symbol_names_.count(expr.text) &&
        !symbols_.count(expr.text) && !find_var(expr.text)) {
      names.push_back(expr.text);
    }
    for (const auto& operand : expr.operands) {
      auto more = unbound_symbols(*operand);
      names.insert(names.end(), more.begin(), more.end());
    }
    for (const auto& arg : expr.args) {
      if (arg.value) {
        auto more = unbound_symbols(*arg.value);
        names.insert(names.end(), more.begin(), more.end());
      }
    }
    return names;
  }

  void bind_tensors(const std::map<std::string, Array>& inputs) {
    std::vector<std::string> outputs = output_tensor_names(sketch_);
    std::string input_names;
    for (const auto& decl : sketch_.tensors) {
      TensorSlot slot;
      slot.decl = &decl;
      slot.is_output = std::find(outputs.begin(), outputs.end(), decl.name) != outputs.end();
      if (!slot.is_output) input_names += (input_names.empty() ? "" : ", ") + decl.name;
      tensors_[decl.name] = std::move(slot);
    }
    for (const auto& [name, array] : inputs) {
      auto it = tensors_.find(name);
      if (it == tensors_.end()) {
        fail(sketch_.loc, "input '" + name + "' is not a tensor of sketch '" + sketch_.name +
                              "' (inputs: " + input_names + ")");
      }
      if (it->second.is_output) {
        fail(it->second.decl->loc, "'" + name +
                                       "' is an output of the sketch (it is stored to); outputs "
                                       "start at zero and take no input");
      }
    }
    // Pass 1: check ranks and dtypes, bind the dims that are bare symbols.
    for (const auto& decl : sketch_.tensors) {
      TensorSlot& slot = tensors_[decl.name];
      if (slot.is_output) continue;
      auto it = inputs.find(decl.name);
      if (it == inputs.end()) {
        fail(decl.loc,
             "input tensor '" + decl.name + "' was not given (inputs: " + input_names + ")");
      }
      const Array& array = it->second;
      auto dtype = parse_scalar_type(decl.dtype);
      if (!dtype) fail(decl.dtype_loc, "unknown dtype '" + decl.dtype + "'");
      if (array.dtype != *dtype) {
        fail(decl.loc, "input '" + decl.name + "' is declared " + decl.dtype +
                           " but the array is " + type_name(array.dtype));
      }
      if (array.shape.size() != decl.shape.size()) {
        fail(decl.loc, "input '" + decl.name + "' is declared with rank " +
                           std::to_string(decl.shape.size()) + " but the array has shape " +
                           shape_text(array.shape));
      }
      for (auto extent : array.shape) {
        if (extent < 0) fail(decl.loc, "input '" + decl.name + "' has a negative extent");
      }
      if (array.data.size() != array.size()) {
        fail(decl.loc, "input '" + decl.name + "' has shape " + shape_text(array.shape) + " but " +
                           std::to_string(array.data.size()) + " values");
      }
      slot.input = &array;
      for (std::size_t d = 0; d < decl.shape.size(); ++d) {
        const Expr& dim = *decl.shape[d];
        if (dim.kind == Expr::Kind::name && symbol_names_.count(dim.text)) {
          bind_symbol(dim.text, array.shape[d], decl.loc,
                      "dimension " + std::to_string(d) + " of '" + decl.name + "'");
        }
      }
    }
    // Pass 2: solve simple dims such as `4 * H` for symbols seen nowhere else.
    bool progress = true;
    while (progress) {
      progress = false;
      for (const auto& decl : sketch_.tensors) {
        const TensorSlot& slot = tensors_[decl.name];
        if (slot.is_output) continue;
        for (std::size_t d = 0; d < decl.shape.size(); ++d) {
          if (unbound_symbols(*decl.shape[d]).size() != 1) continue;
          std::string where = "dimension " + std::to_string(d) + " of '" + decl.name + "'";
          if (solve_dim(*decl.shape[d], slot.input->shape[d], decl.loc, where)) progress = true;
        }
      }
    }
    // Pass 3: every declared dim must equal the actual extent; outputs get their shapes.
    for (const auto& decl : sketch_.tensors) {
      TensorSlot& slot = tensors_[decl.name];
      Shape shape;
      for (std::size_t d = 0; d < decl.shape.size(); ++d) {
        auto unbound = unbound_symbols(*decl.shape[d]);
        if (!unbound.empty()) {
          fail(decl.loc, "symbol " + unbound[0] + " in the shape of '" + decl.name +
                             "' cannot be inferred from the input tensors' shapes");
        }
        std::int64_t extent = eval_int(*decl.shape[d], "a tensor dimension");
        if (extent < 0) {
          fail(decl.shape[d]->loc, "dimension " + std::to_string(d) + " of '" + decl.name +
                                       "' is negative (" + std::to_string(extent) + ")");
        }
        shape.push_back(extent);
      }
      if (slot.is_output) {
        auto dtype = parse_scalar_type(decl.dtype);
        if (!dtype) fail(decl.dtype_loc, "unknown dtype '" + decl.dtype + "'");
        slot.output = make_zeros(*dtype, shape);
      } else if (shape != slot.input->shape) {
        fail(decl.loc, "input '" + decl.name + "' has shape " + shape_text(slot.input->shape) +
                           " but its declaration gives " + shape_text(shape) +
                           " for these symbols");
      }
    }
  }

  // ---- names ---------------------------------------------------------------------------------

  const Binding* find_var(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = (*it)->find(name);
      if (found != (*it)->end()) return &found->second;
    }
    return nullptr;
  }

  Binding* find_var(const std::string& name) {
    return const_cast<Binding*>(std::as_const(*this).find_var(name));
  }

  Value lookup(const Expr& expr) {
    const std::string& name = expr.text;
    if (const Binding* binding = find_var(name)) return referenced(binding->array, binding->weak);
    if (auto it = constexprs_.find(name); it != constexprs_.end()) {
      return referenced(it->second.array, true);
    }
    if (auto it = symbols_.find(name); it != symbols_.end())
      return referenced(it->second.array, true);
    if (symbol_names_.count(name)) {
      fail(expr.loc, "symbol " + name +
                         " has no value here: symbols come from input tensor shapes "
                         "(constexprs may use only literals and earlier constexprs)");
    }
    if (auto it = tensors_.find(name); it != tensors_.end()) {
      if (it->second.input == nullptr && !it->second.is_output) {
        fail(expr.loc, "tensor '" + name + "' has no value yet");
      }
      return referenced(it->second.get(), false);
    }
    if (parse_scalar_type(name)) {
      fail(expr.loc, "'" + name +
                         "' is a dtype; it is only allowed as cast's second argument or "
                         "alloc's dtype");
    }
    fail(expr.loc, "unknown name '" + name + "'");
  }

  bool is_global(const std::string& name) const {
    return symbol_names_.count(name) || constexprs_.count(name) || tensors_.count(name);
  }

  // ---- statements ----------------------------------------------------------------------------

  struct ScopeGuard {
    std::vector<std::unique_ptr<Scope>>& scopes;
    explicit ScopeGuard(std::vector<std::unique_ptr<Scope>>& s) : scopes(s) {
      scopes.push_back(std::make_unique<Scope>());
    }
    ~ScopeGuard() { scopes.pop_back(); }
    ScopeGuard(const ScopeGuard&) = delete;
    ScopeGuard& operator=(const ScopeGuard&) = delete;
  };

  void exec_block(const std::vector<Stmt>& body) {
    ScopeGuard guard(scopes_);
    exec_statements(body);
  }

  void exec_statements(const std::vector<Stmt>& body) {
    for (const auto& stmt : body) exec(stmt);
  }

  void exec(const Stmt& stmt) {
    switch (stmt.kind) {
      case Stmt::Kind::assign:
        return exec_assign(stmt);
      case Stmt::Kind::call:
        return exec_call(*stmt.value);
      case Stmt::Kind::for_loop:
        return exec_for(stmt);
      case Stmt::Kind::if_chain:
        return exec_if(stmt);
    }
  }

  void exec_assign(const Stmt& stmt) {
    const std::string& name = stmt.target;
    if (symbol_names_.count(name)) fail(stmt.target_loc, "cannot assign to symbol " + name);
    if (constexprs_.count(name)) fail(stmt.target_loc, "cannot assign to constexpr " + name);
    if (tensors_.count(name)) {
      fail(stmt.target_loc,
           "cannot assign to tensor '" + name + "': use store(VALUE -> " + name + "[...])");
    }
    Value value = eval(*stmt.value);
    Binding* binding = find_var(name);
    if (binding && binding->loop_var) {
      fail(stmt.target_loc, "cannot assign to loop variable " + name);
    }
    if (!binding) binding = &(*scopes_.back())[name];
    const bool weak = value.weak;
    binding->array = value.take();
    binding->weak = weak;
  }

  void exec_for(const Stmt& stmt) {
    if (stmt.range_args.empty() || stmt.range_args.size() > 3) {
      fail(stmt.loc, "range takes 1 to 3 arguments");
    }
    std::int64_t start = 0, stop = 0, step = 1;
    if (stmt.range_args.size() == 1) {
      stop = eval_int(*stmt.range_args[0], "range's stop");
    } else {
      start = eval_int(*stmt.range_args[0], "range's start");
      stop = eval_int(*stmt.range_args[1], "range's stop");
      if (stmt.range_args.size() == 3) step = eval_int(*stmt.range_args[2], "range's step");
    }
    if (step <= 0) {
      fail(stmt.range_args[2]->loc, "range's step must be positive, got " + std::to_string(step));
    }
    if (is_global(stmt.target)) {
      fail(stmt.target_loc, "loop variable " + stmt.target + " hides a declared name");
    }
    for (std::int64_t v = start; v < stop; v += step) {
      ScopeGuard guard(scopes_);
      (*scopes_.back())[stmt.target] =
          Binding{make_scalar(ScalarType::i64, static_cast<double>(v)), true, true};
      exec_statements(stmt.body);
    }
  }

  void exec_if(const Stmt& stmt) {
    for (const auto& branch : stmt.branches) {
      if (branch.condition && !truth(*branch.condition)) continue;
      exec_block(branch.body);
      return;
    }
  }

  bool truth(const Expr& expr) {
    Value value = eval(expr);
    const Array& array = value.get();
    if (array.size() != 1) {
      fail(expr.loc, "a condition must be a scalar, got shape " + shape_text(array.shape));
    }
    return array.data[0] != 0;
  }

  void exec_call(const Expr& call) {
    if (call.kind == Expr::Kind::call && call.text == "load") return exec_load(call);
    if (call.kind == Expr::Kind::call && call.text == "store") return exec_store(call);
    eval(call);
  }

  // The transfer argument `src -> dst` of load/store.
  const Argument& transfer(const Expr& call) {
    check_arguments(call, *find_function(call.text));
    const auto positional = call.positional();
    const Argument& arg = *positional[0];
    if (!arg.destination) {
      fail(arg.loc, call.text + " takes a transfer `SOURCE -> DESTINATION`");
    }
    return arg;
  }

  // A mutable destination: a buffer or a tensor, by name.
  struct Target {
    Array* array = nullptr;
    Binding* binding = nullptr;  // null for tensors
    std::string name;
  };

  Target target(const Expr& dst, const std::string& what) {
    const Expr& base = dst.kind == Expr::Kind::subscript ? *dst.operands[0] : dst;
    if (base.kind != Expr::Kind::name) {
      fail(dst.loc, what +
                        ": the destination must be a buffer or tensor name, optionally "
                        "subscripted");
    }
    Target t;
    t.name = base.text;
    if (Binding* binding = find_var(base.text)) {
      if (binding->loop_var) fail(base.loc, what + ": cannot write into loop variable " + t.name);
      t.binding = binding;
      t.array = &binding->array;
      return t;
    }
    if (auto it = tensors_.find(base.text); it != tensors_.end()) {
      if (what == "load") {
        fail(base.loc,
             "load: the destination '" + t.name +
                 "' is a tensor; load into a buffer from alloc, write tensors with store");
      }
      if (!it->second.is_output) fail(base.loc, what + ": tensor '" + t.name + "' is an input");
      t.array = &it->second.output;
      return t;
    }
    if (symbol_names_.count(base.text) || constexprs_.count(base.text)) {
      fail(base.loc, what + ": cannot write into " + t.name + ", which is not a buffer");
    }
    fail(base.loc, what + ": unknown destination '" + t.name + "'");
  }

  // The region `ref` (a name or name[subscripts]) covers within `array`.
  Region region_of(const Array& array, const Expr& ref, const std::string& name) {
    if (ref.kind != Expr::Kind::subscript) return whole_region(array);
    const std::size_t rank = array.shape.size();
    if (ref.subscripts.size() != rank) {
      fail(ref.loc, "'" + name + "' has rank " + std::to_string(rank) + " (shape " +
                        shape_text(array.shape) + ") but " + std::to_string(ref.subscripts.size()) +
                        " subscript(s) are given");
    }
    const Shape strides = contiguous_strides(array.shape);
    Region region;
    bool empty = false;
    for (std::size_t d = 0; d < rank; ++d) {
      const Subscript& sub = ref.subscripts[d];
      const std::int64_t extent = array.shape[d];
      auto dim_text = [&] { return "dimension " + std::to_string(d) + " of '" + name + "'"; };
      if (!sub.is_slice) {
        std::int64_t index = eval_int(*sub.index, "an index");
        if (index < 0) {
          fail(sub.loc, "index " + std::to_string(index) + " of " + dim_text() +
                            " is negative; negative indices are not allowed");
        }
        if (index >= extent) {
          fail(sub.loc, "index " + std::to_string(index) + " is past the end of " + dim_text() +
                            " (extent " + std::to_string(extent) +
                            "); guard it with `if` or use a slice, which is clamped");
        }
        region.offset += index * strides[d];
        continue;
      }
      std::int64_t start = sub.start ? eval_int(*sub.start, "a slice start") : 0;
      std::int64_t stop = sub.stop ? eval_int(*sub.stop, "a slice stop") : extent;
      std::int64_t step = sub.step ? eval_int(*sub.step, "a slice step") : 1;
      if (start < 0) {
        fail(sub.loc, "slice start " + std::to_string(start) + " of " + dim_text() +
                          " is negative; negative indices are not allowed");
      }
      if (stop < 0) {
        fail(sub.loc, "slice stop " + std::to_string(stop) + " of " + dim_text() +
                          " is negative; negative indices are not allowed");
      }
      if (step <= 0) {
        fail(sub.loc,
             "slice step " + std::to_string(step) + " of " + dim_text() + " must be positive");
      }
      const std::int64_t full = stop > start ? (stop - start + step - 1) / step : 0;
      const std::int64_t inside = start < extent ? (extent - start + step - 1) / step : 0;
      const std::int64_t clamped = std::min(full, inside);
      if (clamped == 0) empty = true;
      if (!empty) region.offset += start * strides[d];
      region.strides.push_back(strides[d] * step);
      region.full.push_back(full);
      region.clamped.push_back(clamped);
    }
    if (empty) region.offset = 0;
    return region;
  }

  void exec_load(const Expr& call) {
    const Argument& arg = transfer(call);
    const Expr& src_expr = *arg.value;
    const Expr& dst_expr = *arg.destination;
    Target dst = target(dst_expr, "load");
    if (dst.binding == nullptr) fail(dst_expr.loc, "load: the destination must be a buffer");

    // The source: a reference (clamped) or any other expression (taken whole).
    Value src_value;
    Region src_region;
    std::string src_name = "the source";
    const Expr* src_base =
        src_expr.kind == Expr::Kind::subscript ? src_expr.operands[0].get() : &src_expr;
    if (src_base->kind == Expr::Kind::name) {
      src_value = lookup(*src_base);
      src_name = "'" + src_base->text + "'";
      src_region = region_of(src_value.get(), src_expr, src_base->text);
    } else {
      src_value = eval(src_expr);
      src_region = whole_region(src_value.get());
    }
    const Array& src = src_value.get();
    Array& buffer = *dst.array;
    Region dst_region = region_of(buffer, dst_expr, dst.name);

    double pad = 0;
    if (const Argument* pad_arg = call.keyword("pad")) {
      Value pad_value = eval(*pad_arg->value);
      const Array& p = pad_value.get();
      if (p.size() != 1 || !p.shape.empty()) {
        fail(pad_arg->loc, "load: pad must be a scalar, got shape " + shape_text(p.shape));
      }
      pad = p.data[0];
      if (is_integer(buffer.dtype) && (!std::isfinite(pad) || pad != std::floor(pad))) {
        fail(pad_arg->loc, "load: pad " + number_text(pad) + " does not fit the " +
                               type_name(buffer.dtype) + " buffer '" + dst.name + "'");
      }
      pad = round_to(buffer.dtype, pad);
    }
    if (src_region.full != dst_region.full) {
      std::string dst_text = dst_expr.kind == Expr::Kind::subscript
                                 ? "the destination slice of buffer '" + dst.name + "'"
                                 : "the destination buffer '" + dst.name + "'";
      fail(call.loc, "load: source slice " + src_name + " is " + shape_text(src_region.full) +
                         " but " + dst_text + " is " + shape_text(dst_region.full));
    }
    if (src.dtype != buffer.dtype && !src_value.weak) {
      fail(call.loc, "load: source " + src_name + " is " + type_name(src.dtype) +
                         " but the buffer '" + dst.name + "' is " + type_name(buffer.dtype) +
                         "; alloc the buffer with dtype=" + type_name(src.dtype) +
                         " (and cast after loading if needed)");
    }
    if (&src == &buffer) {  // overlapping copy within one buffer: copy the source out first
      Array copy = gather(src, src_region);
      Region copy_region = whole_region(copy);
      copy_region.full = src_region.full;
      copy_padded(copy.data.data(), copy_region, buffer.data.data(), dst_region, pad, 0, 0,
                  dst_region.offset, true);
    } else {
      copy_padded(src.data.data(), src_region, buffer.data.data(), dst_region, pad, 0,
                  src_region.offset, dst_region.offset, true);
    }
    if (src_value.weak && src.dtype != buffer.dtype) round_array(buffer);
    dst.binding->weak = false;
  }

  void exec_store(const Expr& call) {
    const Argument& arg = transfer(call);
    const Expr& dst_expr = *arg.destination;
    Value value = eval(*arg.value);
    Target dst = target(dst_expr, "store");
    Array& array = *dst.array;
    Region region = region_of(array, dst_expr, dst.name);

    Array own_copy;
    const Array* v = &value.get();
    if (v == &array) {  // storing a buffer into itself: read a copy
      own_copy = *v;
      v = &own_copy;
    }
    if (v->dtype != array.dtype) {
      if (!value.weak) {
        fail(call.loc, "store: the value is " + type_name(v->dtype) + " but '" + dst.name +
                           "' is " + type_name(array.dtype) +
                           "; a store converts nothing, use cast(value, " + type_name(array.dtype) +
                           ")");
      }
      if (is_integer(array.dtype) || array.dtype == ScalarType::boolean) {
        for (double x : v->data) {
          if (!std::isfinite(x) || x != std::floor(x)) {
            fail(call.loc, "store: the value " + number_text(x) + " does not fit the " +
                               type_name(array.dtype) + " destination '" + dst.name + "'");
          }
        }
      }
      own_copy = value.take();
      own_copy.dtype = array.dtype;
      round_array(own_copy);
      v = &own_copy;
    }
    // VALUE broadcasts to the unclamped destination shape (or, for a value read through a
    // clamped slice, to the clamped one).
    const Shape* target_shape = &region.full;
    if (!broadcasts_to(v->shape, region.full)) {
      if (!broadcasts_to(v->shape, region.clamped)) {
        std::string dst_text = dst_expr.kind == Expr::Kind::subscript
                                   ? "the destination slice of '" + dst.name + "'"
                                   : "the destination '" + dst.name + "'";
        fail(call.loc, "store: the value's shape " + shape_text(v->shape) +
                           " does not broadcast to " + dst_text + ", which is " +
                           shape_text(region.full));
      }
      target_shape = &region.clamped;
    }
    const Shape vstrides = broadcast_strides(v->shape, *target_shape);
    const double* src = v->data.data();
    double* out = array.data.data();
    for_each_row<2>(region.clamped, {&region.strides, &vstrides}, {region.offset, 0},
                    [&](auto off, std::int64_t count, auto inner) {
                      for (std::int64_t j = 0; j < count; ++j) {
                        out[off[0] + j * inner[0]] = src[off[1] + j * inner[1]];
                      }
                    });
    if (dst.binding) dst.binding->weak = false;
  }

  // ---- expressions ---------------------------------------------------------------------------

  std::int64_t eval_int(const Expr& expr, const std::string& what) {
    Value value = eval(expr);
    const Array& array = value.get();
    if (array.size() != 1 || !array.shape.empty()) {
      fail(expr.loc, what + " must be an integer scalar, got shape " + shape_text(array.shape));
    }
    if (!is_integer(array.dtype)) {
      fail(expr.loc, what + " must be an integer, got " +
                         (value.weak && is_float(array.dtype) ? std::string("a float")
                                                              : type_name(array.dtype)));
    }
    return static_cast<std::int64_t>(array.data[0]);
  }

  Value eval(const Expr& expr) {
    switch (expr.kind) {
      case Expr::Kind::integer:
        return owned(make_scalar(ScalarType::i64, static_cast<double>(expr.int_value)), true);
      case Expr::Kind::floating:
        return owned(make_scalar(ScalarType::f64, expr.float_value), true);
      case Expr::Kind::boolean:
        return owned(make_scalar(ScalarType::boolean, expr.bool_value ? 1 : 0), false);
      case Expr::Kind::string:
        fail(expr.loc, "a string is only allowed in hints");
      case Expr::Kind::none:
        fail(expr.loc, "None is only allowed as a keyword argument's value (axis=None, c=None)");
      case Expr::Kind::list:
        fail(expr.loc, "a list is only allowed as alloc's shape");
      case Expr::Kind::name:
        return lookup(expr);
      case Expr::Kind::subscript:
        return eval_subscript(expr);
      case Expr::Kind::unary: {
        Value operand = eval(*expr.operands[0]);
        if (expr.text == "not") return logical_not(std::move(operand));
        return apply_unary(Unary::neg, std::move(operand), expr.loc, "-");
      }
      case Expr::Kind::binary: {
        std::string_view fn = operator_function(expr.text);
        auto op = binary_op(fn);
        if (!op) fail(expr.loc, "unknown operator '" + expr.text + "'");
        Value a = eval(*expr.operands[0]);
        Value b = eval(*expr.operands[1]);
        return apply_binary(*op, std::move(a), std::move(b), expr.loc, "'" + expr.text + "'");
      }
      case Expr::Kind::call:
        return eval_call(expr);
    }
    fail(expr.loc, "unsupported expression");
  }

  Value eval_subscript(const Expr& expr) {
    const Expr& base = *expr.operands[0];
    Value value = eval(base);
    const Array& array = value.get();
    std::string name = base.kind == Expr::Kind::name ? base.text : "value";
    Region region = region_of(array, expr, name);
    return owned(gather(array, region), false);
  }

  Value logical_not(Value operand) {
    Array array = operand.take();
    for (double& x : array.data) x = x != 0 ? 0 : 1;
    array.dtype = ScalarType::boolean;
    return owned(std::move(array), false);
  }

  Value apply_unary(Unary op, Value operand, Location loc, const std::string& name) {
    const ScalarType type = operand.get().dtype;
    const bool int_ok = op == Unary::abs || op == Unary::neg || op == Unary::relu;
    ScalarType out_type = type;
    if (type == ScalarType::boolean) {
      fail(loc, name + " needs a numeric value, got bool; cast it first");
    }
    if (is_integer(type) && !int_ok) {
      if (!operand.weak) {
        fail(loc, name + " needs a float value, got " + type_name(type) + "; cast it first");
      }
      out_type = ScalarType::f64;
    }
    Array array = operand.take();
    array.dtype = out_type;
    double* data = array.data.data();
    const std::size_t n = array.data.size();
    auto apply = [&](auto f) {
      for (std::size_t i = 0; i < n; ++i) data[i] = f(data[i]);
    };
    switch (op) {
      case Unary::exp:
        apply([](double x) { return std::exp(x); });
        break;
      case Unary::log:
        apply([](double x) { return std::log(x); });
        break;
      case Unary::sqrt:
        apply([](double x) { return std::sqrt(x); });
        break;
      case Unary::rsqrt:
        apply([](double x) { return 1.0 / std::sqrt(x); });
        break;
      case Unary::abs:
        apply([](double x) { return std::fabs(x); });
        break;
      case Unary::neg:
        apply([](double x) { return -x; });
        break;
      case Unary::tanh:
        apply([](double x) { return std::tanh(x); });
        break;
      case Unary::sigmoid:
        apply([](double x) { return 1.0 / (1.0 + std::exp(-x)); });
        break;
      case Unary::relu:
        apply([](double x) { return x < 0 ? 0.0 : x; });
        break;
      case Unary::gelu:
        apply([](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); });
        break;
      case Unary::erf:
        apply([](double x) { return std::erf(x); });
        break;
    }
    round_array(array);
    return owned(std::move(array), operand.weak);
  }

  // The dtype of an elementwise result of strong/weak operands.
  struct ResultType {
    ScalarType type;
    bool weak;
  };

  ResultType combine_types(const Value& a, const Value& b, Location loc, const std::string& name,
                           bool arithmetic) {
    const ScalarType ta = a.get().dtype;
    const ScalarType tb = b.get().dtype;
    if (!a.weak && !b.weak) {
      if (ta != tb) {
        fail(loc, name + ": the operands are " + type_name(ta) + " and " + type_name(tb) +
                      "; cast one of them so that the dtypes match");
      }
      return {ta, false};
    }
    if (a.weak && b.weak) {
      if (is_float(ta) || is_float(tb)) return {ScalarType::f64, true};
      if (ta == ScalarType::boolean && tb == ScalarType::boolean)
        return {ScalarType::boolean, true};
      return {ScalarType::i64, true};
    }
    const ScalarType strong = a.weak ? tb : ta;
    const ScalarType weak = a.weak ? ta : tb;
    if (arithmetic && !is_float(strong) && is_float(weak)) {
      fail(loc, name + ": a float literal cannot combine with a " + type_name(strong) +
                    " value; cast the value to a float dtype first");
    }
    return {strong, false};
  }

  Value apply_binary(Binary op, Value a, Value b, Location loc, const std::string& name) {
    auto shape = broadcast_shape(a.get().shape, b.get().shape);
    if (!shape) {
      fail(loc, name + ": shapes " + shape_text(a.get().shape) + " and " +
                    shape_text(b.get().shape) + " do not broadcast");
    }
    if (is_logic(op)) {
      double (*f)(double, double) =
          op == Binary::land ? +[](double x, double y) { return (x != 0 && y != 0) ? 1.0 : 0.0; }
                             : +[](double x, double y) { return (x != 0 || y != 0) ? 1.0 : 0.0; };
      return owned(elementwise2(a, b, *shape, ScalarType::boolean, f), false);
    }
    if (is_comparison(op)) {
      combine_types(a, b, loc, name, false);
      Array out;
      switch (op) {
        case Binary::lt:
          out = elementwise2(a, b, *shape, ScalarType::boolean,
                             [](double x, double y) { return x < y ? 1.0 : 0.0; });
          break;
        case Binary::le:
          out = elementwise2(a, b, *shape, ScalarType::boolean,
                             [](double x, double y) { return x <= y ? 1.0 : 0.0; });
          break;
        case Binary::gt:
          out = elementwise2(a, b, *shape, ScalarType::boolean,
                             [](double x, double y) { return x > y ? 1.0 : 0.0; });
          break;
        case Binary::ge:
          out = elementwise2(a, b, *shape, ScalarType::boolean,
                             [](double x, double y) { return x >= y ? 1.0 : 0.0; });
          break;
        case Binary::eq:
          out = elementwise2(a, b, *shape, ScalarType::boolean,
                             [](double x, double y) { return x == y ? 1.0 : 0.0; });
          break;
        default:
          out = elementwise2(a, b, *shape, ScalarType::boolean,
                             [](double x, double y) { return x != y ? 1.0 : 0.0; });
          break;
      }
      return owned(std::move(out), false);
    }
    const ResultType rt = combine_types(a, b, loc, name, true);
    if (rt.type == ScalarType::boolean) {
      fail(loc, name + " on bool values; cast them to an integer or float dtype first");
    }
    const bool integer = is_integer(rt.type);
    if (op == Binary::div && integer) {
      fail(loc, name + ": '/' on integers is an error; use '//' or ceil(a, b)");
    }
    if ((op == Binary::floordiv || op == Binary::mod) && !integer) {
      fail(loc, name + " needs integer operands, got " +
                    (rt.weak ? std::string("a float") : type_name(rt.type)));
    }
    Array out;
    const ScalarType t = rt.type;
    switch (op) {
      case Binary::add:
        out = elementwise2(a, b, *shape, t, [](double x, double y) { return x + y; });
        break;
      case Binary::sub:
        out = elementwise2(a, b, *shape, t, [](double x, double y) { return x - y; });
        break;
      case Binary::mul:
        out = elementwise2(a, b, *shape, t, [](double x, double y) { return x * y; });
        break;
      case Binary::div:
        out = elementwise2(a, b, *shape, t, [](double x, double y) { return x / y; });
        break;
      case Binary::max:
        out = elementwise2(a, b, *shape, t, nan_max);
        break;
      case Binary::min:
        out = elementwise2(a, b, *shape, t, nan_min);
        break;
      case Binary::pow:
        if (integer) {
          out = elementwise2(a, b, *shape, t, [loc, &name](double x, double y) {
            if (y < 0) fail(loc, name + ": negative integer exponent " + number_text(y));
            auto base = static_cast<std::int64_t>(x);
            std::int64_t result = 1;
            for (auto e = static_cast<std::int64_t>(y); e > 0; --e) result *= base;
            return static_cast<double>(result);
          });
        } else {
          out = elementwise2(a, b, *shape, t, [](double x, double y) { return std::pow(x, y); });
        }
        break;
      case Binary::floordiv:
        out = elementwise2(a, b, *shape, t, [loc, &name](double x, double y) {
          if (y == 0) fail(loc, name + ": integer division by zero");
          return static_cast<double>(
              floor_div(static_cast<std::int64_t>(x), static_cast<std::int64_t>(y)));
        });
        break;
      case Binary::mod:
        out = elementwise2(a, b, *shape, t, [loc, &name](double x, double y) {
          if (y == 0) fail(loc, name + ": integer modulo by zero");
          return static_cast<double>(
              floor_mod(static_cast<std::int64_t>(x), static_cast<std::int64_t>(y)));
        });
        break;
      default:
        fail(loc, "unsupported operator " + name);
    }
    round_array(out);
    return owned(std::move(out), rt.weak);
  }

  // ---- calls ---------------------------------------------------------------------------------

  void check_arguments(const Expr& call, const FunctionSpec& spec) {
    int positional = 0;
    std::set<std::string> seen;
    for (const auto& arg : call.args) {
      if (arg.destination && spec.kind != FunctionKind::load && spec.kind != FunctionKind::store) {
        fail(arg.loc, call.text + " takes no transfer `->`; only load and store do");
      }
      if (arg.keyword.empty()) {
        ++positional;
        continue;
      }
      if (std::find(spec.keywords.begin(), spec.keywords.end(), arg.keyword) ==
          spec.keywords.end()) {
        fail(arg.loc, call.text + " has no keyword argument '" + arg.keyword + "'");
      }
      if (!seen.insert(arg.keyword).second) {
        fail(arg.loc, call.text + ": keyword '" + arg.keyword + "' is given twice");
      }
    }
    if (positional < spec.min_positional || positional > spec.max_positional) {
      std::string expected =
          spec.min_positional == spec.max_positional
              ? std::to_string(spec.min_positional)
              : std::to_string(spec.min_positional) + " to " + std::to_string(spec.max_positional);
      fail(call.loc, call.text + " takes " + expected + " positional argument(s), got " +
                         std::to_string(positional));
    }
  }

  // The argument at positional `index` or given as `keyword`, or null.
  const Expr* argument(const Expr& call, std::size_t index, const std::string& keyword) {
    const auto positional = call.positional();
    const Argument* by_keyword = keyword.empty() ? nullptr : call.keyword(keyword);
    if (index < positional.size()) {
      if (by_keyword) {
        fail(by_keyword->loc, call.text + ": '" + keyword +
                                  "' is given both by position and by "
                                  "keyword");
      }
      return positional[index]->value.get();
    }
    return by_keyword ? by_keyword->value.get() : nullptr;
  }

  bool eval_flag(const Expr* expr, const std::string& what) {
    if (!expr || expr->kind == Expr::Kind::none) return false;
    Value value = eval(*expr);
    const Array& array = value.get();
    if (array.size() != 1 || !array.shape.empty()) {
      fail(expr->loc, what + " must be a scalar (True or False)");
    }
    return array.data[0] != 0;
  }

  ScalarType eval_dtype(const Expr& expr, const std::string& what) {
    if (expr.kind == Expr::Kind::name || expr.kind == Expr::Kind::string) {
      if (auto type = parse_scalar_type(expr.text)) return *type;
    }
    fail(expr.loc, what + " must be a dtype (f16, bf16, f32, f64, i8, i32, i64, bool)");
  }

  Value eval_call(const Expr& call) {
    const FunctionSpec* spec = find_function(call.text);
    if (!spec) fail(call.loc, "unknown function '" + call.text + "'");
    check_arguments(call, *spec);
    switch (spec->kind) {
      case FunctionKind::load:
      case FunctionKind::store:
        fail(call.loc, call.text + " is a statement; it has no value");
      case FunctionKind::alloc:
        return call_alloc(call);
      case FunctionKind::unary: {
        Value a = eval(*argument(call, 0, ""));
        return apply_unary(*unary_op(call.text), std::move(a), call.loc, call.text);
      }
      case FunctionKind::binary: {
        Value a = eval(*argument(call, 0, ""));
        Value b = eval(*argument(call, 1, ""));
        return apply_binary(*binary_op(call.text), std::move(a), std::move(b), call.loc, call.text);
      }
      case FunctionKind::where:
        return call_where(call);
      case FunctionKind::cast:
        return call_cast(call);
      case FunctionKind::fill:
        return call_fill(call);
      case FunctionKind::reduction:
      case FunctionKind::arg_reduction:
        return call_reduction(call, spec->kind == FunctionKind::arg_reduction);
      case FunctionKind::scan:
        return call_scan(call);
      case FunctionKind::gemm:
        return call_gemm(call);
      case FunctionKind::ceil_div:
        return call_ceil(call);
    }
    fail(call.loc, "unsupported function '" + call.text + "'");
  }

  Value call_alloc(const Expr& call) {
    const Expr& shape_expr = *argument(call, 0, "");
    if (shape_expr.kind != Expr::Kind::list) {
      fail(shape_expr.loc, "alloc: the shape must be a list of dims, e.g. alloc([BLOCK])");
    }
    Shape shape;
    for (const auto& item : shape_expr.operands) {
      std::int64_t extent = eval_int(*item, "alloc: a dim");
      if (extent < 0) fail(item->loc, "alloc: dim " + std::to_string(extent) + " is negative");
      shape.push_back(extent);
    }
    ScalarType type = ScalarType::f32;
    if (const Argument* dtype = call.keyword("dtype"))
      type = eval_dtype(*dtype->value, "alloc: dtype");
    return owned(make_zeros(type, std::move(shape)), false);
  }

  Value call_where(const Expr& call) {
    Value cond = eval(*argument(call, 0, ""));
    Value a = eval(*argument(call, 1, ""));
    Value b = eval(*argument(call, 2, ""));
    const ResultType rt = combine_types(a, b, call.loc, "where", true);
    auto ab = broadcast_shape(a.get().shape, b.get().shape);
    std::optional<Shape> shape = ab ? broadcast_shape(cond.get().shape, *ab) : std::nullopt;
    if (!shape) {
      fail(call.loc, "where: shapes " + shape_text(cond.get().shape) + ", " +
                         shape_text(a.get().shape) + " and " + shape_text(b.get().shape) +
                         " do not broadcast");
    }
    const Array& C = cond.get();
    const Array& A = a.get();
    const Array& B = b.get();
    Array out = make_zeros(rt.type, *shape);
    const Shape sc = broadcast_strides(C.shape, *shape);
    const Shape sa = broadcast_strides(A.shape, *shape);
    const Shape sb = broadcast_strides(B.shape, *shape);
    const double* pc = C.data.data();
    const double* pa = A.data.data();
    const double* pb = B.data.data();
    double* po = out.data.data();
    std::int64_t pos = 0;
    for_each_row<3>(*shape, {&sc, &sa, &sb}, {0, 0, 0},
                    [&](auto off, std::int64_t count, auto inner) {
                      for (std::int64_t j = 0; j < count; ++j) {
                        po[pos + j] = pc[off[0] + j * inner[0]] != 0 ? pa[off[1] + j * inner[1]]
                                                                     : pb[off[2] + j * inner[2]];
                      }
                      pos += count;
                    });
    round_array(out);
    return owned(std::move(out), rt.weak && cond.weak);
  }

  Value call_cast(const Expr& call) {
    Value a = eval(*argument(call, 0, ""));
    const ScalarType type = eval_dtype(*argument(call, 1, ""), "cast: the second argument");
    Array array = a.take();
    if (is_integer(type) && !is_integer(array.dtype) && array.dtype != ScalarType::boolean) {
      for (double& x : array.data) {
        if (!std::isfinite(x)) {
          fail(call.loc, "cast: " + number_text(x) + " cannot be converted to " + type_name(type));
        }
        x = std::trunc(x);
      }
    }
    array.dtype = type;
    round_array(array);
    return owned(std::move(array), false);
  }

  Value call_fill(const Expr& call) {
    Value a = eval(*argument(call, 0, ""));
    Value v = eval(*argument(call, 1, ""));
    const Array& value = v.get();
    if (value.size() != 1) {
      fail(call.loc, "fill: the value must be a scalar, got shape " + shape_text(value.shape));
    }
    Array array = a.take();
    double x = value.data[0];
    if ((is_integer(array.dtype) || array.dtype == ScalarType::boolean) &&
        (!std::isfinite(x) || x != std::floor(x))) {
      fail(call.loc,
           "fill: " + number_text(x) + " does not fit a " + type_name(array.dtype) + " value");
    }
    x = round_to(array.dtype, x);
    std::fill(array.data.begin(), array.data.end(), x);
    return owned(std::move(array), a.weak);
  }

  // The axis argument normalized to [0, rank), or nullopt for all axes.
  std::optional<std::size_t> eval_axis(const Expr& call, const Expr* axis_expr, std::size_t rank,
                                       std::optional<std::int64_t> fallback) {
    std::optional<std::int64_t> axis = fallback;
    if (axis_expr && axis_expr->kind == Expr::Kind::none)
      axis = std::nullopt;
    else if (axis_expr)
      axis = eval_int(*axis_expr, call.text + ": axis");
    if (!axis) return std::nullopt;
    const auto r = static_cast<std::int64_t>(rank);
    std::int64_t a = *axis < 0 ? *axis + r : *axis;
    if (a < 0 || a >= r) {
      fail(axis_expr ? axis_expr->loc : call.loc, call.text + ": axis " + std::to_string(*axis) +
                                                      " is out of range for a value of rank " +
                                                      std::to_string(rank));
    }
    return static_cast<std::size_t>(a);
  }

  Value call_reduction(const Expr& call, bool arg_reduction) {
    Value a = eval(*argument(call, 0, ""));
    const Array& A = a.get();
    const auto axis = eval_axis(call, argument(call, 1, "axis"), A.shape.size(), std::nullopt);
    const bool keepdims =
        eval_flag(call.keyword("keepdims") ? call.keyword("keepdims")->value.get() : nullptr,
                  call.text + ": keepdims");
    // outer x n x inner decomposition.
    std::int64_t outer = 1, n = 1, inner = 1;
    Shape out_shape;
    if (axis) {
      for (std::size_t d = 0; d < A.shape.size(); ++d) {
        if (d < *axis) outer *= A.shape[d];
        if (d > *axis) inner *= A.shape[d];
        if (d == *axis) {
          n = A.shape[d];
          if (keepdims) out_shape.push_back(1);
        } else {
          out_shape.push_back(A.shape[d]);
        }
      }
    } else {
      n = static_cast<std::int64_t>(A.size());
      if (keepdims) out_shape.assign(A.shape.size(), 1);
    }
    const std::string& fn = call.text;
    ScalarType out_type = A.dtype;
    if (arg_reduction) {
      out_type = ScalarType::i64;
    } else if (fn == "reduce_sum" || fn == "reduce_prod") {
      if (A.dtype == ScalarType::boolean) out_type = ScalarType::i64;
    } else if (fn == "reduce_mean") {
      if (!is_float(A.dtype)) {
        if (!a.weak) {
          fail(call.loc,
               "reduce_mean needs a float value, got " + type_name(A.dtype) + "; cast it first");
        }
        out_type = ScalarType::f64;
      }
    }
    const bool is_max = fn == "reduce_max" || fn == "argmax";
    const bool is_min = fn == "reduce_min" || fn == "argmin";
    if (n == 0 && (is_max || is_min) && outer * inner > 0) {
      fail(call.loc, fn + " of an empty value (shape " + shape_text(A.shape) + ")");
    }
    Array out = make_zeros(out_type, out_shape);
    const double* x = A.data.data();
    std::vector<double> acc(static_cast<std::size_t>(inner));
    std::vector<std::int64_t> best(arg_reduction ? static_cast<std::size_t>(inner) : 0);
    for (std::int64_t o = 0; o < outer; ++o) {
      const double* base = x + o * n * inner;
      double init = 0;
      if (fn == "reduce_prod") init = 1;
      if (is_max) init = -kInf;
      if (is_min) init = kInf;
      std::fill(acc.begin(), acc.end(), init);
      if (arg_reduction) {
        std::fill(acc.begin(), acc.end(), kNaN);
        std::fill(best.begin(), best.end(), -1);
        for (std::int64_t k = 0; k < n; ++k) {
          const double* row = base + k * inner;
          for (std::int64_t i = 0; i < inner; ++i) {
            double v = row[i];
            std::int64_t& b = best[static_cast<std::size_t>(i)];
            double& cur = acc[static_cast<std::size_t>(i)];
            if (b >= 0 && std::isnan(cur)) continue;  // the first NaN wins
            if (b < 0 || std::isnan(v) || (is_max ? v > cur : v < cur)) {
              b = k;
              cur = v;
            }
          }
        }
        for (std::int64_t i = 0; i < inner; ++i) {
          out.data[static_cast<std::size_t>(o * inner + i)] =
              static_cast<double>(best[static_cast<std::size_t>(i)]);
        }
        continue;
      }
      double* pacc = acc.data();
      for (std::int64_t k = 0; k < n; ++k) {
        const double* row = base + k * inner;
        if (fn == "reduce_sum" || fn == "reduce_mean") {
          for (std::int64_t i = 0; i < inner; ++i) pacc[i] += row[i];
        } else if (fn == "reduce_prod") {
          for (std::int64_t i = 0; i < inner; ++i) pacc[i] *= row[i];
        } else if (is_max) {
          for (std::int64_t i = 0; i < inner; ++i) {
            if (!(pacc[i] >= row[i]) && !std::isnan(pacc[i])) pacc[i] = row[i];
          }
        } else {
          for (std::int64_t i = 0; i < inner; ++i) {
            if (!(pacc[i] <= row[i]) && !std::isnan(pacc[i])) pacc[i] = row[i];
          }
        }
      }
      for (std::int64_t i = 0; i < inner; ++i) {
        double v = pacc[i];
        if (fn == "reduce_mean") v = n > 0 ? v / static_cast<double>(n) : kNaN;
        out.data[static_cast<std::size_t>(o * inner + i)] = v;
      }
    }
    round_array(out);
    return owned(std::move(out), a.weak && !arg_reduction);
  }

  Value call_scan(const Expr& call) {
    Value a = eval(*argument(call, 0, ""));
    Array array = a.take();
    if (array.shape.empty()) return owned(std::move(array), a.weak);
    const auto axis_or_all = eval_axis(call, argument(call, 1, "axis"), array.shape.size(), -1);
    if (!axis_or_all) fail(call.loc, call.text + " needs an axis (it cannot scan all axes)");
    const std::size_t axis = *axis_or_all;
    if (array.dtype == ScalarType::boolean) array.dtype = ScalarType::i64;
    std::int64_t outer = 1, n = array.shape[axis], inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= array.shape[d];
    for (std::size_t d = axis + 1; d < array.shape.size(); ++d) inner *= array.shape[d];
    const bool sum = call.text == "cumsum";
    std::vector<double> acc(static_cast<std::size_t>(inner));
    double* data = array.data.data();
    for (std::int64_t o = 0; o < outer; ++o) {
      std::fill(acc.begin(), acc.end(), sum ? 0.0 : 1.0);
      double* base = data + o * n * inner;
      for (std::int64_t k = 0; k < n; ++k) {
        double* row = base + k * inner;
        for (std::int64_t i = 0; i < inner; ++i) {
          double& c = acc[static_cast<std::size_t>(i)];
          c = sum ? c + row[i] : c * row[i];
          row[i] = c;
        }
      }
    }
    round_array(array);
    return owned(std::move(array), a.weak);
  }

  Value call_gemm(const Expr& call) {
    Value a = eval(*argument(call, 0, ""));
    Value b = eval(*argument(call, 1, ""));
    const Expr* c_expr = argument(call, 2, "c");
    const bool trans_a = eval_flag(
        call.keyword("trans_a") ? call.keyword("trans_a")->value.get() : nullptr, "gemm: trans_a");
    const bool trans_b = eval_flag(
        call.keyword("trans_b") ? call.keyword("trans_b")->value.get() : nullptr, "gemm: trans_b");
    const Array& A = a.get();
    const Array& B = b.get();
    if (A.shape.size() != 2 || B.shape.size() != 2) {
      fail(call.loc, "gemm: a and b must be rank 2, got " + shape_text(A.shape) + " and " +
                         shape_text(B.shape));
    }
    if (A.dtype != B.dtype) {
      fail(call.loc, "gemm: a is " + type_name(A.dtype) + " but b is " + type_name(B.dtype) +
                         "; cast one of them");
    }
    if (A.dtype == ScalarType::boolean) fail(call.loc, "gemm on bool values; cast them first");
    const std::int64_t M = trans_a ? A.shape[1] : A.shape[0];
    const std::int64_t K = trans_a ? A.shape[0] : A.shape[1];
    const std::int64_t Kb = trans_b ? B.shape[1] : B.shape[0];
    const std::int64_t N = trans_b ? B.shape[0] : B.shape[1];
    if (K != Kb) {
      fail(call.loc, std::string("gemm: a") + (trans_a ? " (transposed)" : "") + " is " +
                         shape_text({M, K}) + " but b" + (trans_b ? " (transposed)" : "") + " is " +
                         shape_text({Kb, N}) + "; the inner dims K must match");
    }
    const Shape shape{M, N};
    Array out = make_zeros(A.dtype, shape);
    double* po = out.data.data();
    if (c_expr && c_expr->kind != Expr::Kind::none) {
      Value c = eval(*c_expr);
      const Array& C = c.get();
      if (!c.weak && C.dtype != A.dtype) {
        fail(c_expr->loc, "gemm: c is " + type_name(C.dtype) + " but a and b are " +
                              type_name(A.dtype) + "; cast it");
      }
      if (!broadcasts_to(C.shape, shape)) {
        fail(c_expr->loc, "gemm: c has shape " + shape_text(C.shape) +
                              ", which does not broadcast to the result " + shape_text(shape));
      }
      const Shape sc = broadcast_strides(C.shape, shape);
      const double* pc = C.data.data();
      std::int64_t pos = 0;
      for_each_row<1>(shape, {&sc}, {0}, [&](auto off, std::int64_t count, auto inner) {
        for (std::int64_t j = 0; j < count; ++j) po[pos + j] = pc[off[0] + j * inner[0]];
        pos += count;
      });
    }
    const double* pa = A.data.data();
    const double* pb = B.data.data();
    const std::int64_t a_row = trans_a ? 1 : K, a_col = trans_a ? M : 1;
    const std::int64_t b_row = trans_b ? 1 : N, b_col = trans_b ? K : 1;
    std::vector<double> row(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < M; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (std::int64_t k = 0; k < K; ++k) {
        const double x = pa[i * a_row + k * a_col];
        const double* pbk = pb + k * b_row;
        if (b_col == 1) {
          for (std::int64_t j = 0; j < N; ++j) row[static_cast<std::size_t>(j)] += x * pbk[j];
        } else {
          for (std::int64_t j = 0; j < N; ++j)
            row[static_cast<std::size_t>(j)] += x * pbk[j * b_col];
        }
      }
      for (std::int64_t j = 0; j < N; ++j) po[i * N + j] += row[static_cast<std::size_t>(j)];
    }
    round_array(out);
    return owned(std::move(out), false);
  }

  Value call_ceil(const Expr& call) {
    Value a = eval(*argument(call, 0, ""));
    Value b = eval(*argument(call, 1, ""));
    const ResultType rt = combine_types(a, b, call.loc, "ceil", true);
    if (!is_integer(rt.type)) {
      fail(call.loc, "ceil(a, b) is the ceiling division of integers, got " +
                         (rt.weak ? std::string("a float") : type_name(rt.type)));
    }
    auto shape = broadcast_shape(a.get().shape, b.get().shape);
    if (!shape) {
      fail(call.loc, "ceil: shapes " + shape_text(a.get().shape) + " and " +
                         shape_text(b.get().shape) + " do not broadcast");
    }
    Location loc = call.loc;
    Array out = elementwise2(a, b, *shape, rt.type, [loc](double x, double y) {
      if (y == 0) fail(loc, "ceil: division by zero");
      return static_cast<double>(
          -floor_div(-static_cast<std::int64_t>(x), static_cast<std::int64_t>(y)));
    });
    round_array(out);
    return owned(std::move(out), rt.weak);
  }
};

}  // namespace

std::map<std::string, Array> interpret(const Sketch& sketch,
                                       const std::map<std::string, Array>& inputs,
                                       const InterpretOptions& options) {
  Interpreter interpreter(sketch, options);
  return interpreter.run(inputs);
}

}  // namespace anvil::sketch
