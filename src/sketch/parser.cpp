// Hand-written recursive-descent parser for the grammar in knowledge/sketch/LANGUAGE.md.
#include "sketch/parser.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>
#include <set>

#include "sketch/lexer.hpp"

namespace anvil::sketch {
namespace {

using TK = Token::Kind;

// Thrown inside the parser only; caught at statement boundaries, where parsing resumes.
struct SyntaxError {
  Location loc;
  std::string message;
};

const std::set<std::string, std::less<>> kKeywords{"sketch", "for",  "in",  "if",   "elif",
                                                   "else",   "and",  "or",  "not",  "True",
                                                   "False",  "None", "inf", "range"};

class Parser {
 public:
  Parser(LexResult lexed, std::string path) : lexed_(std::move(lexed)) {
    result_.file.path = std::move(path);
    result_.diagnostics = std::move(lexed_.diagnostics);
  }

  ParseResult run() {
    while (!at(TK::end)) {
      if (accept(TK::newline) || accept(TK::indent) || accept(TK::dedent)) continue;
      if (!at_word("sketch")) {
        report({peek().loc, "expected 'sketch NAME {' here"});
        skip_to_next_sketch();
        continue;
      }
      parse_sketch();
    }
    result_.file.end_comments = take_comments_before(INT_MAX);
    return std::move(result_);
  }

 private:
  // ---- token helpers -------------------------------------------------------------------------
  const Token& peek(std::size_t ahead = 0) const {
    std::size_t i = std::min(pos_ + ahead, lexed_.tokens.size() - 1);
    return lexed_.tokens[i];
  }
  bool at(TK kind) const { return peek().kind == kind; }
  bool at_op(std::string_view op, std::size_t ahead = 0) const {
    return peek(ahead).kind == TK::op && peek(ahead).text == op;
  }
  bool at_word(std::string_view word) const {
    return peek().kind == TK::identifier && peek().text == word;
  }
  const Token& advance() {
    const Token& token = peek();
    if (pos_ < lexed_.tokens.size() - 1) ++pos_;
    return token;
  }
  bool accept(TK kind) {
    if (!at(kind)) return false;
    advance();
    return true;
  }
  bool accept_op(std::string_view op) {
    if (!at_op(op)) return false;
    advance();
    return true;
  }
  static std::string describe(const Token& token) {
    switch (token.kind) {
      case TK::newline:
        return "end of line";
      case TK::indent:
        return "an indented block";
      case TK::dedent:
        return "the end of a block";
      case TK::end:
        return "end of file";
      case TK::string:
        return "string \"" + token.text + "\"";
      default:
        return "'" + token.text + "'";
    }
  }
  [[noreturn]] void fail(const std::string& expected) const {
    throw SyntaxError{peek().loc, "expected " + expected + ", found " + describe(peek())};
  }
  void expect_op(std::string_view op) {
    if (!accept_op(op)) fail("'" + std::string(op) + "'");
  }
  void expect_newline() {
    if (!accept(TK::newline)) fail("end of line");
  }
  std::string expect_name(const std::string& what) {
    if (!at(TK::identifier) || kKeywords.count(peek().text)) fail(what);
    return advance().text;
  }
  void report(SyntaxError error) {
    // One error per spot: the lexer may already have explained this one (an unclosed bracket).
    for (const auto& existing : result_.diagnostics) {
      if (existing.loc.line == error.loc.line && existing.loc.column == error.loc.column) return;
    }
    result_.diagnostics.push_back(
        {Diagnostic::Severity::error, error.loc, std::move(error.message)});
  }

  // Skips the rest of the logical line, and the indented block under it if one follows.
  void recover(std::size_t error_start) {
    if (!at(TK::indent)) {
      while (!at(TK::newline) && !at(TK::end) && !at(TK::dedent) && !at_op("}")) advance();
      accept(TK::newline);
    }
    if (at(TK::indent)) skip_block();
    // Every recovery moves on, so no loop can spin on the token that failed.
    if (pos_ == error_start && !at(TK::end)) advance();
  }

  void skip_block() {
    int depth = 0;
    do {
      if (at(TK::indent)) ++depth;
      if (at(TK::dedent)) --depth;
      advance();
    } while (depth > 0 && !at(TK::end));
  }

  void skip_to_next_sketch() {
    while (!at(TK::end) && !at_word("sketch")) advance();
  }

