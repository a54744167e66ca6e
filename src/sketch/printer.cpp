#include "sketch/printer.hpp"

#include <charconv>
#include <cmath>

namespace anvil::sketch {
namespace {

// Binding strength of an expression's top operator; higher binds tighter.
int precedence(const Expr& expr) {
  if (expr.kind == Expr::Kind::binary) {
    const auto& op = expr.text;
    if (op == "or") return 1;
    if (op == "and") return 2;
    if (op == "<" || op == "<=" || op == ">" || op == ">=" || op == "==" || op == "!=") return 4;
    if (op == "+" || op == "-") return 5;
    return 6;  // * / // %
  }
  if (expr.kind == Expr::Kind::unary) return expr.text == "not" ? 3 : 7;
  if (expr.kind == Expr::Kind::floating && (std::isinf(expr.float_value) && expr.float_value < 0))
    return 7;
  if (expr.kind == Expr::Kind::integer && expr.int_value < 0) return 7;
  return 8;
}

std::string format_float(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest round trip
  std::string text(buffer, end);
  auto e = text.find('e');
  if (e != std::string::npos) {
    // "1e-06" -> "1e-6", "1e+20" -> "1e20": how people write exponents.
    std::string sign = text[e + 1] == '-' ? "-" : "";
    auto digits = text.find_first_not_of("+-0", e + 1);
    text =
        text.substr(0, e) + "e" + sign + (digits == std::string::npos ? "0" : text.substr(digits));
  } else if (text.find('.') == std::string::npos && text.find("nan") == std::string::npos) {
    text += ".0";
  }
  return text;
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string operand(const Expr& expr, int parent, bool right_side) {
  int own = precedence(expr);
  // Left-associative operators: an equal-precedence right operand needs parentheses; comparisons
  // do not chain, so an equal-precedence operand on either side does.
  bool wrap = own < parent || (own == parent && (parent == 4 || (right_side && parent < 7)));
  std::string text = format_expr(expr);
  return wrap ? "(" + text + ")" : text;
}

std::string format_subscript(const Subscript& sub) {
  if (!sub.is_slice) return format_expr(*sub.index);
  std::string text =
      (sub.start ? format_expr(*sub.start) : "") + ":" + (sub.stop ? format_expr(*sub.stop) : "");
  if (sub.step) text += ":" + format_expr(*sub.step);
  return text;
}

std::string format_hint(const Hint& hint) {
  if (!hint.value) return hint.name;
  return hint.name + "=" + (hint.value_is_string ? quote(*hint.value) : *hint.value);
}

class Printer {
 public:
  std::string print(const SketchFile& file) {
    for (std::size_t i = 0; i < file.sketches.size(); ++i) {
      if (i > 0) out_ += "\n";
      print_sketch(file.sketches[i]);
    }
    comments(0, file.end_comments);
    return std::move(out_);
  }

 private:
  void line(int indent, const std::string& text) {
    out_ += std::string(static_cast<std::size_t>(indent) * 2, ' ') + text + "\n";
  }

  void comments(int indent, const std::vector<std::string>& lines) {
    for (const auto& text : lines) line(indent, text.empty() ? "#" : "# " + text);
  }

  static std::string with_trailing(std::string text, const std::string& comment) {
    return comment.empty() ? text : text + "  # " + comment;
  }

  void print_sketch(const Sketch& sketch) {
    comments(0, sketch.comments);
    line(0, "sketch " + sketch.name + " {");
    if (!sketch.symbols.empty()) {
      std::string names;
      for (const auto& symbol : sketch.symbols) names += (names.empty() ? "" : ", ") + symbol.name;
      commented_line(1, "symbols: " + names, sketch.symbols_comments);
    }
    if (!sketch.tensors.empty()) {
      commented_line(1, "tensors:", sketch.tensors_comments);
      for (const auto& tensor : sketch.tensors) {
        std::string dims;
        for (const auto& dim : tensor.shape) dims += (dims.empty() ? "" : ", ") + format_expr(*dim);
        commented_line(2, tensor.name + ": [" + dims + "] " + tensor.dtype, tensor.comments);
      }
    }
    if (!sketch.constexprs.empty()) {
      commented_line(1, "constexpr:", sketch.constexpr_comments);
      for (const auto& c : sketch.constexprs) {
        commented_line(2, c.name + " = " + format_expr(*c.value), c.comments);
      }
    }
    if (!sketch.body.empty()) {
      out_ += "\n";
      for (const auto& stmt : sketch.body) print_stmt(stmt, 1);
    }
    comments(1, sketch.end_comments);
    line(0, "}");
  }

  void commented_line(int indent, const std::string& text, const Comments& around) {
    comments(indent, around.before);
    line(indent, with_trailing(text, around.trailing));
  }

  void print_stmt(const Stmt& stmt, int indent) {
    comments(indent, stmt.comments);
    switch (stmt.kind) {
      case Stmt::Kind::assign:
        line(indent,
             with_trailing(stmt.target + " = " + format_expr(*stmt.value), stmt.trailing_comment));
        return;
      case Stmt::Kind::call:
        line(indent, with_trailing(format_expr(*stmt.value), stmt.trailing_comment));
        return;
      case Stmt::Kind::for_loop:
        print_for(stmt, indent);
        return;
      case Stmt::Kind::if_chain:
        print_if(stmt, indent);
        return;
    }
  }

  void print_for(const Stmt& stmt, int indent) {
    if (!stmt.hints.empty()) {
      std::string hints;
      for (const auto& hint : stmt.hints) hints += (hints.empty() ? "" : ", ") + format_hint(hint);
      line(indent, "@llm_hint(" + hints + ")");
    }
    std::string args;
    for (const auto& arg : stmt.range_args) args += (args.empty() ? "" : ", ") + format_expr(*arg);
    line(indent,
         with_trailing("for " + stmt.target + " in range(" + args + "):", stmt.trailing_comment));
    for (const auto& inner : stmt.body) print_stmt(inner, indent + 1);
  }

  void print_if(const Stmt& stmt, int indent) {
    for (std::size_t i = 0; i < stmt.branches.size(); ++i) {
      const auto& branch = stmt.branches[i];
      std::string header = !branch.condition ? "else:"
                                             : std::string(i == 0 ? "if " : "elif ") +
                                                   format_expr(*branch.condition) + ":";
      line(indent, i == 0 ? with_trailing(header, stmt.trailing_comment) : header);
      for (const auto& inner : branch.body) print_stmt(inner, indent + 1);
    }
  }

  std::string out_;
};

}  // namespace

std::string format_expr(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::integer:
      return std::to_string(expr.int_value);
    case Expr::Kind::floating:
      return format_float(expr.float_value);
    case Expr::Kind::string:
      return quote(expr.text);
    case Expr::Kind::boolean:
      return expr.bool_value ? "True" : "False";
    case Expr::Kind::none:
      return "None";
    case Expr::Kind::name:
      return expr.text;
    case Expr::Kind::list: {
      std::string items;
      for (const auto& item : expr.operands)
        items += (items.empty() ? "" : ", ") + format_expr(*item);
      return "[" + items + "]";
    }
    case Expr::Kind::subscript: {
      std::string subs;
      for (const auto& sub : expr.subscripts)
        subs += (subs.empty() ? "" : ", ") + format_subscript(sub);
      return format_expr(*expr.operands[0]) + "[" + subs + "]";
    }
    case Expr::Kind::unary: {
      std::string op = expr.text == "not" ? "not " : "-";
      return op + operand(*expr.operands[0], precedence(expr), false);
    }
    case Expr::Kind::binary: {
      int own = precedence(expr);
      return operand(*expr.operands[0], own, false) + " " + expr.text + " " +
             operand(*expr.operands[1], own, true);
    }
    case Expr::Kind::call: {
      std::string args;
      for (const auto& arg : expr.args) {
        std::string text = arg.keyword.empty() ? "" : arg.keyword + "=";
        text += format_expr(*arg.value);
        if (arg.destination) text += " -> " + format_expr(*arg.destination);
        args += (args.empty() ? "" : ", ") + text;
      }
      return expr.text + "(" + args + ")";
    }
  }
  return "?";
}

std::string format_sketch_file(const SketchFile& file) { return Printer().print(file); }

}  // namespace anvil::sketch
