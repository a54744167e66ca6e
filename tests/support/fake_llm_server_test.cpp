#include "support/fake_llm_server.hpp"

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace anvil::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
  void TearDown() override { curl_global_cleanup(); }
};
[[maybe_unused]] ::testing::Environment* const curl_environment =
    ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

struct HttpResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names

  json json_body() const { return json::parse(body); }
};

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::size_t append_header(char* data, std::size_t size, std::size_t count, void* out) {
  const std::string line(data, size * count);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n ") + 1);
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * count;
}

// One request with libcurl: a POST when `body` is given, a GET otherwise.
HttpResult http(const std::string& url, const std::optional<std::string>& body = std::nullopt,
                const std::vector<std::string>& headers = {},
                milliseconds timeout = milliseconds(10000)) {
  HttpResult result;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    result.code = CURLE_FAILED_INIT;
    return result;
  }
  curl_slist* list = nullptr;
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  if (body) list = curl_slist_append(list, "Content-Type: application/json");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list,
                                                                          curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, header_list.get());
  if (body) {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  }
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, append_header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &result.headers);
  result.code = curl_easy_perform(curl.get());
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

json chat_request(const std::string& text = "write a kernel") {
  return {{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
}

HttpResult post_chat(const FakeLlmServer& server, const std::vector<std::string>& headers = {},
                     milliseconds timeout = milliseconds(10000)) {
  return http(server.base_url() + "/chat/completions", chat_request().dump(), headers, timeout);
}

std::string chat_content(const HttpResult& result) {
  return result.json_body()["choices"][0]["message"]["content"].get<std::string>();
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST(FakeLlmServer, ServesScriptedOpenAiReplyWithStandardShape) {
  FakeLlmServer server;
  EXPECT_THAT(server.base_url(), ::testing::StartsWith("http://127.0.0.1:"));
  EXPECT_THAT(server.base_url(), ::testing::EndsWith("/v1"));
  server.script({ScriptedReply::text("def kernel(): pass").with_usage(12, 3)});
  EXPECT_EQ(server.remaining(), 1u);

  const HttpResult result = post_chat(server);
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.headers.at("content-type"), "application/json");
  const json body = result.json_body();
  EXPECT_THAT(body["id"].get<std::string>(), ::testing::StartsWith("chatcmpl-"));
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_TRUE(body["created"].is_number_integer());
  EXPECT_EQ(body["model"], "gpt-test");
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["index"], 0);
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "def kernel(): pass");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 12);
  EXPECT_EQ(body["usage"]["completion_tokens"], 3);
  EXPECT_EQ(body["usage"]["total_tokens"], 15);
  EXPECT_EQ(server.remaining(), 0u);
}

TEST(FakeLlmServer, EstimatesUsageWhenNotScripted) {
  FakeLlmServer server;
  server.script({ScriptedReply::text(std::string(40, 'x'))});
  const json body = post_chat(server).json_body();
  EXPECT_EQ(body["usage"]["completion_tokens"], 10);  // 40 characters / 4
  EXPECT_GE(body["usage"]["prompt_tokens"], 1);
  EXPECT_EQ(body["usage"]["total_tokens"], body["usage"]["prompt_tokens"].get<int>() +
                                               body["usage"]["completion_tokens"].get<int>());
}

TEST(FakeLlmServer, RecordsRequestsWithHeadersAndBody) {
  FakeLlmServer server;
  server.script({ScriptedReply::text("one"), ScriptedReply::text("two")});
  post_chat(server, {"X-Anvil-Role: coder", "Authorization: Bearer sk-test"});
  http(server.base_url() + "/models");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  EXPECT_EQ(requests[0].headers.at("x-anvil-role"), "coder");
  EXPECT_EQ(requests[0].headers.at("authorization"), "Bearer sk-test");
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/json");
  EXPECT_FALSE(requests[0].headers.contains("remote_addr"));  // httplib's pseudo header
  EXPECT_EQ(requests[0].body, chat_request());
  EXPECT_EQ(requests[0].raw_body, chat_request().dump());
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].path, "/v1/models");
  EXPECT_TRUE(requests[1].body.is_null());
  EXPECT_EQ(server.remaining(), 1u);
}

