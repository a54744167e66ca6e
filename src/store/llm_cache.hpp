#pragma once

#include <optional>
#include <string>

#include "llm/provider.hpp"
#include "store/database.hpp"

namespace anvil::store {

// LLM replies keyed by the full request (model, messages, parameters), so a run can be replayed
// exactly and an interrupted run resumes without paying for calls it already made.
class LlmCache : public llm::ResponseCache {
 public:
  explicit LlmCache(Database& db) : db_(db) {}

  std::optional<Entry> find(const std::string& key) override;
  void put(const std::string& key, const std::string& provider, const std::string& model,
           const std::string& role, const Entry& reply) override;

 private:
  Database& db_;
};

}  // namespace anvil::store
