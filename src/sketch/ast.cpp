#include "sketch/ast.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace anvil::sketch {
namespace {

bool same_exprs(const std::vector<ExprPtr>& a, const std::vector<ExprPtr>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](const ExprPtr& x, const ExprPtr& y) { return same_expr(x.get(), y.get()); });
}

bool same_subscript(const Subscript& a, const Subscript& b) {
  return a.is_slice == b.is_slice && same_expr(a.index.get(), b.index.get()) &&
         same_expr(a.start.get(), b.start.get()) && same_expr(a.stop.get(), b.stop.get()) &&
         same_expr(a.step.get(), b.step.get());
}

bool same_argument(const Argument& a, const Argument& b) {
  return a.keyword == b.keyword && same_expr(a.value.get(), b.value.get()) &&
         same_expr(a.destination.get(), b.destination.get());
}

bool same_hint(const Hint& a, const Hint& b) {
  return a.name == b.name && a.value == b.value && a.value_is_string == b.value_is_string;
}

template <typename T, typename Same>
bool same_list(const std::vector<T>& a, const std::vector<T>& b, Same same) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same);
}

bool same_stmt(const Stmt& a, const Stmt& b);

bool same_body(const std::vector<Stmt>& a, const std::vector<Stmt>& b) {
  return same_list(a, b, same_stmt);
}

bool same_stmt(const Stmt& a, const Stmt& b) {
  return a.kind == b.kind && a.target == b.target && same_expr(a.value.get(), b.value.get()) &&
         same_exprs(a.range_args, b.range_args) && same_list(a.hints, b.hints, same_hint) &&
         same_body(a.body, b.body) &&
         same_list(a.branches, b.branches, [](const IfBranch& x, const IfBranch& y) {
           return same_expr(x.condition.get(), y.condition.get()) && same_body(x.body, y.body);
         });
}

void collect_stores(const std::vector<Stmt>& body, std::vector<std::string>& names) {
  for (const auto& stmt : body) {
    if (stmt.kind == Stmt::Kind::call && stmt.value && stmt.value->kind == Expr::Kind::call &&
        stmt.value->text == "store") {
      for (const auto* arg : stmt.value->positional()) {
        const Expr* dst = arg->destination.get();
        if (dst && dst->kind == Expr::Kind::subscript) dst = dst->operands[0].get();
        if (dst && dst->kind == Expr::Kind::name) names.push_back(dst->text);
      }
    }
    collect_stores(stmt.body, names);
    for (const auto& branch : stmt.branches) collect_stores(branch.body, names);
  }
}

}  // namespace

const Argument* Expr::keyword(const std::string& name) const {
  for (const auto& arg : args) {
    if (arg.keyword == name) return &arg;
  }
  return nullptr;
}

std::vector<const Argument*> Expr::positional() const {
  std::vector<const Argument*> out;
  for (const auto& arg : args) {
    if (arg.keyword.empty()) out.push_back(&arg);
  }
  return out;
}

bool same_expr(const Expr* a, const Expr* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->kind != b->kind || a->text != b->text || a->int_value != b->int_value ||
      a->bool_value != b->bool_value) {
    return false;
  }
  bool floats_equal = a->float_value == b->float_value ||
                      (std::isnan(a->float_value) && std::isnan(b->float_value));
  return floats_equal && same_exprs(a->operands, b->operands) &&
         same_list(a->args, b->args, same_argument) &&
         same_list(a->subscripts, b->subscripts, same_subscript);
}

bool same_sketch(const Sketch& a, const Sketch& b) {
  auto same_symbol = [](const SymbolDecl& x, const SymbolDecl& y) { return x.name == y.name; };
  auto same_tensor = [](const TensorDecl& x, const TensorDecl& y) {
    return x.name == y.name && x.dtype == y.dtype && same_exprs(x.shape, y.shape);
  };
  auto same_const = [](const ConstDecl& x, const ConstDecl& y) {
    return x.name == y.name && same_expr(x.value.get(), y.value.get());
  };
  return a.name == b.name && same_list(a.symbols, b.symbols, same_symbol) &&
         same_list(a.tensors, b.tensors, same_tensor) &&
         same_list(a.constexprs, b.constexprs, same_const) && same_body(a.body, b.body);
}

bool same_file(const SketchFile& a, const SketchFile& b) {
  return same_list(a.sketches, b.sketches, same_sketch);
}

std::vector<std::string> output_tensor_names(const Sketch& sketch) {
  std::vector<std::string> stored;
  collect_stores(sketch.body, stored);
  std::vector<std::string> outputs;
  for (const auto& tensor : sketch.tensors) {
    if (std::find(stored.begin(), stored.end(), tensor.name) != stored.end()) {
      outputs.push_back(tensor.name);
    }
  }
  return outputs;
}

}  // namespace anvil::sketch
