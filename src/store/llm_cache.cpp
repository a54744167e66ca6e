#include "store/llm_cache.hpp"

namespace anvil::store {

std::optional<llm::ResponseCache::Entry> LlmCache::find(const std::string& key) {
  auto stmt =
      db_.prepare("SELECT reply, prompt_tokens, completion_tokens FROM llm_cache WHERE key = ?");
  stmt.bind(1, key);
  if (!stmt.step()) return std::nullopt;
  return Entry{stmt.text(0), static_cast<int>(stmt.integer(1)), static_cast<int>(stmt.integer(2))};
}

void LlmCache::put(const std::string& key, const std::string& provider, const std::string& model,
                   const std::string& role, const Entry& reply) {
  auto stmt = db_.prepare(
      "INSERT OR REPLACE INTO llm_cache (key, provider, model, role, reply, prompt_tokens, "
      "completion_tokens) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  stmt.bind(1, key).bind(2, provider).bind(3, model).bind(4, role).bind(5, reply.reply);
  stmt.bind(6, static_cast<std::int64_t>(reply.prompt_tokens))
      .bind(7, static_cast<std::int64_t>(reply.completion_tokens));
  stmt.run();
}

}  // namespace anvil::store
