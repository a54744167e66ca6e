#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace anvil::sketch {

// 1-based line and column in the sketch source.
struct Location {
  int line = 0;
  int column = 0;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// One subscript of `T[...]`: an index (`i`) or a slice (`start:stop:step`, parts optional).
struct Subscript {
  bool is_slice = false;
  ExprPtr index;              // when !is_slice
  ExprPtr start, stop, step;  // when is_slice; null where omitted
  Location loc;
};

// One argument of a call: positional (`keyword` empty), keyword (`name=value`), or a transfer
// `source -> destination` (load and store only).
struct Argument {
  std::string keyword;
  ExprPtr value;
  ExprPtr destination;  // non-null for `value -> destination`
  Location loc;
};

struct Expr {
  enum class Kind {
    integer,   // int_value
    floating,  // float_value (inf included)
    string,    // text
    boolean,   // bool_value
    none,
    name,       // text
    call,       // text = callee, args
    list,       // operands = items
    subscript,  // operands[0] = base, subscripts
    unary,      // text = "-" or "not", operands[0]
    binary,     // text = operator, operands[0], operands[1]
  };
  Kind kind = Kind::none;
  Location loc;
  std::int64_t int_value = 0;
  double float_value = 0;
  bool bool_value = false;
  std::string text;
  std::vector<ExprPtr> operands;
  std::vector<Argument> args;
  std::vector<Subscript> subscripts;

  // The keyword argument `name`, or null.
  const Argument* keyword(const std::string& name) const;
  // Positional arguments in order (transfers included).
  std::vector<const Argument*> positional() const;
};

// `@llm_hint(name)` or `@llm_hint(name=value)`; also the strings of `alloc(..., llm_hint=[...])`.
struct Hint {
  std::string name;
  std::optional<std::string> value;
  bool value_is_string = false;
  Location loc;
};

struct Stmt;

struct IfBranch {
  ExprPtr condition;  // null for `else`
  std::vector<Stmt> body;
  Location loc;
};

struct Stmt {
  std::vector<std::string> comments;  // full-line comments just before the statement
  std::string trailing_comment;       // a comment after the statement on its (first) line
  enum class Kind {
    assign,    // target = value
    call,      // value is the call (load, store, ...)
    for_loop,  // for target in range(range_args...): body
    if_chain,  // branches: if, elif..., else
  };
  Kind kind = Kind::call;
  Location loc;
  std::string target;
  Location target_loc;
  ExprPtr value;
  std::vector<ExprPtr> range_args;  // 1 to 3
  std::vector<Hint> hints;          // decorators of a for loop
  std::vector<Stmt> body;
  std::vector<IfBranch> branches;
};

struct SymbolDecl {
  std::string name;
  Location loc;
};

// Comments around a declaration or section line, kept so the formatter never drops them.
struct Comments {
  std::vector<std::string> before;  // full-line comments just before the line
  std::string trailing;             // a comment at the end of the line
};

struct TensorDecl {
  Comments comments;
  std::string name;
  std::vector<ExprPtr> shape;
  std::string dtype;
  Location loc;
  Location dtype_loc;
};

struct ConstDecl {
  Comments comments;
  std::string name;
  ExprPtr value;
  Location loc;
};

struct Sketch {
  std::vector<std::string> comments;      // full-line comments before `sketch`
  std::vector<std::string> end_comments;  // full-line comments before the closing `}`
  std::string name;
  Location loc;
  std::vector<SymbolDecl> symbols;
  std::vector<TensorDecl> tensors;
  std::vector<ConstDecl> constexprs;
  Comments symbols_comments, tensors_comments, constexpr_comments;  // on the section lines
  std::vector<Stmt> body;
};

struct SketchFile {
  std::string path;
  std::vector<Sketch> sketches;
  std::vector<std::string> end_comments;  // comments after the last sketch
};

// Structural equality, ignoring locations (parse -> print -> parse must give an equal AST).
bool same_expr(const Expr* a, const Expr* b);
bool same_sketch(const Sketch& a, const Sketch& b);
bool same_file(const SketchFile& a, const SketchFile& b);

// Names of the tensors that are the destination of some `store` (the sketch's outputs).
std::vector<std::string> output_tensor_names(const Sketch& sketch);

}  // namespace anvil::sketch
