#include "core/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdlib>

#include "core/error.hpp"

namespace anvil {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::filesystem::path home() { return env("HOME").value_or("/tmp"); }

std::optional<std::filesystem::path> find_config_file(
    const std::optional<std::filesystem::path>& explicit_path) {
  if (explicit_path) {
    if (!std::filesystem::exists(*explicit_path)) {
      throw UsageError("config file not found: " + explicit_path->string(),
                       "pass an existing file to --config, or leave it out to use the defaults");
    }
    return explicit_path;
  }
  if (auto from_env = env("ANVIL_CONFIG")) return std::filesystem::path(*from_env);
  std::vector<std::filesystem::path> candidates{"anvil.toml"};
  auto xdg = env("XDG_CONFIG_HOME");
  candidates.push_back((xdg ? std::filesystem::path(*xdg) : home() / ".config") / "anvil" /
                       "config.toml");
  for (const auto& path : candidates) {
    if (std::filesystem::exists(path)) return path;
  }
  return std::nullopt;
}

template <typename T>
void read_into(const toml::table& table, std::string_view section, std::string_view key, T& field) {
  auto node = table[section][key];
  if (!node) return;
  auto value = node.value<T>();
  if (!value) {
    throw UsageError(fmt::format("config key [{}].{} has the wrong type", section, key),
                     "see the example config in the README");
  }
  field = *value;
}

template <typename T>
void read_optional(const toml::table& table, const std::string& where, std::string_view key,
                   std::optional<T>& field) {
  auto node = table[key];
  if (!node) return;
  auto value = node.value<T>();
  if (!value) throw UsageError(fmt::format("config key [{}].{} has the wrong type", where, key));
  field = *value;
}

LlmEndpoint read_endpoint(const toml::table& table, const std::string& where) {
  LlmEndpoint e;
  read_optional(table, where, "provider", e.provider);
  read_optional(table, where, "base_url", e.base_url);
  read_optional(table, where, "model", e.model);
  read_optional(table, where, "api_key_env", e.api_key_env);
  read_optional(table, where, "command", e.command);
  read_optional(table, where, "reasoning_effort", e.reasoning_effort);
  read_optional(table, where, "temperature", e.temperature);
  read_optional(table, where, "timeout_s", e.timeout_s);
  read_optional(table, where, "connect_timeout_s", e.connect_timeout_s);
  read_optional(table, where, "price_in_per_mtok", e.price_in_per_mtok);
  read_optional(table, where, "price_out_per_mtok", e.price_out_per_mtok);
  read_optional(table, where, "max_tokens", e.max_tokens);
  read_optional(table, where, "max_retries", e.max_retries);
  return e;
}

void read_llm(const toml::table& table, Settings& settings) {
  const auto* llm = table["llm"].as_table();
  if (!llm) return;
  settings.llm = read_endpoint(*llm, "llm");
  const auto* roles = (*llm)["roles"].as_table();
  if (!roles) return;
  for (const auto& [role, node] : *roles) {
    const auto* override_table = node.as_table();
    if (!override_table)
      throw UsageError("[llm.roles." + std::string(role.str()) + "] must be a table");
    settings.llm_roles[std::string(role.str())] =
        read_endpoint(*override_table, "llm.roles." + std::string(role.str()));
  }
}

void apply_file(const std::filesystem::path& path, Settings& settings) {
  toml::table table;
  try {
    table = toml::parse_file(path.string());
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    throw UsageError(
        fmt::format("{}:{}:{}: {}", path.string(), where.line, where.column, error.description()),
        "fix the TOML syntax at that line");
  }
  read_into(table, "python", "interpreter", settings.python);
  read_into(table, "verify", "timeout_s", settings.timeout_s);
  read_into(table, "verify", "threads", settings.threads);
  read_into(table, "verify", "memory_limit_mb", settings.memory_limit_mb);
  read_into(table, "verify", "sandbox", settings.sandbox);
  read_into(table, "verify", "draws", settings.draws);
  read_into(table, "timing", "warmup_s", settings.timing.warmup_s);
  read_into(table, "timing", "target_s", settings.timing.target_s);
  read_into(table, "timing", "min_repeats", settings.timing.min_repeats);
  read_into(table, "timing", "max_repeats", settings.timing.max_repeats);
  read_into(table, "cpp", "compiler", settings.cxx);
  read_into(table, "cpp", "flags", settings.cxxflags);
  read_into(table, "cpp", "cache_dir", settings.cache_dir);
  read_into(table, "db", "path", settings.db_path);
  read_into(table, "db", "llm_cache", settings.llm_cache);
  read_into(table, "retrieval", "features", settings.retrieval_features);
  read_into(table, "docs", "compress", settings.compress_documents);
  read_into(table, "retrieval", "embeddings", settings.retrieval_embeddings);
  read_into(table, "retrieval", "embedding_model", settings.embedding_model);
  read_into(table, "generate", "max_iterations", settings.generate.max_iterations);
  read_into(table, "generate", "sketch_repairs", settings.generate.sketch_repairs);
  read_into(table, "generate", "max_tokens", settings.generate.max_tokens);
  read_into(table, "generate", "max_seconds", settings.generate.max_seconds);
  read_into(table, "generate", "tune_configs", settings.generate.tune_configs);
  read_into(table, "generate", "tune_seconds", settings.generate.tune_seconds);
  read_llm(table, settings);
  settings.loaded_from = path;
}

void apply_environment(Settings& settings) {
  if (auto v = env("ANVIL_PYTHON")) settings.python = *v;
  if (auto v = env("ANVIL_CXX")) settings.cxx = *v;
  if (auto v = env("ANVIL_CXXFLAGS")) settings.cxxflags = *v;
  if (auto v = env("ANVIL_CACHE_DIR")) settings.cache_dir = *v;
}

}  // namespace