  // ---- comments ------------------------------------------------------------------------------
  // Full-line comments before `line` not yet attached to anything.
  std::vector<std::string> take_comments_before(int line) {
    std::vector<std::string> taken;
    while (next_comment_ < lexed_.comments.size() &&
           lexed_.comments[next_comment_].loc.line < line) {
      const auto& comment = lexed_.comments[next_comment_++];
      if (comment.own_line) taken.push_back(comment.text);
    }
    return taken;
  }

  std::string take_trailing_comment(int line) {
    while (next_comment_ < lexed_.comments.size() &&
           lexed_.comments[next_comment_].loc.line <= line) {
      const auto& comment = lexed_.comments[next_comment_++];
      if (!comment.own_line && comment.loc.line == line) return comment.text;
    }
    return {};
  }

  // ---- sketches and declarations -------------------------------------------------------------
  void parse_sketch() {
    Sketch sketch;
    sketch.comments = take_comments_before(peek().loc.line);
    sketch.loc = advance().loc;
    try {
      sketch.name = expect_name("a sketch name");
      expect_op("{");
      expect_newline();
    } catch (const SyntaxError& error) {
      report(error);
      skip_to_next_sketch();
      return;
    }
    bool indented = accept(TK::indent);
    parse_sketch_body(sketch);
    if (indented && !accept(TK::dedent) && !at_op("}"))
      report({peek().loc, "expected the end of the sketch body"});
    sketch.end_comments = take_comments_before(peek().loc.line);
    if (!accept_op("}")) {
      report({peek().loc,
              "expected '}' to close sketch '" + sketch.name + "', found " + describe(peek())});
      skip_to_next_sketch();
    }
    accept(TK::newline);
    result_.file.sketches.push_back(std::move(sketch));
  }

  void parse_sketch_body(Sketch& sketch) {
    std::set<std::string> sections_seen;
    while (!at(TK::dedent) && !at(TK::end) && !at_op("}")) {
      if (accept(TK::newline)) continue;
      std::size_t error_start = pos_;
      try {
        if (is_section_start()) {
          Location loc = peek().loc;
          std::string section = advance().text;
          if (!sketch.body.empty()) {
            report({loc, "declarations ('" + section + ":') must come before the first statement"});
          }
          if (!sections_seen.insert(section).second) {
            report({loc, "section '" + section + ":' appears twice; merge them"});
          }
          parse_section(section, sketch, loc);
        } else {
          sketch.body.push_back(parse_statement());
        }
      } catch (const SyntaxError& error) {
        report(error);
        recover(error_start);
      }
    }
  }

  bool is_section_start() const {
    return (at_word("symbols") || at_word("tensors") || at_word("constexpr")) && at_op(":", 1);
  }

  void parse_section(const std::string& section, Sketch& sketch, Location header) {
    Comments& comments = section == "symbols"   ? sketch.symbols_comments
                         : section == "tensors" ? sketch.tensors_comments
                                                : sketch.constexpr_comments;
    comments.before = take_comments_before(header.line);
    expect_op(":");
    if (section == "symbols") {
      do {
        Location loc = peek().loc;
        sketch.symbols.push_back({expect_name("a symbol name"), loc});
      } while (accept_op(","));
    }
    comments.trailing = take_trailing_comment(peek().loc.line);
    expect_newline();
    if (section == "symbols") return;
    if (!accept(TK::indent)) fail("an indented list of " + section + " declarations");
    while (!accept(TK::dedent)) {
      if (at(TK::end) || at_op("}")) fail("the end of the " + section + " section");
      std::size_t error_start = pos_;
      try {
        if (section == "tensors") {
          sketch.tensors.push_back(parse_tensor_decl());
        } else {
          sketch.constexprs.push_back(parse_const_decl());
        }
      } catch (const SyntaxError& error) {
        report(error);
        recover(error_start);
      }
    }
  }

  TensorDecl parse_tensor_decl() {
    TensorDecl decl;
    decl.loc = peek().loc;
    decl.comments.before = take_comments_before(decl.loc.line);
    decl.name = expect_name("a tensor name");
    expect_op(":");
    expect_op("[");
    if (!at_op("]")) {
      do {
        decl.shape.push_back(parse_expr());
      } while (accept_op(","));
    }
    expect_op("]");
    decl.dtype_loc = peek().loc;
    if (!at(TK::identifier)) fail("a dtype (f16, bf16, f32, f64, i8, i32, i64, bool)");
    decl.dtype = advance().text;
    decl.comments.trailing = take_trailing_comment(peek().loc.line);
    expect_newline();
    return decl;
  }

