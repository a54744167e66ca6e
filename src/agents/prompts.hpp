#pragma once

#include <map>
#include <optional>
#include <string>

namespace anvil::agents {

// Renders `prompts/<name>.txt`, replacing each `{{variable}}` with its value. A placeholder
// without a value is an error, so a prompt can never go out half-filled. (Plain substitution is
// all the templates need; a template library would add nothing here.)
std::string render_prompt(const std::string& name,
                          const std::map<std::string, std::string>& values);

// The content of the last ```<language> fenced block of a reply, or nullopt.
std::optional<std::string> fenced_block(const std::string& reply, const std::string& language);

}  // namespace anvil::agents
