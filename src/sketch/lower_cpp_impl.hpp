#pragma once
// Internals of the C++ lowering (lower_cpp.hpp), shared by lower_cpp.cpp (statements, the
// entry point) and lower_cpp_expr.cpp (values: element expressions, reductions, gemm, regions).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sketch/ast.hpp"
#include "sketch/lower_cpp.hpp"
#include "sketch/stdlib.hpp"
#include "sketch/types.hpp"

namespace anvil::sketch::lowering {

// One extent: its C++ text and, when known at lowering time, its value.
struct Dim {
  std::string text;
  std::optional<std::int64_t> value;
};
using Shape = std::vector<Dim>;

Dim constant_dim(std::int64_t value);
bool same_dim(const Dim& a, const Dim& b);
bool is_one(const Dim& dim);
Dim product(const Shape& shape);
std::optional<std::int64_t> constant_count(const Shape& shape);

// An integer index expression as constant + sum(coefficient * atom); atoms are C++ texts of
// symbols, loop variables or anything non-affine. Lets `start + BLOCK - start` fold to BLOCK.
struct Affine {
  std::int64_t constant = 0;
  std::map<std::string, std::int64_t> terms;

  bool is_constant() const { return terms.empty(); }
  std::string text() const;
  Dim dim() const;
};
Affine affine_atom(const std::string& text);
Affine affine_of(const Dim& dim);
Affine affine_add(const Affine& a, const Affine& b, std::int64_t sign);
Affine affine_mul(const Affine& a, const Affine& b);

// Where an array's elements live: tensors use the ABI dtypes (f16 as uint16_t bits), local
// buffers hold compute values (f16 as rounded float, bool as bool).
enum class Layout { tensor, local };

struct Var {
  enum class Kind { symbol, constant, tensor, loop, scalar, buffer };
  Kind kind = Kind::scalar;
  std::string cxx;  // C++ name: a value (symbol, loop, scalar) or an element pointer
  ScalarType dtype = ScalarType::f32;
  bool weak = false;
  Shape shape;
  double value = 0;  // constants
  // A read-only tile: `cxx` is a view pointer (at the tensor's elements for full tiles) and
  // this is the buffer's own storage, which partial tiles are copied into.
  std::string own_storage;
};

// An element-wise expression over a shape; non-element-wise parts are already computed into
// temporaries (array or scalar leaves).
struct Node {
  enum class Kind { literal, scalar, array, op };
  Kind kind = Kind::literal;
  ScalarType dtype = ScalarType::f32;
  bool weak = false;
  Shape shape;
  std::string text;  // literal/scalar: C++ value in the compute type; array: element pointer
  Layout layout = Layout::local;
  std::string op;  // for ops: the stdlib name or operator ("add", "exp", "<", "where", ...)
  std::vector<Node> kids;
};

// Index variables of an element loop nest, aligned with the loop shape; or one flat index when
// every array leaf has exactly the loop's shape.
struct Index {
  std::vector<std::string> vars;
  std::string flat;
};

// A contiguous destination of a computed value: a local array or a scalar variable.
struct Dest {
  std::string ptr;  // pointer, or the variable for scalars
  ScalarType dtype = ScalarType::f32;
  Shape shape;
  bool scalar = false;
};

// A reference `name[subscripts]` resolved to offsets and extents of the kept dimensions.
struct Region {
  std::string ptr;
  ScalarType dtype = ScalarType::f32;
  Layout layout = Layout::local;
  std::string offset = "0";
  std::vector<std::string> strides;
  Shape full;         // what the slices say
  Shape clamped;      // what lies inside the array
  std::string valid;  // run-time condition that every index is in range; empty: always
};

// gemm register blocks: rows of a x columns of b (16 zmm accumulators for f32).
constexpr int kGemmRows = 4;
constexpr int kGemmCols = 32;

std::string compute_type(ScalarType type);
std::string storage_type(ScalarType type, Layout layout);
std::string double_literal(double value);
std::string int_literal(std::int64_t value);

class Lowerer {
 public:
  Lowerer(const Sketch& sketch, const LowerOptions& options);
  CppKernel run();

  // ---- emission ----
  void line(const std::string& text);
  void open(const std::string& head);  // `head {`
  void close(const std::string& tail = "}");
  void otherwise();  // `} else {`
  std::string fresh(const std::string& stem);
  // Runs `emit` writing into a separate buffer (one level deeper); returns that code.
  std::string capture(const std::function<void()>& emit);
  void append(const std::string& code) { out_ += code; }

