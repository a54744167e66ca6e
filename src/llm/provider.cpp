#include "llm/provider.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "core/hash.hpp"

namespace anvil::llm {

std::unique_ptr<Provider> make_openai_provider(const ProviderConfig& config);
std::unique_ptr<Provider> make_anthropic_provider(const ProviderConfig& config);
std::unique_ptr<Provider> make_exec_provider(const ProviderConfig& config);
std::unique_ptr<Provider> make_manual_provider(const ProviderConfig& config);

namespace {

// Answers only from the cache: every request reaching it is a miss.
class ReplayProvider : public Provider {
 public:
  explicit ReplayProvider(ProviderConfig config) : config_(std::move(config)) {}
  ChatReply complete(const ChatRequest& request) override {
    throw ProviderError(
        fmt::format("replay: no cached reply for the {} request {} (model {})", request.agent_role,
                    short_hash(cache_key(config_, request)), config_.model),
        "replay only answers requests an earlier run made with the same model, prompts and "
        "parameters; run with a live provider to fill the cache",
        false);
  }
  const ProviderConfig& config() const override { return config_; }

 private:
  ProviderConfig config_;
};

class CachingProvider : public Provider {
 public:
  CachingProvider(std::unique_ptr<Provider> inner, ResponseCache* cache, CacheMode mode)
      : inner_(std::move(inner)), cache_(cache), mode_(mode) {}

  ChatReply complete(const ChatRequest& request) override {
    if (!cache_ || mode_ == CacheMode::off) return inner_->complete(request);
    auto key = cache_key(inner_->config(), request);
    if (auto hit = cache_->find(key)) {
      ChatReply reply{hit->reply, {hit->prompt_tokens, hit->completion_tokens}, 0, 0, true, 0};
      return reply;
    }
    ChatReply reply = inner_->complete(request);
    if (mode_ == CacheMode::read_write) {
      cache_->put(key, inner_->config().kind, inner_->config().model, request.agent_role,
                  {reply.content, reply.usage.prompt_tokens, reply.usage.completion_tokens});
    }
    return reply;
  }
  const ProviderConfig& config() const override { return inner_->config(); }

 private:
  std::unique_ptr<Provider> inner_;
  ResponseCache* cache_;
  CacheMode mode_;
};

}  // namespace

std::unique_ptr<Provider> make_provider(const ProviderConfig& config) {
  if (config.kind == "openai") return make_openai_provider(config);
  if (config.kind == "anthropic") return make_anthropic_provider(config);
  if (config.kind == "builtin") {
    throw UsageError(
        "the builtin provider is not a chat model: it only runs `anvil generate` "
        "(rule-based Designer and sketch lowering)",
        "use --llm builtin with generate, or configure an LLM endpoint here");
  }
  if (config.kind == "exec") return make_exec_provider(config);
  if (config.kind == "manual") return make_manual_provider(config);
  if (config.kind == "replay") return std::make_unique<ReplayProvider>(config);
  throw UsageError(
      "unknown LLM provider '" + config.kind + "'",
      "use one of: openai, anthropic, exec, manual, replay, builtin (--llm or [llm].provider)");
}

std::string cache_key(const ProviderConfig& config, const ChatRequest& request) {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : request.messages)
    messages.push_back({{"role", m.role}, {"content", m.content}});
  // The provider kind is stored beside the key, not in it, so `replay` answers what any live
  // provider was asked with the same model, messages and parameters.
  nlohmann::json key{{"model", config.model},
                     {"agent_role", request.agent_role},
                     {"messages", messages},
                     {"temperature", config.temperature},
                     {"max_tokens", config.max_tokens},
                     {"reasoning_effort", config.reasoning_effort}};
  return key.dump();
}

std::string short_hash(const std::string& text) { return fmt::format("{:016x}", fnv1a(text)); }

CacheMode parse_cache_mode(const std::string& text) {
  if (text == "rw") return CacheMode::read_write;
  if (text == "read") return CacheMode::read;
  if (text == "off") return CacheMode::off;
  throw UsageError("--cache takes rw, read or off, not '" + text + "'");
}

std::unique_ptr<Provider> with_cache(std::unique_ptr<Provider> inner, ResponseCache* cache,
                                     CacheMode mode) {
  return std::make_unique<CachingProvider>(std::move(inner), cache, mode);
}

double cost_of(const ProviderConfig& config, const Usage& usage) {
  return (usage.prompt_tokens * config.price_in_per_mtok +
          usage.completion_tokens * config.price_out_per_mtok) /
         1e6;
}

ChatReply with_retries(const ProviderConfig& config,
                       const std::function<ChatReply(double& retry_after_s)>& attempt) {
  thread_local std::mt19937 rng(std::random_device{}());
  for (int tries = 1;; ++tries) {
    double retry_after_s = -1;
    try {
      ChatReply reply = attempt(retry_after_s);
      reply.attempts = tries;
      return reply;
    } catch (const ProviderError& error) {
      if (!error.transient() || tries > config.max_retries) {
        if (!error.transient()) throw;
        throw ProviderError(fmt::format("{} (gave up after {} attempts)", error.what(), tries),
                            error.hint(), true);
      }
      double backoff =
          std::min(config.backoff_max_s, config.backoff_base_s * std::pow(2.0, tries - 1));
      std::uniform_real_distribution<double> jitter(0.5, 1.0);  // spread concurrent clients apart
      double wait = retry_after_s >= 0 ? retry_after_s : backoff * jitter(rng);
      std::this_thread::sleep_for(
          std::chrono::duration<double>(std::min(wait, config.backoff_max_s)));
    }
  }
}

}  // namespace anvil::llm
