#include "sketch/lexer.hpp"

#include <cctype>
#include <utility>

namespace anvil::sketch {
namespace {

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Longest match first.
constexpr std::string_view kOperators[] = {"->", "//", "<=", ">=", "==", "!=", "(", ")",
                                           "[",  "]",  "{",  "}",  ",",  ":",  "=", "@",
                                           "+",  "-",  "*",  "/",  "%",  "<",  ">", "."};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(source) {}

  LexResult run() {
    std::size_t pos = 0;
    int line = 1;
    while (pos < source_.size()) {
      std::size_t end = source_.find('\n', pos);
      if (end == std::string_view::npos) end = source_.size();
      lex_line(source_.substr(pos, end - pos), line);
      pos = end + 1;
      ++line;
    }
    Location eof{line, 1};
    if (depth_ > 0)
      error(open_brackets_.back().first, "'" + open_brackets_.back().second + "' is never closed");
    if (line_has_tokens_) push(Token::Kind::newline, "", eof);
    while (indents_.size() > 1) {
      indents_.pop_back();
      push(Token::Kind::dedent, "", eof);
    }
    push(Token::Kind::end, "", eof);
    return std::move(result_);
  }

 private:
  void lex_line(std::string_view text, int line) {
    std::size_t col = 0;
    while (col < text.size() && (text[col] == ' ' || text[col] == '\t' || text[col] == '\r')) ++col;
    bool blank = col == text.size() || text[col] == '#';
    if (depth_ > 0 && !blank && static_cast<int>(col) <= logical_indent_ && text[col] != ')' &&
        text[col] != ']') {
      // A new statement at the outer indentation: the bracket was never closed. Report it where it
      // opened and go on, so the statements after it still get their own diagnostics.
      auto [open_loc, open_text] = open_brackets_.back();
      error(open_loc, "'" + open_text + "' is never closed");
      depth_ = 0;
      open_brackets_.clear();
      push(Token::Kind::newline, "",
           open_loc);  // the parser's own complaint lands on the same spot
      line_has_tokens_ = false;
    }
    if (depth_ == 0 && !blank) {
      if (text.substr(0, col).find('\t') != std::string_view::npos) {
        error({line, 1}, "tabs are not allowed in indentation; indent with spaces");
        logical_indent_ = indents_.back();  // keep the current block rather than cascade errors
      } else {
        logical_indent_ = static_cast<int>(col);
        indent_to(logical_indent_, {line, logical_indent_ + 1});
      }
    }
    while (col < text.size()) {
      char c = text[col];
      Location loc{line, static_cast<int>(col) + 1};
      if (c == ' ' || c == '\t' || c == '\r') {
        ++col;
      } else if (c == '#') {
        comment(text.substr(col + 1), loc, blank);
        break;
      } else if (is_ident_start(c)) {
        std::size_t start = col;
        while (col < text.size() && is_ident_char(text[col])) ++col;
        push(Token::Kind::identifier, std::string(text.substr(start, col - start)), loc);
      } else if (is_digit(c) || (c == '.' && col + 1 < text.size() && is_digit(text[col + 1]))) {
        col = number(text, col, loc);
      } else if (c == '"') {
        col = string(text, col, loc);
      } else {
        col = op(text, col, loc);
      }
    }
    if (depth_ == 0 && line_has_tokens_) {
      push(Token::Kind::newline, "", {line, static_cast<int>(text.size()) + 1});
      line_has_tokens_ = false;
    }
  }

  void indent_to(int width, Location loc) {
    if (width > indents_.back()) {
      indents_.push_back(width);
      push(Token::Kind::indent, "", loc);
      return;
    }
    while (width < indents_.back()) {
      indents_.pop_back();
      push(Token::Kind::dedent, "", loc);
    }
    if (width != indents_.back()) {
      error(loc, "this line's indentation matches no enclosing block");
      indents_.push_back(width);
    }
  }

  void comment(std::string_view text, Location loc, bool own_line) {
    std::size_t b = text.find_first_not_of(' ');
    std::size_t e = text.find_last_not_of(" \r");
    std::string trimmed = b == std::string_view::npos ? "" : std::string(text.substr(b, e - b + 1));
    result_.comments.push_back({trimmed, loc, own_line});
  }

  std::size_t number(std::string_view text, std::size_t col, Location loc) {
    std::size_t start = col;
    bool floating = false;
    while (col < text.size() && is_digit(text[col])) ++col;
    if (col < text.size() && text[col] == '.') {
      floating = true;
      ++col;
      while (col < text.size() && is_digit(text[col])) ++col;
    }
    if (col < text.size() && (text[col] == 'e' || text[col] == 'E')) {
      std::size_t exp = col + 1;
      if (exp < text.size() && (text[exp] == '+' || text[exp] == '-')) ++exp;
      if (exp < text.size() && is_digit(text[exp])) {
        floating = true;
        col = exp;
        while (col < text.size() && is_digit(text[col])) ++col;
      }
    }
    if (col < text.size() && is_ident_char(text[col])) {
      error(loc, "malformed number '" + std::string(text.substr(start, col - start + 1)) + "'");
      while (col < text.size() && is_ident_char(text[col])) ++col;
      return col;
    }
    push(floating ? Token::Kind::floating : Token::Kind::integer,
         std::string(text.substr(start, col - start)), loc);
    return col;
  }

  std::size_t string(std::string_view text, std::size_t col, Location loc) {
    std::string value;
    for (++col; col < text.size() && text[col] != '"'; ++col) {
      if (text[col] == '\\' && col + 1 < text.size()) ++col;
      value += text[col];
    }
    if (col >= text.size()) {
      error(loc, "unterminated string: add the closing '\"'");
      return col;
    }
    push(Token::Kind::string, value, loc);
    return col + 1;
  }

  std::size_t op(std::string_view text, std::size_t col, Location loc) {
    for (auto candidate : kOperators) {
      if (text.substr(col, candidate.size()) != candidate) continue;
      if (candidate == "(" || candidate == "[") {
        ++depth_;
        open_brackets_.emplace_back(loc, std::string(candidate));
      }
      if ((candidate == ")" || candidate == "]") && depth_ > 0) {
        --depth_;
        open_brackets_.pop_back();
      }
      push(Token::Kind::op, std::string(candidate), loc);
      return col + candidate.size();
    }
    error(loc, std::string("unexpected character '") + text[col] + "'");
    return col + 1;
  }

  void push(Token::Kind kind, std::string text, Location loc) {
    if (kind != Token::Kind::newline && kind != Token::Kind::indent &&
        kind != Token::Kind::dedent && kind != Token::Kind::end) {
      line_has_tokens_ = true;
    }
    result_.tokens.push_back({kind, std::move(text), loc});
  }

  void error(Location loc, std::string message) {
    result_.diagnostics.push_back({Diagnostic::Severity::error, loc, std::move(message)});
  }

  std::string_view source_;
  LexResult result_;
  std::vector<int> indents_{0};
  int depth_ = 0;
  std::vector<std::pair<Location, std::string>> open_brackets_;
  int logical_indent_ = 0;  // indentation of the line the current logical line started on
  bool line_has_tokens_ = false;
};

}  // namespace

LexResult lex_sketch(std::string_view source) { return Lexer(source).run(); }

}  // namespace anvil::sketch