TEST(FakeLlmServer, RoleQueuesServeTheirRoleAndFallBackToTheSharedQueue) {
  FakeLlmServer server;
  server.script({ScriptedReply::text("shared 1"), ScriptedReply::text("shared 2")});
  server.script_for_role("reviewer",
                         {ScriptedReply::text("review 1"), ScriptedReply::text("review 2")});
  EXPECT_EQ(server.remaining(), 4u);

  EXPECT_EQ(chat_content(post_chat(server, {"X-Anvil-Role: coder"})), "shared 1");
  EXPECT_EQ(chat_content(post_chat(server, {"X-Anvil-Role: reviewer"})), "review 1");
  EXPECT_EQ(chat_content(post_chat(server)), "shared 2");
  EXPECT_EQ(chat_content(post_chat(server, {"X-Anvil-Role: reviewer"})), "review 2");
  EXPECT_EQ(server.remaining(), 0u);

  server.script({ScriptedReply::text("shared 3")});
  // The reviewer's queue is empty: it falls back to the shared one.
  EXPECT_EQ(chat_content(post_chat(server, {"X-Anvil-Role: reviewer"})), "shared 3");
  const HttpResult out = post_chat(server, {"X-Anvil-Role: reviewer"});
  EXPECT_EQ(out.status, 500);
  EXPECT_THAT(out.json_body()["error"]["message"].get<std::string>(), HasSubstr("reviewer"));
}

TEST(FakeLlmServer, DeliversRateLimitWithRetryAfter) {
  FakeLlmServer server;
  server.script({ScriptedReply::error(429, "slow down").with_header("Retry-After", "1"),
                 ScriptedReply::text("ok")});
  const HttpResult limited = post_chat(server);
  ASSERT_EQ(limited.code, CURLE_OK);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.at("retry-after"), "1");
  const json error = limited.json_body()["error"];
  EXPECT_EQ(error["message"], "slow down");
  EXPECT_EQ(error["type"], "rate_limit_error");
  EXPECT_EQ(error["code"], "rate_limit_exceeded");

  const HttpResult retried = post_chat(server);
  EXPECT_EQ(retried.status, 200);
  EXPECT_EQ(chat_content(retried), "ok");
}

TEST(FakeLlmServer, SendsRawBodyVerbatim) {
  FakeLlmServer server;
  server.script({ScriptedReply::raw(200, "{\"choices\": ["),
                 ScriptedReply::raw(502, "<html>bad gateway</html>")
                     .with_header("Content-Type", "text/html")});
  const HttpResult truncated = post_chat(server);
  EXPECT_EQ(truncated.status, 200);
  EXPECT_EQ(truncated.body, "{\"choices\": [");
  const HttpResult html = post_chat(server);
  EXPECT_EQ(html.status, 502);
  EXPECT_EQ(html.headers.at("content-type"), "text/html");
  EXPECT_EQ(html.body, "<html>bad gateway</html>");
}

TEST(FakeLlmServer, DelayedReplyTimesOutClientAndDestructorReturnsPromptly) {
  auto server = std::make_unique<FakeLlmServer>();
  server->script({ScriptedReply::text("too late").with_delay(milliseconds(60000))});

  const auto start = Clock::now();
  const HttpResult result = post_chat(*server, {}, milliseconds(300));
  EXPECT_EQ(result.code, CURLE_OPERATION_TIMEDOUT) << curl_easy_strerror(result.code);
  EXPECT_LT(Clock::now() - start, milliseconds(5000));

  // The delayed reply is still waiting on a server thread; destroying the server ends it.
  const auto stop_start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - stop_start, milliseconds(2000));
}

TEST(FakeLlmServer, ClientHangingUpBeforeADelayedReplySurvives) {
  FakeLlmServer server;
  // Large enough that writing it to the closed connection takes more than one send.
  server.script({ScriptedReply::text(std::string(1 << 20, 'x')).with_delay(milliseconds(300)),
                 ScriptedReply::text("still here")});
  EXPECT_EQ(post_chat(server, {}, milliseconds(50)).code, CURLE_OPERATION_TIMEDOUT);
  // The server writes the late reply to a closed socket (EPIPE, not a process-killing SIGPIPE).
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_EQ(chat_content(post_chat(server)), "still here");
}

TEST(FakeLlmServer, DestructorInterruptsDelayWhileClientWaits) {
  auto server = std::make_unique<FakeLlmServer>();
  server->script({ScriptedReply::text("never").with_delay(milliseconds(60000))});
  auto pending = std::async(std::launch::async, [url = server->base_url()] {
    return http(url + "/chat/completions", chat_request().dump(), {}, milliseconds(30000));
  });
  ASSERT_TRUE(server->wait_for_requests(1, milliseconds(10000)));

  const auto stop_start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - stop_start, milliseconds(2000));
  const HttpResult result = pending.get();
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 503);
  EXPECT_THAT(result.body, HasSubstr("shutting down"));
}

