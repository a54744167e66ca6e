// OpenAI-compatible chat completions (DeepSeek, vLLM, SGLang, Ollama, llama.cpp server, OpenAI).
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <functional>

#include "llm/http.hpp"
#include "llm/provider.hpp"

namespace anvil::llm {
namespace {

std::string api_key(const ProviderConfig& config) {
  if (config.api_key_env.empty()) return {};
  const char* key = std::getenv(config.api_key_env.c_str());
  if (key == nullptr || *key == '\0') {
    throw ProviderError(
        "the API key variable " + config.api_key_env + " is not set",
        "export " + config.api_key_env + "=... or change --llm-key-env / [llm].api_key_env", false);
  }
  return key;
}

std::string error_text(const HttpResponse& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error")) {
    const auto& error = body["error"];
    if (error.is_object()) return error.value("message", error.dump());
    return error.dump();
  }
  return response.body.substr(0, 300);
}

double retry_after_seconds(const HttpResponse& response) {
  auto it = response.headers.find("retry-after");
  if (it == response.headers.end()) return -1;
  char* end = nullptr;
  double seconds = std::strtod(it->second.c_str(), &end);
  return end != it->second.c_str() && seconds >= 0 ? seconds : -1;
}

// Turns a non-200 answer into the right ProviderError: 429 and 5xx are transient.
[[noreturn]] void reject(const std::string& provider, const std::string& url,
                         const HttpResponse& response, double& retry_after_s) {
  bool transient = response.status == 429 || response.status >= 500;
  retry_after_s = retry_after_seconds(response);
  std::string hint = response.status == 401 || response.status == 403
                         ? "check the API key (--llm-key-env) and the model's access"
                     : response.status == 404
                         ? "check the base URL (it usually ends in /v1) and the model name"
                     : transient ? "the endpoint is overloaded or failing; retried with backoff"
                                 : "check the model name and the request parameters";
  throw ProviderError(fmt::format("{} endpoint {} answered HTTP {}: {}", provider, url,
                                  response.status, error_text(response)),
                      hint, transient);
}

// POSTs a chat request with retries; `parse` turns a 200 body into a reply, and the time taken
// and the cost are added here for every protocol alike.
ChatReply post_chat(const ProviderConfig& config, const std::string& provider,
                    const std::string& url, const std::map<std::string, std::string>& headers,
                    const std::string& payload,
                    const std::function<ChatReply(const HttpResponse&)>& parse) {
  return with_retries(config, [&](double& retry_after_s) {
    auto started = std::chrono::steady_clock::now();
    auto response = http_post(url, headers, payload, config.connect_timeout_s, config.timeout_s);
    if (response.status != 200) reject(provider, url, response, retry_after_s);
    ChatReply reply = parse(response);
    reply.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    reply.cost = cost_of(config, reply.usage);
    return reply;
  });
}

class OpenAiProvider : public Provider {
 public:
  explicit OpenAiProvider(ProviderConfig config) : config_(std::move(config)) {
    if (config_.base_url.empty()) {
      throw UsageError("the openai provider needs a base URL",
                       "set --llm-url or [llm].base_url, e.g. http://localhost:8000/v1");
    }
  }

  ChatReply complete(const ChatRequest& request) override {
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : request.messages)
      messages.push_back({{"role", m.role}, {"content", m.content}});
    nlohmann::json body{{"model", config_.model},
                        {"messages", messages},
                        {"temperature", config_.temperature},
                        {"max_tokens", config_.max_tokens}};
    if (!config_.reasoning_effort.empty()) body["reasoning_effort"] = config_.reasoning_effort;
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"},
                                               {"X-Anvil-Role", request.agent_role}};
    if (auto key = api_key(config_); !key.empty()) headers["Authorization"] = "Bearer " + key;
    std::string url = config_.base_url + "/chat/completions";
    return post_chat(config_, "OpenAI-compatible", url, headers, body.dump(),
                     [&](const HttpResponse& response) { return parse(response, url); });
  }

  const ProviderConfig& config() const override { return config_; }

 private:
  static ChatReply parse(const HttpResponse& response, const std::string& url) {
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (!json.is_object() || !json.contains("choices") || json["choices"].empty()) {
      throw ProviderError("unexpected reply from " + url + ": " + response.body.substr(0, 200),
                          "the endpoint does not speak the chat-completions protocol", true);
    }
    ChatReply reply;
    const auto& message = json["choices"][0]["message"];
    if (message.contains("content") && message["content"].is_string())
      reply.content = message["content"];
    if (json.contains("usage") && json["usage"].is_object()) {
      reply.usage.prompt_tokens = json["usage"].value("prompt_tokens", 0);
      reply.usage.completion_tokens = json["usage"].value("completion_tokens", 0);
    }
    return reply;
  }

  ProviderConfig config_;
};

