#include "fake_llm_server.hpp"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace anvil::testing {
namespace {

using nlohmann::json;

constexpr const char* kHost = "127.0.0.1";
constexpr const char* kModelId = "anvil-fake-model";
// Worker threads per server. Each delayed reply holds one until it answers, so there are more
// than httplib's default to leave room for "never answers" replies next to live ones.
constexpr std::size_t kWorkerThreads = 16;
constexpr int kMaxEmbeddingDimensions = 4096;

enum class Protocol { openai, anthropic };

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// FNV-1a, 64 bits: the same on every platform (std::hash is not).
std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void normalise(std::vector<double>& v) {
  double norm = 0.0;
  for (double x : v) norm += x * x;
  norm = std::sqrt(norm);
  if (norm > 0.0) {
    for (double& x : v) x /= norm;
  }
}

// Characters of all strings under `value` (message texts, content parts, system prompts).
std::size_t text_length(const json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().size();
  std::size_t total = 0;
  if (value.is_array() || value.is_object()) {
    for (const auto& item : value) total += text_length(item);
  }
  return total;
}

int estimate_tokens(std::size_t chars) { return static_cast<int>((chars + 3) / 4); }

std::string error_type(Protocol protocol, int status) {
  if (protocol == Protocol::anthropic) {
    switch (status) {
      case 400:
        return "invalid_request_error";
      case 401:
        return "authentication_error";
      case 403:
        return "permission_error";
      case 404:
        return "not_found_error";
      case 413:
        return "request_too_large";
      case 429:
        return "rate_limit_error";
      case 529:
        return "overloaded_error";
      default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
  }
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

json error_body(Protocol protocol, int status, const std::string& message) {
  const std::string type = error_type(protocol, status);
  if (protocol == Protocol::anthropic) {
    return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  }
  json code = nullptr;
  if (status == 429) code = "rate_limit_exceeded";
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, Protocol protocol, int status, const std::string& message) {
  send_json(res, status, error_body(protocol, status, message));
}

// Why a completion request would be rejected by the real API, or nullopt.
std::optional<std::string> invalid_completion_request(const json& body, Protocol protocol) {
  if (!body.is_object()) return "the request body must be a JSON object";
  if (!body.contains("model") || !body["model"].is_string()) {
    return "\"model\" is required and must be a string";
  }
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return "\"messages\" is required and must be a non-empty array";
  }
  if (protocol == Protocol::anthropic &&
      (!body.contains("max_tokens") || !body["max_tokens"].is_number_integer())) {
    return "\"max_tokens\" is required and must be an integer";
  }
  if (body.contains("stream") && body["stream"] == true) {
    return "streaming (\"stream\": true) is not supported by the anvil fake LLM server";
  }
  return std::nullopt;
}

}  // namespace

std::vector<double> fake_embedding(const std::string& text, int dimensions) {
  if (dimensions <= 0) throw std::invalid_argument("fake_embedding: dimensions must be positive");
  const auto dims = static_cast<std::size_t>(dimensions);

  std::vector<double> words(dims, 0.0);
  std::string word;
  auto add_word = [&] {
    if (word.empty()) return;
    const std::uint64_t h = fnv1a(word);
    words[h % dims] += ((h >> 63) != 0) ? 1.0 : -1.0;
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      word.push_back(static_cast<char>(std::tolower(c)));
    } else {
      add_word();
    }
  }
  add_word();
  normalise(words);

  std::vector<double> whole(dims);
  const std::uint64_t seed = fnv1a(text);
  for (std::size_t i = 0; i < dims; ++i) {
    // The top 53 bits as a double in [0, 1), then to [-1, 1).
    const double unit =
        static_cast<double>(splitmix64(seed + i) >> 11) * (1.0 / 9007199254740992.0);
    whole[i] = 2.0 * unit - 1.0;
  }
  normalise(whole);

  std::vector<double> result(dims);
  for (std::size_t i = 0; i < dims; ++i) result[i] = words[i] + 0.1 * whole[i];
  normalise(result);
  return result;
}

