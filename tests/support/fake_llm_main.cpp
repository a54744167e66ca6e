// anvil_fake_llm: serves scripted OpenAI / Anthropic replies on 127.0.0.1 for manual demos.
//
//   anvil_fake_llm --port 8090 --replies replies.jsonl
//
// Each non-blank line of the replies file is one JSON object (lines starting with '#' are
// comments):
//   {"content": "hello"}
//   {"status": 429, "content": "slow down", "headers": {"Retry-After": "1"}}
//   {"content": "LGTM", "role": "reviewer", "delay_ms": 500}
// Keys: status, content, headers, raw_body, delay_ms, prompt_tokens, completion_tokens, role.
// Replies with a role are served to requests with that X-Anvil-Role header, the others in file
// order to everyone. Prints the base URL on stdout, then serves until SIGINT or SIGTERM.

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/fake_llm_server.hpp"

namespace {

using anvil::testing::FakeLlmServer;
using anvil::testing::ScriptedReply;
using nlohmann::json;

constexpr const char* kUsage =
    "usage: anvil_fake_llm [--port N] --replies FILE.jsonl\n"
    "\n"
    "Serves scripted OpenAI (/v1/chat/completions, /v1/embeddings, /v1/models) and Anthropic\n"
    "(/v1/messages) replies on 127.0.0.1, prints the base URL, and runs until SIGINT/SIGTERM.\n"
    "\n"
    "  --port N          port to listen on (default 0: a free port)\n"
    "  --replies FILE    JSON lines, one reply per line: {\"content\": \"...\"}; optional keys\n"
    "                    status, headers, raw_body, delay_ms, prompt_tokens, completion_tokens,\n"
    "                    role (served only to requests with that X-Anvil-Role header)\n";

struct Options {
  int port = 0;
  std::string replies_path;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "anvil_fake_llm: " << message << "\n\n" << kUsage;
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--port") {
      const std::string text = value();
      try {
        std::size_t used = 0;
        options.port = std::stoi(text, &used);
        if (used != text.size() || options.port < 0 || options.port > 65535) throw 0;
      } catch (...) {
        usage_error("--port must be a number from 0 to 65535, not '" + text + "'");
      }
    } else if (arg == "--replies") {
      options.replies_path = value();
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  if (options.replies_path.empty()) usage_error("--replies FILE is required");
  return options;
}

int int_field(const json& line, const char* key, int fallback) {
  if (!line.contains(key)) return fallback;
  if (!line[key].is_number_integer())
    throw std::runtime_error(std::string(key) + " must be an integer");
  return line[key].get<int>();
}

std::string string_field(const json& line, const char* key) {
  if (!line.contains(key)) return {};
  if (!line[key].is_string()) throw std::runtime_error(std::string(key) + " must be a string");
  return line[key].get<std::string>();
}

// Replies by role ("" = the shared queue), in file order.
std::map<std::string, std::vector<ScriptedReply>> read_replies(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage_error("cannot read the replies file '" + path + "'");
  static const std::set<std::string> known = {
      "status",   "content",       "headers",           "raw_body",
      "delay_ms", "prompt_tokens", "completion_tokens", "role"};
  std::map<std::string, std::vector<ScriptedReply>> replies;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos || text[first] == '#') continue;
    try {
      const json line = json::parse(text);
      if (!line.is_object()) throw std::runtime_error("a line must be a JSON object");
      for (const auto& [key, unused] : line.items()) {
        if (!known.contains(key)) throw std::runtime_error("unknown key \"" + key + "\"");
      }
      ScriptedReply reply;
      reply.status = int_field(line, "status", 200);
      if (reply.status < 100 || reply.status > 599) {
        throw std::runtime_error("status must be from 100 to 599");
      }
      reply.content = string_field(line, "content");
      reply.raw_body = string_field(line, "raw_body");
      reply.delay = std::chrono::milliseconds(int_field(line, "delay_ms", 0));
      reply.prompt_tokens = int_field(line, "prompt_tokens", 0);
      reply.completion_tokens = int_field(line, "completion_tokens", 0);
      if (line.contains("headers")) {
        if (!line["headers"].is_object()) throw std::runtime_error("headers must be an object");
        for (const auto& [name, header_value] : line["headers"].items()) {
          if (!header_value.is_string()) {
            throw std::runtime_error("header \"" + name + "\" must be a string");
          }
          reply.headers[name] = header_value.get<std::string>();
        }
      }
      replies[string_field(line, "role")].push_back(std::move(reply));
    } catch (const std::exception& e) {
      usage_error(path + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  return replies;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  auto replies = read_replies(options.replies_path);

  // Block the stop signals before any thread starts (threads inherit the mask), then wait for
  // them here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    FakeLlmServer server(options.port);
    std::size_t count = 0;
    for (auto& [role, list] : replies) {
      count += list.size();
      if (role.empty()) {
        server.script(std::move(list));
      } else {
        server.script_for_role(role, std::move(list));
      }
    }
    std::cout << server.base_url() << std::endl;
    std::cerr << "anvil_fake_llm: serving " << count << " scripted replies; stop with Ctrl-C\n";

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cerr << "anvil_fake_llm: stopping (" << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
              << "): " << server.requests().size() << " requests received, " << server.remaining()
              << " replies left\n";
  } catch (const std::exception& e) {
    std::cerr << "anvil_fake_llm: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
