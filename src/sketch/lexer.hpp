#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sketch/ast.hpp"
#include "sketch/diagnostics.hpp"

namespace anvil::sketch {

struct Token {
  enum class Kind { identifier, integer, floating, string, op, newline, indent, dedent, end };
  Kind kind = Kind::end;
  std::string text;  // identifier name, operator, string contents, or the number as written
  Location loc;
};

// A `#` comment; `own_line` when nothing but whitespace precedes it on its line.
struct Comment {
  std::string text;  // without the leading '#', trimmed
  Location loc;
  bool own_line = false;
};

struct LexResult {
  std::vector<Token> tokens;  // always ends with Kind::end
  std::vector<Comment> comments;
  std::vector<Diagnostic> diagnostics;
};

// Python-style layout: NEWLINE ends a logical line, INDENT/DEDENT mark indentation changes;
// inside ( ) and [ ] lines join. Tabs in indentation are an error.
LexResult lex_sketch(std::string_view source);

}  // namespace anvil::sketch
