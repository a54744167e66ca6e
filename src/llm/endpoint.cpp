#include "llm/endpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace anvil::llm {
namespace {

std::optional<std::string>& field_of(LlmEndpoint& endpoint, const std::string& field) {
  if (field == "provider") return endpoint.provider;
  if (field == "base_url") return endpoint.base_url;
  if (field == "model") return endpoint.model;
  if (field == "api_key_env") return endpoint.api_key_env;
  if (field == "command") return endpoint.command;
  throw UsageError("unknown LLM setting '" + field + "'");
}

template <typename T>
void take(const std::optional<T>& from, T& into) {
  if (from) into = *from;
}

void apply(const LlmEndpoint& e, ProviderConfig& config) {
  take(e.provider, config.kind);
  take(e.base_url, config.base_url);
  take(e.model, config.model);
  take(e.api_key_env, config.api_key_env);
  take(e.command, config.command);
  take(e.reasoning_effort, config.reasoning_effort);
  take(e.temperature, config.temperature);
  take(e.timeout_s, config.timeout_s);
  take(e.connect_timeout_s, config.connect_timeout_s);
  take(e.price_in_per_mtok, config.price_in_per_mtok);
  take(e.price_out_per_mtok, config.price_out_per_mtok);
  take(e.max_tokens, config.max_tokens);
  take(e.max_retries, config.max_retries);
}

}  // namespace

bool is_role(const std::string& name) {
  return std::find(std::begin(kRoles), std::end(kRoles), name) != std::end(kRoles);
}

ProviderConfig provider_config_for(const Settings& settings, const std::string& role) {
  ProviderConfig config;
  apply(settings.llm, config);
  if (auto it = settings.llm_roles.find(role); it != settings.llm_roles.end())
    apply(it->second, config);
  while (!config.base_url.empty() && config.base_url.back() == '/') config.base_url.pop_back();
  return config;
}

void override_endpoint(Settings& settings, const std::string& field, const std::string& value) {
  auto eq = value.find('=');
  if (eq != std::string::npos && is_role(value.substr(0, eq))) {
    field_of(settings.llm_roles[value.substr(0, eq)], field) = value.substr(eq + 1);
    return;
  }
  field_of(settings.llm, field) = value;
  for (auto& [role, endpoint] : settings.llm_roles) field_of(endpoint, field).reset();
}

}  // namespace anvil::llm