  ConstDecl parse_const_decl() {
    ConstDecl decl;
    decl.loc = peek().loc;
    decl.comments.before = take_comments_before(decl.loc.line);
    decl.name = expect_name("a constant name");
    expect_op("=");
    decl.value = parse_expr();
    decl.comments.trailing = take_trailing_comment(peek().loc.line);
    expect_newline();
    return decl;
  }

  // ---- statements ----------------------------------------------------------------------------
  Stmt parse_statement() {
    NestingGuard guard(*this, peek().loc);
    std::vector<std::string> comments = take_comments_before(peek().loc.line);
    Stmt stmt;
    if (at(TK::indent)) {
      throw SyntaxError{peek().loc,
                        "unexpected indentation: only the body of a for or if is indented"};
    }
    if (at_op("@") || at_word("for")) {
      stmt = parse_for();
    } else if (at_word("if")) {
      stmt = parse_if();
    } else {
      stmt = parse_simple();
    }
    stmt.comments = std::move(comments);
    return stmt;
  }

  Stmt parse_simple() {
    Stmt stmt;
    stmt.loc = peek().loc;
    if (at(TK::identifier) && at_op("=", 1)) {
      stmt.kind = Stmt::Kind::assign;
      stmt.target_loc = peek().loc;
      stmt.target = expect_name("a name to assign");
      advance();
      stmt.value = parse_expr();
    } else {
      stmt.kind = Stmt::Kind::call;
      stmt.value = parse_expr();
      if (stmt.value->kind != Expr::Kind::call) {
        throw SyntaxError{stmt.loc,
                          "a statement must be an assignment, a call such as load(...) or "
                          "store(...), a for loop or an if"};
      }
    }
    stmt.trailing_comment = take_trailing_comment(peek().loc.line);
    expect_newline();
    return stmt;
  }

  std::vector<Hint> parse_decorators() {
    std::vector<Hint> hints;
    while (at_op("@")) {
      advance();
      if (!at_word("llm_hint")) fail("'llm_hint' after '@'");
      advance();
      expect_op("(");
      do {
        hints.push_back(parse_hint());
      } while (accept_op(","));
      expect_op(")");
      expect_newline();
    }
    return hints;
  }

  Hint parse_hint() {
    Hint hint;
    hint.loc = peek().loc;
    if (!at(TK::identifier)) fail("a hint name such as parallel, pipeline, vectorize or unroll");
    hint.name = advance().text;
    if (!accept_op("=")) return hint;
    if (at(TK::string) || at(TK::integer) || at(TK::identifier)) {
      hint.value_is_string = at(TK::string);
      hint.value = advance().text;
      return hint;
    }
    fail("a hint value (a string, integer or name)");
  }

  Stmt parse_for() {
    Stmt stmt;
    stmt.kind = Stmt::Kind::for_loop;
    stmt.hints = parse_decorators();
    stmt.loc = peek().loc;
    if (!at_word("for")) fail("'for' after @llm_hint(...): hints decorate loops");
    advance();
    stmt.target_loc = peek().loc;
    stmt.target = expect_name("a loop variable");
    if (!at_word("in")) fail("'in'");
    advance();
    if (!at_word("range"))
      fail(
          "'range(...)': loops run over range(stop), range(start, stop) or range(start, stop, "
          "step)");
    advance();
    expect_op("(");
    do {
      stmt.range_args.push_back(parse_expr());
    } while (accept_op(","));
    Location close = peek().loc;
    expect_op(")");
    if (stmt.range_args.size() > 3) throw SyntaxError{close, "range takes one to three arguments"};
    stmt.body = parse_block(stmt);
    return stmt;
  }

  Stmt parse_if() {
    Stmt stmt;
    stmt.kind = Stmt::Kind::if_chain;
    stmt.loc = peek().loc;
    advance();
    IfBranch first;
    first.loc = stmt.loc;
    first.condition = parse_expr();
    first.body = parse_block(stmt);
    stmt.branches.push_back(std::move(first));
    while (at_word("elif") || at_word("else")) {
      IfBranch branch;
      branch.loc = peek().loc;
      bool is_else = advance().text == "else";
      if (!is_else) branch.condition = parse_expr();
      Stmt ignored;
      branch.body = parse_block(ignored);
      stmt.branches.push_back(std::move(branch));
      if (is_else) break;
    }
    return stmt;
  }