TEST(FakeLlmServer, ServesAnthropicMessagesShape) {
  FakeLlmServer server;
  server.script({ScriptedReply::text("Here is the kernel.").with_usage(7, 5)});
  const json request = {{"model", "claude-test"},
                        {"max_tokens", 1024},
                        {"system", "You write kernels."},
                        {"messages", {{{"role", "user"}, {"content", "softmax please"}}}}};
  const HttpResult result = http(server.base_url() + "/messages", request.dump(),
                                 {"x-api-key: test", "anthropic-version: 2023-06-01"});
  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 200);
  const json body = result.json_body();
  EXPECT_THAT(body["id"].get<std::string>(), ::testing::StartsWith("msg_"));
  EXPECT_EQ(body["type"], "message");
  EXPECT_EQ(body["role"], "assistant");
  EXPECT_EQ(body["model"], "claude-test");
  ASSERT_EQ(body["content"].size(), 1u);
  EXPECT_EQ(body["content"][0]["type"], "text");
  EXPECT_EQ(body["content"][0]["text"], "Here is the kernel.");
  EXPECT_EQ(body["stop_reason"], "end_turn");
  EXPECT_EQ(body["usage"]["input_tokens"], 7);
  EXPECT_EQ(body["usage"]["output_tokens"], 5);
  EXPECT_EQ(server.requests().at(0).headers.at("anthropic-version"), "2023-06-01");
}

TEST(FakeLlmServer, AnthropicErrorsUseAnthropicShape) {
  FakeLlmServer server;
  server.script({ScriptedReply::error(529, "Overloaded")});
  const json request = {{"model", "claude-test"},
                        {"max_tokens", 16},
                        {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  const HttpResult overloaded = http(server.base_url() + "/messages", request.dump());
  EXPECT_EQ(overloaded.status, 529);
  EXPECT_EQ(overloaded.json_body()["type"], "error");
  EXPECT_EQ(overloaded.json_body()["error"]["type"], "overloaded_error");
  EXPECT_EQ(overloaded.json_body()["error"]["message"], "Overloaded");

  json no_max_tokens = request;
  no_max_tokens.erase("max_tokens");
  const HttpResult invalid = http(server.base_url() + "/messages", no_max_tokens.dump());
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.json_body()["error"]["type"], "invalid_request_error");
  EXPECT_THAT(invalid.json_body()["error"]["message"].get<std::string>(), HasSubstr("max_tokens"));
}

TEST(FakeLlmServer, EmbeddingsAreDeterministicAndDistinct) {
  FakeLlmServer server;
  FakeLlmServer other;
  const json request = {
      {"model", "text-embedding-test"},
      {"input", {"softmax kernel in CUDA", "softmax kernel in Triton", "a recipe for bread"}}};
  const HttpResult first = http(server.base_url() + "/embeddings", request.dump());
  const HttpResult again = http(other.base_url() + "/embeddings", request.dump());
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, again.body);  // the same on another server instance

  const json body = first.json_body();
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["model"], "text-embedding-test");
  ASSERT_EQ(body["data"].size(), 3u);
  std::vector<std::vector<double>> vectors;
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(body["data"][i]["object"], "embedding");
    EXPECT_EQ(body["data"][i]["index"], i);
    vectors.push_back(body["data"][i]["embedding"].get<std::vector<double>>());
    ASSERT_EQ(vectors.back().size(), 64u);
    EXPECT_NEAR(cosine(vectors.back(), vectors.back()), 1.0, 1e-9);
  }
  EXPECT_NE(vectors[0], vectors[1]);
  EXPECT_NE(vectors[0], vectors[2]);
  // Texts sharing words are closer than unrelated ones: usable for retrieval tests.
  EXPECT_GT(cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2]));
  EXPECT_EQ(vectors[2], fake_embedding("a recipe for bread"));

  const json single = {{"model", "m"}, {"input", "softmax kernel in CUDA"}, {"dimensions", 8}};
  const json one = http(server.base_url() + "/embeddings", single.dump()).json_body();
  EXPECT_EQ(one["data"].size(), 1u);
  EXPECT_EQ(one["data"][0]["embedding"].size(), 8u);
  EXPECT_GE(one["usage"]["prompt_tokens"], 1);
  EXPECT_EQ(server.remaining(), 0u);  // embeddings take no scripted reply
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(FakeLlmServer, EmptyQueueAnswers500SayingTheScriptRanOut) {
  FakeLlmServer server;
  const HttpResult result = post_chat(server);
  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 500);
  const json error = result.json_body()["error"];
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("script ran out"));
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("/v1/chat/completions"));
  EXPECT_EQ(error["type"], "server_error");
}

