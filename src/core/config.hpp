#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace anvil {

struct TimingBudget {
  double warmup_s = 0.2;  // warm-up calls run at least this long (and at least 3 calls)
  double target_s = 1.0;  // timed calls continue until their total reaches this
  int min_repeats = 10;
  int max_repeats = 10000;
};

// One way to reach an LLM, as written in [llm] (defaults for every role) or [llm.roles.ROLE]
// (overrides for one role); unset fields fall through to the next level.
struct LlmEndpoint {
  std::optional<std::string> provider, base_url, model, api_key_env, command, reasoning_effort;
  std::optional<double> temperature, timeout_s, connect_timeout_s, price_in_per_mtok,
      price_out_per_mtok;
  std::optional<int> max_tokens, max_retries;
};

struct GenerateLimits {
  int max_iterations = 5;  // Designer/Coder/Verifier rounds per task
  int sketch_repairs = 3;  // Designer retries on sketch diagnostics within one round
  long max_tokens = 0;     // total tokens per task; 0 = unlimited
  double max_seconds = 0;  // wall time per task; 0 = unlimited
  // Built-in provider: tile/hint configurations verified per task, and the time they may take
  // (the first is always tried).
  int tune_configs = 3;
  double tune_seconds = 180;
};

// Everything a run can be configured with. Precedence: command-line flag > environment
// variable > config file > these defaults.
struct Settings {
  std::string python = "/usr/bin/python3";
  int timeout_s = 60;            // per child process
  int threads = 0;               // threads for both timing sides; 0 = every online CPU
  int memory_limit_mb = 16384;   // address-space limit of candidate processes; 0 = none
  std::string sandbox = "auto";  // auto | bwrap | none
  int draws = 2;                 // independent input draws per shape case (at least 2)
  TimingBudget timing;
  std::string cxx = "g++";
  std::string cxxflags = "-O3 -march=native -fopenmp -shared -fPIC";
  std::string cache_dir;                         // empty: ~/.cache/anvil
  LlmEndpoint llm;                               // [llm]
  std::map<std::string, LlmEndpoint> llm_roles;  // [llm.roles.<role>]
  std::string db_path = "anvil.db";              // [db].path
  std::string llm_cache = "rw";                  // [db].llm_cache: rw | read | off
  GenerateLimits generate;                       // [generate]
  std::string retrieval_features = "rules";  // [retrieval].features: rules | llm (FeatureExtractor)
  std::string retrieval_embeddings = "builtin";  // [retrieval].embeddings: builtin | endpoint
  std::string embedding_model;                   // [retrieval].embedding_model (endpoint)
  bool compress_documents = false;    // [docs].compress: long entries shortened by the LLM
  std::filesystem::path loaded_from;  // the config file read, if any
};

// Reads the config file (explicit path, else $ANVIL_CONFIG, else ./anvil.toml, else
// $XDG_CONFIG_HOME/anvil/config.toml or ~/.config/anvil/config.toml), then the environment
// (ANVIL_PYTHON, ANVIL_CXX, ANVIL_CXXFLAGS, ANVIL_CACHE_DIR). Throws UsageError on a bad file.
Settings load_settings(const std::optional<std::filesystem::path>& explicit_path = std::nullopt);

// Throws UsageError naming the first setting out of range.
void validate_settings(const Settings& settings);

// The folder compiled kernels are cached in.
std::filesystem::path kernel_cache_dir(const Settings& settings);

}  // namespace anvil