  // `: NEWLINE INDENT statement+ DEDENT`; the header's trailing comment goes to `owner`.
  std::vector<Stmt> parse_block(Stmt& owner) {
    expect_op(":");
    std::string comment = take_trailing_comment(peek().loc.line);
    if (owner.trailing_comment.empty()) owner.trailing_comment = comment;
    expect_newline();
    if (!accept(TK::indent)) fail("an indented block");
    std::vector<Stmt> body;
    while (!accept(TK::dedent)) {
      if (at(TK::end) || at_op("}")) fail("the end of the indented block");
      std::size_t error_start = pos_;
      try {
        body.push_back(parse_statement());
      } catch (const SyntaxError& error) {
        report(error);
        recover(error_start);
      }
    }
    return body;
  }

  // ---- expressions ---------------------------------------------------------------------------
  ExprPtr make(Expr::Kind kind, Location loc) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->loc = loc;
    return expr;
  }

  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right, Location loc) {
    auto expr = make(Expr::Kind::binary, loc);
    expr->text = std::move(op);
    expr->operands.push_back(std::move(left));
    expr->operands.push_back(std::move(right));
    return expr;
  }

  // Deeply nested input would exhaust the stack of this recursive parser (and of the checker and
  // printer after it); real sketches nest a handful of levels.
  static constexpr int kMaxNesting = 100;

  struct NestingGuard {
    Parser& parser;
    explicit NestingGuard(Parser& p, Location loc) : parser(p) {
      if (++parser.nesting_ > kMaxNesting) {
        --parser.nesting_;
        throw SyntaxError{loc, "nesting is too deep (more than 100 levels)"};
      }
    }
    ~NestingGuard() { --parser.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
  };

  ExprPtr parse_expr() {
    NestingGuard guard(*this, peek().loc);
    return parse_or();
  }

  // A left-deep chain `a + b + ...` is as deep as it is long for every recursive pass after
  // parsing.
  void count_link(int& links) const {
    if (++links > 10 * kMaxNesting)
      throw SyntaxError{peek().loc, "expression is too long (over 1000 operators)"};
  }

  ExprPtr parse_or() {
    auto left = parse_and();
    int links = 0;
    while (at_word("or")) {
      count_link(links);
      Location loc = advance().loc;
      left = binary("or", std::move(left), parse_and(), loc);
    }
    return left;
  }

  ExprPtr parse_and() {
    auto left = parse_not();
    int links = 0;
    while (at_word("and")) {
      count_link(links);
      Location loc = advance().loc;
      left = binary("and", std::move(left), parse_not(), loc);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (!at_word("not")) return parse_comparison();
    NestingGuard guard(*this, peek().loc);
    auto expr = make(Expr::Kind::unary, advance().loc);
    expr->text = "not";
    expr->operands.push_back(parse_not());
    return expr;
  }

  ExprPtr parse_comparison() {
    auto left = parse_sum();
    for (auto op : {"<", "<=", ">", ">=", "==", "!="}) {
      if (!at_op(op)) continue;
      Location loc = advance().loc;
      return binary(op, std::move(left), parse_sum(), loc);
    }
    return left;
  }

  ExprPtr parse_sum() {
    auto left = parse_term();
    int links = 0;
    while (at_op("+") || at_op("-")) {
      count_link(links);
      const Token& op = advance();
      left = binary(op.text, std::move(left), parse_term(), op.loc);
    }
    return left;
  }

  ExprPtr parse_term() {
    auto left = parse_unary();
    int links = 0;
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      count_link(links);
      const Token& op = advance();
      left = binary(op.text, std::move(left), parse_unary(), op.loc);
    }
    return left;
  }

  ExprPtr parse_unary() {
    if (!at_op("-")) return parse_postfix();
    NestingGuard guard(*this, peek().loc);
    auto expr = make(Expr::Kind::unary, advance().loc);
    expr->text = "-";
    expr->operands.push_back(parse_unary());
    return expr;
  }

  ExprPtr parse_postfix() {
    auto base = parse_primary();
    if (!at_op("[")) return base;
    if (base->kind != Expr::Kind::name) {
      throw SyntaxError{peek().loc, "only a tensor or buffer name can be subscripted"};
    }
    auto expr = make(Expr::Kind::subscript, base->loc);
    advance();
    do {
      expr->subscripts.push_back(parse_subscript());
    } while (accept_op(","));
    expect_op("]");
    expr->operands.push_back(std::move(base));
    return expr;
  }

