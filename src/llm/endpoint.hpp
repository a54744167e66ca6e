#pragma once

#include <string>

#include "core/config.hpp"
#include "llm/provider.hpp"

namespace anvil::llm {

// The provider configuration of one agent role: [llm.roles.ROLE] over [llm] over the defaults.
ProviderConfig provider_config_for(const Settings& settings, const std::string& role);

// Applies a command-line value such as `--llm-model deepseek-chat` (every role) or
// `--llm-model coder=deepseek-coder` (one role). `field` is provider, base_url, model,
// api_key_env or command. A value for every role also replaces what the config file set per role.
void override_endpoint(Settings& settings, const std::string& field, const std::string& value);

bool is_role(const std::string& name);

}  // namespace anvil::llm
