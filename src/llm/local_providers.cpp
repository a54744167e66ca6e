// Providers without HTTP: `exec` (a command answers on stdout) and `manual` (a person answers by
// writing a reply file).
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/process.hpp"
#include "core/temp_dir.hpp"
#include "llm/provider.hpp"

namespace anvil::llm {
namespace {

// Providers that report no usage are charged by a rough estimate: four characters a token.
Usage estimate_usage(const ChatRequest& request, const std::string& reply) {
  std::size_t prompt = 0;
  for (const auto& m : request.messages) prompt += m.content.size();
  return {static_cast<int>(prompt / 4), static_cast<int>(reply.size() / 4)};
}

class ExecProvider : public Provider {
 public:
  explicit ExecProvider(ProviderConfig config) : config_(std::move(config)) {
    if (config_.command.empty()) {
      throw UsageError("the exec provider needs a command", "set --llm-cmd or [llm].command");
    }
  }

  ChatReply complete(const ChatRequest& request) override {
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : request.messages)
      messages.push_back({{"role", m.role}, {"content", m.content}});
    nlohmann::json payload{{"role", request.agent_role},
                           {"model", config_.model},
                           {"messages", messages},
                           {"temperature", config_.temperature},
                           {"max_tokens", config_.max_tokens}};
    TempDir scratch("anvil-exec");
    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", config_.command};
    spec.stdin_path = scratch.path() / "request.json";
    spec.stdout_path = scratch.path() / "reply.txt";
    spec.stderr_path = scratch.path() / "stderr.txt";
    spec.timeout = std::chrono::milliseconds(static_cast<long>(config_.timeout_s * 1000));
    std::ofstream(spec.stdin_path) << payload.dump();
    auto started = std::chrono::steady_clock::now();
    auto outcome = run_process(spec);
    std::string reply_text = read_text_file(spec.stdout_path);
    if (!outcome.succeeded() || reply_text.find_first_not_of(" \t\r\n") == std::string::npos) {
      throw ProviderError(
          fmt::format("exec provider `{}` {}{}{}", config_.command,
                      outcome.succeeded() ? "printed nothing" : outcome.describe(),
                      tail_of_file(spec.stderr_path, 1).empty() ? "" : ": ",
                      tail_of_file(spec.stderr_path, 5)),
          "the command reads the request JSON on stdin and must print the reply on stdout",
          outcome.kind == ProcessOutcome::Kind::timed_out);
    }
    ChatReply reply;
    reply.content = std::move(reply_text);
    reply.usage = estimate_usage(request, reply.content);
    reply.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    reply.cost = cost_of(config_, reply.usage);
    return reply;
  }

  const ProviderConfig& config() const override { return config_; }

 private:
  ProviderConfig config_;
};

class ManualProvider : public Provider {
 public:
  explicit ManualProvider(ProviderConfig config) : config_(std::move(config)) {
    if (config_.manual_dir.empty()) config_.manual_dir = "manual";
  }

  ChatReply complete(const ChatRequest& request) override {
    std::filesystem::create_directories(config_.manual_dir);
    std::string text;
    for (const auto& m : request.messages) text += "## " + m.role + "\n\n" + m.content + "\n\n";
    auto [prompt, reply_path] = next_files(request.agent_role, text);
    std::cerr << fmt::format(
        "anvil: the {} prompt is in {}\n       write the reply to {} (waiting)\n",
        request.agent_role, prompt.string(), reply_path.string());
    auto started = std::chrono::steady_clock::now();
    std::string reply_text = await_reply(reply_path, started);
    ChatReply reply;
    reply.content = std::move(reply_text);
    reply.usage = estimate_usage(request, reply.content);
    reply.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return reply;
  }

  const ProviderConfig& config() const override { return config_; }

 private:
  // The prompt file for this request: an existing identical prompt is reused (a resumed run finds
  // the reply a person already wrote), otherwise the next number.
  std::pair<std::filesystem::path, std::filesystem::path> next_files(const std::string& role,
                                                                     const std::string& text) {
    for (int n = 1;; ++n) {
      auto prompt = config_.manual_dir / fmt::format("{:03}-{}.prompt.md", n, role);
      auto reply = config_.manual_dir / fmt::format("{:03}-{}.reply.md", n, role);
      bool taken = false;
      for (const auto& entry : std::filesystem::directory_iterator(config_.manual_dir)) {
        taken = taken || entry.path().filename().string().rfind(fmt::format("{:03}-", n), 0) == 0;
      }
      if (taken && std::filesystem::exists(prompt) && read_text_file(prompt) == text)
        return {prompt, reply};
      if (taken) continue;
      std::ofstream(prompt) << text;
      return {prompt, reply};
    }
  }

  // Waits until the reply file exists and has stopped growing (an editor may still be writing).
  std::string await_reply(const std::filesystem::path& path,
                          std::chrono::steady_clock::time_point started) const {
    std::uintmax_t last_size = static_cast<std::uintmax_t>(-1);
    while (true) {
      std::error_code ec;
      auto size = std::filesystem::file_size(path, ec);
      if (!ec && size > 0 && size == last_size) return read_text_file(path);
      last_size = ec ? static_cast<std::uintmax_t>(-1) : size;
      if (std::chrono::steady_clock::now() - started >
          std::chrono::duration<double>(config_.manual_timeout_s)) {
        throw ProviderError("no reply appeared in " + path.string(),
                            "write the reply there, then resume the run", false);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }

  ProviderConfig config_;
};

}  // namespace

std::unique_ptr<Provider> make_exec_provider(const ProviderConfig& config) {
  return std::make_unique<ExecProvider>(config);
}

std::unique_ptr<Provider> make_manual_provider(const ProviderConfig& config) {
  return std::make_unique<ManualProvider>(config);
}

}  // namespace anvil::llm