  Subscript parse_subscript() {
    Subscript sub;
    sub.loc = peek().loc;
    ExprPtr first;
    if (!at_op(":")) first = parse_expr();
    if (!accept_op(":")) {
      sub.index = std::move(first);
      return sub;
    }
    sub.is_slice = true;
    sub.start = std::move(first);
    if (!at_op(":") && !at_op(",") && !at_op("]")) sub.stop = parse_expr();
    if (accept_op(":") && !at_op(",") && !at_op("]")) sub.step = parse_expr();
    return sub;
  }

  ExprPtr parse_primary() {
    const Token& token = peek();
    switch (token.kind) {
      case TK::integer:
        return parse_integer();
      case TK::floating:
        return parse_float();
      case TK::string: {
        auto expr = make(Expr::Kind::string, token.loc);
        expr->text = advance().text;
        return expr;
      }
      case TK::identifier:
        return parse_word();
      case TK::op:
        if (token.text == "(") {
          advance();
          auto inner = parse_expr();
          expect_op(")");
          return inner;
        }
        if (token.text == "[") return parse_list();
        break;
      default:
        break;
    }
    fail("an expression");
  }

  ExprPtr parse_integer() {
    const Token& token = advance();
    auto expr = make(Expr::Kind::integer, token.loc);
    auto [end, ec] =
        std::from_chars(token.text.data(), token.text.data() + token.text.size(), expr->int_value);
    if (ec != std::errc()) throw SyntaxError{token.loc, "integer " + token.text + " is too large"};
    return expr;
  }

  ExprPtr parse_float() {
    const Token& token = advance();
    auto expr = make(Expr::Kind::floating, token.loc);
    auto [end, ec] = std::from_chars(token.text.data(), token.text.data() + token.text.size(),
                                     expr->float_value);
    if (ec != std::errc())
      throw SyntaxError{token.loc, "number " + token.text + " is out of range"};
    return expr;
  }

  ExprPtr parse_word() {
    const Token& token = peek();
    if (token.text == "True" || token.text == "False") {
      auto expr = make(Expr::Kind::boolean, advance().loc);
      expr->bool_value = token.text == "True";
      return expr;
    }
    if (token.text == "None") return make(Expr::Kind::none, advance().loc);
    if (token.text == "inf") {
      auto expr = make(Expr::Kind::floating, advance().loc);
      expr->float_value = std::numeric_limits<double>::infinity();
      return expr;
    }
    if (kKeywords.count(token.text)) fail("an expression");
    auto name = advance();
    if (!at_op("(")) {
      auto expr = make(Expr::Kind::name, name.loc);
      expr->text = name.text;
      return expr;
    }
    return parse_call(name);
  }

  ExprPtr parse_call(const Token& callee) {
    auto expr = make(Expr::Kind::call, callee.loc);
    expr->text = callee.text;
    expect_op("(");
    if (!at_op(")")) {
      do {
        expr->args.push_back(parse_argument());
      } while (accept_op(","));
    }
    expect_op(")");
    return expr;
  }

  Argument parse_argument() {
    Argument arg;
    arg.loc = peek().loc;
    if (at(TK::identifier) && at_op("=", 1)) {
      arg.keyword = advance().text;
      advance();
    }
    arg.value = parse_expr();
    if (accept_op("->")) {
      if (!arg.keyword.empty()) throw SyntaxError{arg.loc, "'->' cannot follow a keyword argument"};
      arg.destination = parse_expr();
    }
    return arg;
  }

  ExprPtr parse_list() {
    auto expr = make(Expr::Kind::list, advance().loc);
    if (!at_op("]")) {
      do {
        expr->operands.push_back(parse_expr());
      } while (accept_op(","));
    }
    expect_op("]");
    return expr;
  }

  LexResult lexed_;
  ParseResult result_;
  std::size_t pos_ = 0;
  std::size_t next_comment_ = 0;
  int nesting_ = 0;
};

}  // namespace

ParseResult parse_sketch_source(std::string_view source, const std::string& path) {
  auto result = Parser(lex_sketch(source), path).run();
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return a.loc.line != b.loc.line ? a.loc.line < b.loc.line
                                                     : a.loc.column < b.loc.column;
                   });
  return result;
}

}  // namespace anvil::sketch
