#pragma once

// A scripted LLM endpoint for tests: a real HTTP server on 127.0.0.1 that speaks the OpenAI
// chat-completions and embeddings protocol and the Anthropic Messages protocol, and answers
// each completion request with the next reply a test scripted.
//
//   anvil::testing::FakeLlmServer llm;
//   llm.script({anvil::testing::ScriptedReply::text("def kernel(): ...")});
//   agent.set_base_url(llm.base_url());           // "http://127.0.0.1:PORT/v1"
//   ...
//   EXPECT_EQ(llm.requests().at(0).headers.at("x-anvil-role"), "coder");
//
// Endpoints (relative to base_url()):
//   POST /chat/completions  OpenAI chat.completion; consumes one scripted reply
//   POST /messages          Anthropic message; consumes one scripted reply
//   POST /embeddings        deterministic vectors (see below); consumes no scripted reply
//   GET  /models            a list with one model ("anvil-fake-model")
// Anything else is 404. A body that is not JSON is 400; so is a completion request without
// "model" or "messages" (or, for /messages, without "max_tokens"), or one asking to stream.
// These 400s consume no scripted reply. When no reply is left the answer is 500 with a message
// saying the script ran out, so a test fails loudly instead of hanging.
//
// Note: inside `namespace anvil`, `testing::X` now names anvil::testing; write `::testing::X`
// for GoogleTest names in files that include this header.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace anvil::testing {

// The request header that selects a role queue (see FakeLlmServer::script_for_role).
inline constexpr const char* kRoleHeader = "X-Anvil-Role";

// Dimensions of an embedding when the request does not ask for "dimensions".
inline constexpr int kDefaultEmbeddingDimensions = 64;

struct ScriptedReply {
  int status = 200;  // HTTP status
  // Assistant text for status 200 (wrapped in the protocol's JSON); the error message otherwise.
  std::string content;
  std::map<std::string, std::string> headers;  // sent as given, e.g. {"Retry-After", "1"}
  std::string raw_body;  // if non-empty, sent verbatim (with `status`) instead of protocol JSON
  // Wait before answering. A delay longer than the client's timeout = "never answers". The wait
  // ends early (with a 503) when the server is destroyed.
  std::chrono::milliseconds delay{0};
  int prompt_tokens = 0, completion_tokens = 0;  // usage reported; 0 = estimate from lengths

  // Builders. GCC's -Wextra flags designated initializers that leave fields out
  // ({.content = "x"} is an error under -Werror), so tests build replies with these:
  //   server.script({ScriptedReply::text("def kernel(): ..."),
  //                  ScriptedReply::error(429, "slow down").with_header("Retry-After", "1"),
  //                  ScriptedReply::text("late").with_delay(std::chrono::seconds(30))});
  static ScriptedReply text(std::string content) {
    ScriptedReply reply;
    reply.content = std::move(content);
    return reply;
  }
  // A non-200 status with the protocol's error JSON carrying `message`.
  static ScriptedReply error(int status, std::string message) {
    ScriptedReply reply;
    reply.status = status;
    reply.content = std::move(message);
    return reply;
  }
  // `body` sent verbatim with `status` (e.g. truncated JSON, an HTML error page).
  static ScriptedReply raw(int status, std::string body) {
    ScriptedReply reply;
    reply.status = status;
    reply.raw_body = std::move(body);
    return reply;
  }
  ScriptedReply with_header(const std::string& name, std::string value) const {
    ScriptedReply reply = *this;
    reply.headers[name] = std::move(value);
    return reply;
  }
  ScriptedReply with_delay(std::chrono::milliseconds wait) const {
    ScriptedReply reply = *this;
    reply.delay = wait;
    return reply;
  }
  ScriptedReply with_usage(int prompt, int completion) const {
    ScriptedReply reply = *this;
    reply.prompt_tokens = prompt;
    reply.completion_tokens = completion;
    return reply;
  }
};

struct RecordedRequest {
  std::string method;                          // "POST", "GET"
  std::string path;                            // "/v1/chat/completions"
  std::map<std::string, std::string> headers;  // names lower-cased; repeated ones joined by ", "
  nlohmann::json body;                         // the parsed JSON body; null when empty or not JSON
  std::string raw_body;                        // the body as received
};

class FakeLlmServer {
 public:
  // Binds 127.0.0.1 on a free port and serves on background threads.
  FakeLlmServer();
  // Binds 127.0.0.1:port (0 = a free port); throws std::runtime_error when it cannot bind.
  explicit FakeLlmServer(int port);
  // Stops and joins; interrupts delayed replies in flight (they answer 503).
  ~FakeLlmServer();

  FakeLlmServer(const FakeLlmServer&) = delete;
  FakeLlmServer& operator=(const FakeLlmServer&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:PORT/v1"
  int port() const;

  // Appends replies to the shared FIFO queue.
  void script(std::vector<ScriptedReply> replies);
  // Appends replies to the queue used for requests whose X-Anvil-Role header equals `role`. A
  // request whose role queue is empty (or that has no role) takes from the shared queue.
  void script_for_role(const std::string& role, std::vector<ScriptedReply> replies);

  // Every request received, in arrival order (thread-safe).
  std::vector<RecordedRequest> requests() const;
  // Waits until at least `count` requests have been received; false on timeout.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;
  // Scripted replies not yet served, over all queues.
  std::size_t remaining() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The vector POST /embeddings returns for `text`: a hashed bag of words (lower-cased ASCII
// letters and digits; so texts that share words have a high cosine similarity) plus a small
// component hashed from the whole text (so different texts never get the same vector),
// normalised to length 1. The same on every machine and every run.
std::vector<double> fake_embedding(const std::string& text,
                                   int dimensions = kDefaultEmbeddingDimensions);

}  // namespace anvil::testing