void validate_settings(const Settings& settings) {
  if (settings.timeout_s <= 0) throw UsageError("timeout must be positive", "use e.g. 60");
  if (settings.draws < 2) {
    throw UsageError("[verify].draws must be at least 2",
                     "the protocol checks every shape case on two independent input draws");
  }
  if (settings.sandbox != "auto" && settings.sandbox != "bwrap" && settings.sandbox != "none") {
    throw UsageError("[verify].sandbox must be auto, bwrap or none, not '" + settings.sandbox +
                     "'");
  }
  if (settings.threads < 0) throw UsageError("threads must be 0 (all CPUs) or positive");
  if (settings.retrieval_features != "rules" && settings.retrieval_features != "llm") {
    throw UsageError("[retrieval].features must be rules or llm, not '" +
                     settings.retrieval_features + "'");
  }
  if (settings.retrieval_embeddings != "builtin" && settings.retrieval_embeddings != "endpoint") {
    throw UsageError("[retrieval].embeddings must be builtin or endpoint");
  }
  if (settings.retrieval_embeddings == "endpoint" && settings.embedding_model.empty()) {
    throw UsageError(
        "[retrieval].embeddings = \"endpoint\" needs [retrieval].embedding_model",
        "name the endpoint's embedding model, e.g. text-embedding-3-small or nomic-embed-text");
  }
  if (settings.generate.tune_configs < 1)
    throw UsageError("[generate].tune_configs must be at least 1");
  if (settings.generate.max_iterations < 1)
    throw UsageError("[generate].max_iterations must be at least 1");
}

Settings load_settings(const std::optional<std::filesystem::path>& explicit_path) {
  Settings settings;
  if (auto path = find_config_file(explicit_path)) apply_file(*path, settings);
  apply_environment(settings);
  validate_settings(settings);
  return settings;
}

std::filesystem::path kernel_cache_dir(const Settings& settings) {
  if (!settings.cache_dir.empty()) return settings.cache_dir;
  return home() / ".cache" / "anvil";
}

}  // namespace anvil
