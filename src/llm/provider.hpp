#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace anvil::llm {

// The agent roles; every request says which one it serves (X-Anvil-Role over HTTP).
inline constexpr const char* kRoles[] = {"designer", "coder", "conductor", "analyzer",
                                         "feature_extractor"};

struct Message {
  std::string role;  // system | user | assistant
  std::string content;
};

struct ChatRequest {
  std::string agent_role;
  std::vector<Message> messages;
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

struct ChatReply {
  std::string content;
  Usage usage;
  double seconds = 0;
  double cost = 0;  // estimated from the configured prices per million tokens
  bool from_cache = false;
  int attempts = 1;  // HTTP attempts, retries included
};

// How to reach one model. Resolved per agent role from the config file and the command line.
struct ProviderConfig {
  std::string kind = "openai";  // openai | anthropic | exec | manual | replay
  std::string base_url;         // openai, anthropic
  std::string model;
  std::string api_key_env;  // name of the environment variable holding the key
  std::string command;      // exec: a shell command
  double temperature = 0.2;
  int max_tokens = 8192;
  std::string reasoning_effort;  // passed through when set (e.g. "high")
  double connect_timeout_s = 10;
  double timeout_s = 600;
  int max_retries = 4;
  double backoff_base_s = 1;
  double backoff_max_s = 60;
  double price_in_per_mtok = 0;
  double price_out_per_mtok = 0;
  std::filesystem::path manual_dir;  // manual: where prompts are written and replies awaited
  double manual_timeout_s = 24 * 3600;
};

// A provider failure with the provider, what happened and what to try. `transient` failures
// (429, 5xx, timeouts, refused connections) were retried before this was thrown.
class ProviderError : public Error {
 public:
  ProviderError(const std::string& message, std::string hint, bool transient)
      : Error(message, std::move(hint)), transient_(transient) {}
  bool transient() const { return transient_; }

 private:
  bool transient_;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual ChatReply complete(const ChatRequest& request) = 0;
  virtual const ProviderConfig& config() const = 0;
};

std::unique_ptr<Provider> make_provider(const ProviderConfig& config);

// The request as it goes to the model, canonical JSON: the response cache's key.
std::string cache_key(const ProviderConfig& config, const ChatRequest& request);

// A short stable hash (FNV-1a, hex) of a text, for traces.
std::string short_hash(const std::string& text);

// Where replies are remembered (the SQLite database implements it: store::LlmCache).
class ResponseCache {
 public:
  struct Entry {
    std::string reply;
    int prompt_tokens = 0;
    int completion_tokens = 0;
  };
  virtual ~ResponseCache() = default;
  virtual std::optional<Entry> find(const std::string& key) = 0;
  virtual void put(const std::string& key, const std::string& provider, const std::string& model,
                   const std::string& role, const Entry& entry) = 0;
};

enum class CacheMode { read_write, read, off };
CacheMode parse_cache_mode(const std::string& text);

// Answers from the cache when it can, asks `inner` otherwise and stores the reply (read_write).
// With kind "replay", a miss is an error naming the request.
std::unique_ptr<Provider> with_cache(std::unique_ptr<Provider> inner, ResponseCache* cache,
                                     CacheMode mode);

double cost_of(const ProviderConfig& config, const Usage& usage);

// Embeddings from an OpenAI-compatible /v1/embeddings endpoint (base_url, model, api_key_env of
// `config`), one vector per text, with the same retries as chat requests.
std::vector<std::vector<float>> embed_texts(const ProviderConfig& config,
                                            const std::vector<std::string>& texts);

// Retries `attempt` on transient ProviderErrors with exponential backoff and jitter; a
// Retry-After the server sent (seconds, passed through `retry_after_s`) is honoured.
ChatReply with_retries(const ProviderConfig& config,
                       const std::function<ChatReply(double& retry_after_s)>& attempt);

}  // namespace anvil::llm
