#include "agents/prompts.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"

namespace anvil::agents {

std::string render_prompt(const std::string& name,
                          const std::map<std::string, std::string>& values) {
  auto path = anvil_home() / "prompts" / (name + ".txt");
  if (!std::filesystem::exists(path)) {
    throw Error("prompt template missing: " + path.string(), "reinstall Anvil or set ANVIL_HOME");
  }
  std::string text = read_text_file(path);
  std::string out;
  std::size_t pos = 0;
  while (true) {
    auto open = text.find("{{", pos);
    if (open == std::string::npos) break;
    auto close = text.find("}}", open);
    if (close == std::string::npos) break;
    std::string key = text.substr(open + 2, close - open - 2);
    auto it = values.find(key);
    if (it == values.end()) throw Error("prompt " + name + " needs a value for {{" + key + "}}");
    out += text.substr(pos, open - pos) + it->second;
    pos = close + 2;
  }
  return out + text.substr(pos);
}

std::optional<std::string> fenced_block(const std::string& reply, const std::string& language) {
  const std::string fence = "```" + language;
  std::optional<std::string> last;
  std::size_t pos = 0;
  while ((pos = reply.find(fence, pos)) != std::string::npos) {
    auto line_end = reply.find('\n', pos);
    // ```python3 is not ```python: the info string must end after the language name.
    std::string info = reply.substr(
        pos + fence.size(), line_end == std::string::npos ? 0 : line_end - pos - fence.size());
    if (line_end == std::string::npos || info.find_first_not_of(" \t\r") != std::string::npos) {
      pos += fence.size();
      continue;
    }
    auto close = reply.find("\n```", line_end);
    if (close == std::string::npos) break;
    last = reply.substr(line_end + 1, close - line_end);
    pos = close + 4;
  }
  return last;
}

}  // namespace anvil::agents