struct FakeLlmServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;

  mutable std::mutex mutex;
  // Signalled when stopping (ends delays) and when a request is recorded.
  mutable std::condition_variable changed;
  bool stopping = false;
  std::deque<ScriptedReply> shared_queue;
  std::map<std::string, std::deque<ScriptedReply>> role_queues;
  std::vector<RecordedRequest> recorded;
  std::uint64_t next_id = 1;

  void install_routes();
  void start(int requested_port);
  void stop();

  // Records the request; returns its parsed body, or nullopt when the body is not JSON.
  std::optional<json> record(const httplib::Request& req);
  std::optional<ScriptedReply> take_reply(const std::string& role);
  // Waits `delay`; false when the server began stopping first.
  bool wait(std::chrono::milliseconds delay);
  std::uint64_t take_id();

  void handle_completion(const httplib::Request& req, httplib::Response& res, Protocol protocol);
  void handle_embeddings(const httplib::Request& req, httplib::Response& res);
};

std::optional<json> FakeLlmServer::Impl::record(const httplib::Request& req) {
  RecordedRequest entry;
  entry.method = req.method;
  entry.path = req.path;
  for (const auto& [name, value] : req.headers) {
    // httplib adds the peer's and its own address as pseudo headers.
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT") {
      continue;
    }
    auto [it, inserted] = entry.headers.emplace(lower(name), value);
    if (!inserted) it->second += ", " + value;
  }
  entry.raw_body = req.body;
  std::optional<json> parsed;
  if (!req.body.empty()) {
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_discarded()) parsed = body;
  }
  if (parsed) entry.body = *parsed;
  {
    std::lock_guard lock(mutex);
    recorded.push_back(std::move(entry));
  }
  changed.notify_all();
  return parsed;
}

std::optional<ScriptedReply> FakeLlmServer::Impl::take_reply(const std::string& role) {
  std::lock_guard lock(mutex);
  std::deque<ScriptedReply>* queue = &shared_queue;
  if (!role.empty()) {
    auto it = role_queues.find(role);
    if (it != role_queues.end() && !it->second.empty()) queue = &it->second;
  }
  if (queue->empty()) return std::nullopt;
  ScriptedReply reply = std::move(queue->front());
  queue->pop_front();
  return reply;
}

bool FakeLlmServer::Impl::wait(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex);
  return !changed.wait_for(lock, delay, [this] { return stopping; });
}

std::uint64_t FakeLlmServer::Impl::take_id() {
  std::lock_guard lock(mutex);
  return next_id++;
}