class AnthropicProvider : public Provider {
 public:
  explicit AnthropicProvider(ProviderConfig config) : config_(std::move(config)) {
    if (config_.base_url.empty()) config_.base_url = "https://api.anthropic.com/v1";
  }

  ChatReply complete(const ChatRequest& request) override {
    std::string system;
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : request.messages) {
      if (m.role == "system") {
        system += (system.empty() ? "" : "\n\n") + m.content;
      } else {
        messages.push_back({{"role", m.role}, {"content", m.content}});
      }
    }
    nlohmann::json body{{"model", config_.model},
                        {"messages", messages},
                        {"max_tokens", config_.max_tokens},
                        {"temperature", config_.temperature}};
    if (!system.empty()) body["system"] = system;
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"},
                                               {"anthropic-version", "2023-06-01"},
                                               {"X-Anvil-Role", request.agent_role}};
    if (auto key = api_key(config_); !key.empty()) headers["x-api-key"] = key;
    std::string url = config_.base_url + "/messages";
    return post_chat(config_, "Anthropic", url, headers, body.dump(),
                     [&](const HttpResponse& response) { return parse(response, url); });
  }

  const ProviderConfig& config() const override { return config_; }

 private:
  static ChatReply parse(const HttpResponse& response, const std::string& url) {
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (!json.is_object() || !json.contains("content")) {
      throw ProviderError("unexpected reply from " + url + ": " + response.body.substr(0, 200),
                          "the endpoint does not speak the Messages API", true);
    }
    ChatReply reply;
    for (const auto& part : json["content"]) {
      if (part.value("type", "") == "text") reply.content += part.value("text", "");
    }
    if (json.contains("usage")) {
      reply.usage.prompt_tokens = json["usage"].value("input_tokens", 0);
      reply.usage.completion_tokens = json["usage"].value("output_tokens", 0);
    }
    return reply;
  }

  ProviderConfig config_;
};

}  // namespace

std::unique_ptr<Provider> make_openai_provider(const ProviderConfig& config) {
  return std::make_unique<OpenAiProvider>(config);
}

std::unique_ptr<Provider> make_anthropic_provider(const ProviderConfig& config) {
  return std::make_unique<AnthropicProvider>(config);
}

std::vector<std::vector<float>> embed_texts(const ProviderConfig& config,
                                            const std::vector<std::string>& texts) {
  if (config.base_url.empty()) {
    throw UsageError("embeddings from an endpoint need its base URL",
                     "set [llm].base_url or --llm-url");
  }
  std::map<std::string, std::string> headers{{"Content-Type", "application/json"},
                                             {"X-Anvil-Role", "feature_extractor"}};
  if (auto key = api_key(config); !key.empty()) headers["Authorization"] = "Bearer " + key;
  std::string url = config.base_url + "/embeddings";
  std::vector<std::vector<float>> vectors;
  // with_retries speaks ChatReply; the vectors travel beside it.
  post_chat(
      config, "embeddings", url, headers,
      nlohmann::json{{"model", config.model}, {"input", texts}}.dump(),
      [&](const HttpResponse& response) {
        auto json = nlohmann::json::parse(response.body, nullptr, false);
        if (!json.is_object() || !json.contains("data") || json["data"].size() != texts.size()) {
          throw ProviderError("unexpected reply from " + url + ": " + response.body.substr(0, 200),
                              "the endpoint does not serve the embeddings protocol", false);
        }
        vectors.clear();
        for (const auto& item : json["data"])
          vectors.push_back(item.at("embedding").get<std::vector<float>>());
        return ChatReply{};
      });
  return vectors;
}

}  // namespace anvil::llm