  // Nested loops over `extents`, innermost `#pragma omp simd`; `body` gets the index names.
  void loops(const Shape& extents, const std::function<void(const std::vector<std::string>&)>& body,
             bool simd = true);
  // Declares storage for a value of this dtype and shape; `zero` fills it with zeros.
  void declare_storage(const std::string& name, ScalarType dtype, const Shape& shape, bool zero);

  // ---- values (lower_cpp_expr.cpp) ----
  Affine index(const Expr& expr);
  Dim dim(const Expr& expr) { return index(expr).dim(); }
  Node build(const Expr& expr);
  Node build_call(const Expr& call);
  Node build_unary(const std::string& name, Node a, Location loc);
  std::string gen(const Node& node, const Index& index, std::size_t rank);
  std::string convert(const std::string& value, ScalarType from, ScalarType to, bool cast = false);
  // Writes `node` (broadcast) into `dest`, one fused loop nest.
  void emit_elementwise(const Node& node, const Dest& dest);
  // Computes a non-element-wise root call (reduction, scan, gemm, ...) straight into `dest`;
  // false when `call` is element-wise.
  bool is_root_call(const Expr& expr) const;
  void emit_root_call(const Expr& call, const std::function<Dest(const Var&)>& make_dest);
  Var infer_root_call(const Expr& call);  // its dtype, weakness and shape, emitting nothing
  Node materialize(const Node& node);     // into a temporary array
  void emit_reduction(const Expr& call, const std::function<Dest(const Var&)>& make_dest);
  void emit_arg_reduction(const Node& a, std::optional<std::size_t> axis, bool is_max,
                          const Dest& dest);
  void emit_scan(const Expr& call, const std::function<Dest(const Var&)>& make_dest);
  void emit_gemm(const Expr& call, const std::function<Dest(const Var&)>& make_dest);
  void emit_gemm_blocked(const Node& a, const Node& b, bool trans_a, const Shape& mkn,
                         ScalarType acc_dtype,
                         const std::function<void(const std::string&, const std::string&,
                                                  const std::string&)>& result);
  std::optional<std::size_t> axis_argument(const Expr& call, std::size_t rank,
                                           std::optional<std::int64_t> fallback);
  Region region(const Expr& ref, const Var& base);
  Node read_region(const Region& region, const Location& loc);  // a gather into a temporary
  std::string read_element(const std::string& ptr, const std::string& offset, ScalarType dtype,
                           Layout layout) const;
  std::string write_element(const std::string& value, ScalarType dtype, Layout layout) const;

  // ---- names ----
  const Var* find(const std::string& name) const;
  Var* find_local(const std::string& name);
  const Var& lookup(const std::string& name, Location loc) const;
  std::optional<double> constant_value(const Expr& expr) const;
  ScalarType dtype_argument(const Expr& expr) const;
  const Expr* argument(const Expr& call, std::size_t index, const std::string& keyword) const;
  bool flag_argument(const Expr& call, const std::string& keyword) const;

  const std::string& status() const { return status_; }

 private:
  // ---- statements (lower_cpp.cpp) ----
  void bind_tensors();
  void bind_constants();
  void lower_block(const std::vector<Stmt>& body);
  void lower_statement(const Stmt& stmt);
  void lower_assign(const Stmt& stmt);
  void lower_load(const Expr& call);
  void lower_store(const Expr& call);
  void lower_for(const Stmt& stmt);
  void lower_if(const Stmt& stmt, std::size_t branch);
  void emit_copy_region(const Region& src, const Region& dst, const Node* pad);
  void emit_store_region(const Node& value, const Region& dst);
  bool needs_zero_fill(const std::string& name, const std::vector<Stmt>& block,
                       std::size_t from) const;
  bool can_view_tensor(const std::string& name, const Var& info, const std::vector<Stmt>& block,
                       std::size_t from) const;
  void emit_view_or_copy(const Region& src, const Region& dst, const Node* pad,
                         const std::string& view);
  std::string parallel_clause(const Stmt& loop, bool& sequential, bool explain);

  const Sketch& sketch_;
  const LowerOptions& options_;
  std::string out_;
  int indent_ = 1;
  int counter_ = 0;
  std::map<std::string, Var> globals_;
  std::vector<std::map<std::string, Var>> scopes_;
  std::vector<std::string> notes_;
  std::vector<std::string> read_outputs_;
  std::string status_ = "anvil_status";
  int parallel_depth_ = 0;
  const std::vector<Stmt>* current_block_ = nullptr;
  std::size_t current_index_ = 0;
};

[[noreturn]] void fail(Location loc, const std::string& message);
bool mentions(const Expr& expr, const std::string& name);
bool mentions(const Stmt& stmt, const std::string& name);

}  // namespace anvil::sketch::lowering