void FakeLlmServer::Impl::handle_completion(const httplib::Request& req, httplib::Response& res,
                                            Protocol protocol) {
  const std::optional<json> body = record(req);
  if (!body) {
    send_error(res, protocol, 400,
               req.body.empty() ? "the request has no body; a JSON object was expected"
                                : "the request body is not valid JSON");
    return;
  }
  if (auto problem = invalid_completion_request(*body, protocol)) {
    send_error(res, protocol, 400, *problem);
    return;
  }

  const std::string role = req.get_header_value(kRoleHeader);
  std::optional<ScriptedReply> reply = take_reply(role);
  if (!reply) {
    std::string message = "anvil fake LLM: the script ran out: no scripted reply left for " +
                          req.method + " " + req.path;
    if (!role.empty()) message += " (" + std::string(kRoleHeader) + ": " + role + ")";
    message += "; script more replies with FakeLlmServer::script or script_for_role";
    send_error(res, protocol, 500, message);
    return;
  }
  if (reply->delay.count() > 0 && !wait(reply->delay)) {
    send_error(res, protocol, 503, "anvil fake LLM: the server is shutting down");
    return;
  }

  std::string content_type = "application/json";
  for (const auto& [name, value] : reply->headers) {
    if (lower(name) == "content-type") {
      content_type = value;
    } else {
      res.set_header(name, value);
    }
  }
  res.status = reply->status;
  if (!reply->raw_body.empty()) {
    res.set_content(reply->raw_body, content_type);
    return;
  }
  if (reply->status != 200) {
    const std::string message =
        reply->content.empty() ? "scripted error " + std::to_string(reply->status) : reply->content;
    res.set_content(error_body(protocol, reply->status, message).dump(), content_type);
    return;
  }

  std::size_t prompt_chars = text_length((*body)["messages"]);
  if (body->contains("system")) prompt_chars += text_length((*body)["system"]);
  const int prompt_tokens =
      reply->prompt_tokens > 0 ? reply->prompt_tokens : std::max(1, estimate_tokens(prompt_chars));
  const int completion_tokens = reply->completion_tokens > 0
                                    ? reply->completion_tokens
                                    : estimate_tokens(reply->content.size());
  const std::string id = std::to_string(take_id());
  const json& model = (*body)["model"];

  json out;
  if (protocol == Protocol::openai) {
    out = {
        {"id", "chatcmpl-fake-" + id},
        {"object", "chat.completion"},
        {"created", static_cast<std::int64_t>(std::time(nullptr))},
        {"model", model},
        {"choices", json::array({{{"index", 0},
                                  {"message", {{"role", "assistant"}, {"content", reply->content}}},
                                  {"logprobs", nullptr},
                                  {"finish_reason", "stop"}}})},
        {"usage",
         {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}}}};
  } else {
    out = {{"id", "msg_fake_" + id},
           {"type", "message"},
           {"role", "assistant"},
           {"model", model},
           {"content", json::array({{{"type", "text"}, {"text", reply->content}}})},
           {"stop_reason", "end_turn"},
           {"stop_sequence", nullptr},
           {"usage", {{"input_tokens", prompt_tokens}, {"output_tokens", completion_tokens}}}};
  }
  res.set_content(out.dump(), content_type);
}

void FakeLlmServer::Impl::handle_embeddings(const httplib::Request& req, httplib::Response& res) {
  const std::optional<json> body = record(req);
  if (!body) {
    send_error(res, Protocol::openai, 400, "the request body is not valid JSON");
    return;
  }
  if (!body->is_object() || !body->contains("input")) {
    send_error(res, Protocol::openai, 400, "\"input\" is required");
    return;
  }
  if (body->contains("encoding_format") && (*body)["encoding_format"] != "float") {
    send_error(res, Protocol::openai, 400,
               "only \"encoding_format\": \"float\" is supported by the anvil fake LLM server");
    return;
  }
  int dimensions = kDefaultEmbeddingDimensions;
  if (body->contains("dimensions")) {
    const json& d = (*body)["dimensions"];
    if (!d.is_number_integer() || d.get<int>() < 1 || d.get<int>() > kMaxEmbeddingDimensions) {
      send_error(
          res, Protocol::openai, 400,
          "\"dimensions\" must be an integer from 1 to " + std::to_string(kMaxEmbeddingDimensions));
      return;
    }
    dimensions = d.get<int>();
  }

  // A string, an array of strings, an array of token ids, or an array of such arrays.
  const json& input = (*body)["input"];
  std::vector<std::string> texts;
  if (input.is_string()) {
    texts.push_back(input.get<std::string>());
  } else if (input.is_array() && !input.empty() && input.front().is_number_integer()) {
    texts.push_back(input.dump());
  } else if (input.is_array() && !input.empty()) {
    for (const auto& item : input) {
      if (item.is_string()) {
        texts.push_back(item.get<std::string>());
      } else if (item.is_array()) {
        texts.push_back(item.dump());
      } else {
        send_error(res, Protocol::openai, 400,
                   "\"input\" items must be strings or arrays of token ids");
        return;
      }
    }
  } else {
    send_error(res, Protocol::openai, 400,
               "\"input\" must be a string or a non-empty array of strings");
    return;
  }

  json data = json::array();
  std::size_t chars = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    chars += texts[i].size();
    data.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", fake_embedding(texts[i], dimensions)}});
  }
  const int tokens = std::max(1, estimate_tokens(chars));
  send_json(res, 200,
            {{"object", "list"},
             {"data", std::move(data)},
             {"model", body->value("model", std::string(kModelId))},
             {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

void FakeLlmServer::Impl::install_routes() {
  server.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, Protocol::openai);
  });
  server.Post("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(req, res, Protocol::anthropic);
  });
  server.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    handle_embeddings(req, res);
  });
  server.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    record(req);
    send_json(
        res, 200,
        {{"object", "list"},
         {"data",
          json::array(
              {{{"id", kModelId}, {"object", "model"}, {"created", 0}, {"owned_by", "anvil"}}})}});
  });
  // Routes match in the order they were added: these catch everything else.
  auto not_found = [this](const httplib::Request& req, httplib::Response& res) {
    record(req);
    send_error(res, Protocol::openai, 404,
               "anvil fake LLM: no route for " + req.method + " " + req.path);
  };
  server.Get(".*", not_found);
  server.Post(".*", not_found);
}