TEST(FakeLlmServer, MalformedJsonAnswers400AndKeepsTheScript) {
  FakeLlmServer server;
  server.script({ScriptedReply::text("unused")});
  const HttpResult result =
      http(server.base_url() + "/chat/completions", std::string("{\"model\": \"gpt-test\", "));
  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 400);
  EXPECT_EQ(result.json_body()["error"]["type"], "invalid_request_error");
  EXPECT_THAT(result.json_body()["error"]["message"].get<std::string>(),
              HasSubstr("not valid JSON"));
  EXPECT_EQ(server.remaining(), 1u);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(server.requests()[0].body.is_null());
  EXPECT_EQ(server.requests()[0].raw_body, "{\"model\": \"gpt-test\", ");

  const HttpResult no_messages =
      http(server.base_url() + "/chat/completions", json{{"model", "gpt-test"}}.dump());
  EXPECT_EQ(no_messages.status, 400);
  EXPECT_THAT(no_messages.body, HasSubstr("messages"));
  EXPECT_EQ(server.remaining(), 1u);
}

TEST(FakeLlmServer, ListsOneModelAndAnswers404Elsewhere) {
  FakeLlmServer server;
  const HttpResult models = http(server.base_url() + "/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(models.json_body()["object"], "list");
  ASSERT_EQ(models.json_body()["data"].size(), 1u);
  EXPECT_EQ(models.json_body()["data"][0]["object"], "model");

  const HttpResult missing = http(server.base_url() + "/completions", std::string("{}"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.json_body()["error"]["message"].get<std::string>(),
              HasSubstr("/v1/completions"));
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(FakeLlmServer, ParallelClientsGetDifferentReplies) {
  FakeLlmServer server;
  const milliseconds delay(1500);
  server.script({ScriptedReply::text("first").with_delay(delay),
                 ScriptedReply::text("second").with_delay(delay)});

  const auto start = Clock::now();
  auto a = std::async(std::launch::async, [&] { return post_chat(server); });
  auto b = std::async(std::launch::async, [&] { return post_chat(server); });
  const HttpResult ra = a.get();
  const HttpResult rb = b.get();
  const auto elapsed = Clock::now() - start;

  ASSERT_EQ(ra.status, 200);
  ASSERT_EQ(rb.status, 200);
  const std::set<std::string> contents = {chat_content(ra), chat_content(rb)};
  EXPECT_EQ(contents, (std::set<std::string>{"first", "second"}));
  // Served side by side, not one after the other (that would take 2 × 1.5 s).
  EXPECT_LT(elapsed, 2 * delay - milliseconds(200));
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(FakeLlmServer, ParallelServersUseDifferentPorts) {
  FakeLlmServer a;
  FakeLlmServer b;
  EXPECT_NE(a.port(), b.port());
  EXPECT_GT(a.port(), 0);
}

TEST(FakeLlmServer, BindingATakenPortThrows) {
  FakeLlmServer first;
  EXPECT_THROW(FakeLlmServer second(first.port()), std::runtime_error);
}

// The standalone program: serves a replies file and stops cleanly on SIGTERM.
TEST(FakeLlmProgram, ServesRepliesFileUntilSigterm) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("anvil-fake-llm-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto replies = dir / "replies.jsonl";
  {
    std::ofstream out(replies);
    out << "# a demo script\n"
        << R"({"content": "hello from the file"})"
        << "\n\n"
        << R"({"status": 429, "content": "later", "headers": {"Retry-After": "2"}})"
        << "\n"
        << R"({"content": "reviewed", "role": "reviewer"})"
        << "\n";
  }

  int out_pipe[2];
  ASSERT_EQ(pipe(out_pipe), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  std::string binary = ANVIL_FAKE_LLM_BINARY;
  std::string replies_arg = replies.string();
  std::vector<char*> argv = {binary.data(),          const_cast<char*>("--port"),
                             const_cast<char*>("0"), const_cast<char*>("--replies"),
                             replies_arg.data(),     nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);

  std::string line;
  char c = 0;
  while (read(out_pipe[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  close(out_pipe[0]);
  ASSERT_THAT(line, ::testing::MatchesRegex("http://127\\.0\\.0\\.1:[0-9]+/v1"));

  const std::string body = chat_request().dump();
  const HttpResult review = http(line + "/chat/completions", body, {"X-Anvil-Role: reviewer"});
  const HttpResult hello = http(line + "/chat/completions", body);
  const HttpResult limited = http(line + "/chat/completions", body);
  const HttpResult out = http(line + "/chat/completions", body);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::filesystem::remove_all(dir);

  EXPECT_EQ(chat_content(review), "reviewed");
  EXPECT_EQ(chat_content(hello), "hello from the file");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.at("retry-after"), "2");
  EXPECT_EQ(out.status, 500);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace anvil::testing