void FakeLlmServer::Impl::start(int requested_port) {
  // One connection per request: an idle keep-alive connection would hold a worker (and so the
  // destructor) for up to the keep-alive timeout.
  server.set_keep_alive_max_count(1);
  server.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port and
  // take half its connections. SO_REUSEADDR alone still allows a quick restart on a port.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, Protocol::openai, 500, "anvil fake LLM: internal error: " + what);
      });
  install_routes();

  if (requested_port == 0) {
    port = server.bind_to_any_port(kHost);
    if (port < 0) throw std::runtime_error("FakeLlmServer: cannot bind 127.0.0.1 on a free port");
  } else {
    if (!server.bind_to_port(kHost, requested_port)) {
      throw std::runtime_error("FakeLlmServer: cannot bind 127.0.0.1:" +
                               std::to_string(requested_port) + " (is the port in use?)");
    }
    port = requested_port;
  }

  thread = std::thread([this] {
    // A client that hangs up before its (delayed) reply is written would raise SIGPIPE and kill
    // the test process. SIGPIPE from a write goes to the writing thread, and the workers inherit
    // this thread's mask, so blocking it here keeps it away from the whole process.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    server.listen_after_bind();
    listen_returned = true;
  });
  // stop() only acts once the accept loop runs: wait for it, so the destructor cannot miss it.
  while (!server.is_running() && !listen_returned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running() && listen_returned) {
    thread.join();
    throw std::runtime_error("FakeLlmServer: the server on 127.0.0.1:" + std::to_string(port) +
                             " stopped as it started");
  }
}

void FakeLlmServer::Impl::stop() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  changed.notify_all();  // ends delays in flight
  server.stop();         // closes the listening socket; the accept loop ends, workers are joined
  if (thread.joinable()) thread.join();
}

FakeLlmServer::FakeLlmServer() : FakeLlmServer(0) {}

FakeLlmServer::FakeLlmServer(int port) : impl_(std::make_unique<Impl>()) {
  if (port < 0 || port > 65535) {
    throw std::invalid_argument("FakeLlmServer: port must be from 0 to 65535");
  }
  impl_->start(port);
}

FakeLlmServer::~FakeLlmServer() { impl_->stop(); }

std::string FakeLlmServer::base_url() const {
  return "http://" + std::string(kHost) + ":" + std::to_string(impl_->port) + "/v1";
}

int FakeLlmServer::port() const { return impl_->port; }

void FakeLlmServer::script(std::vector<ScriptedReply> replies) {
  std::lock_guard lock(impl_->mutex);
  for (auto& reply : replies) impl_->shared_queue.push_back(std::move(reply));
}

void FakeLlmServer::script_for_role(const std::string& role, std::vector<ScriptedReply> replies) {
  std::lock_guard lock(impl_->mutex);
  auto& queue = impl_->role_queues[role];
  for (auto& reply : replies) queue.push_back(std::move(reply));
}

std::vector<RecordedRequest> FakeLlmServer::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded;
}

bool FakeLlmServer::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->recorded.size() >= count; });
}

std::size_t FakeLlmServer::remaining() const {
  std::lock_guard lock(impl_->mutex);
  std::size_t total = impl_->shared_queue.size();
  for (const auto& [role, queue] : impl_->role_queues) total += queue.size();
  return total;
}

}  // namespace anvil::testing
