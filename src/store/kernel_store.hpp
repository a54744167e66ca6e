#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/database.hpp"

namespace anvil::store {

// A verified kernel with what retrieval needs: features, shapes, sketch, code and provenance.
struct KernelRecord {
  std::int64_t id = 0;
  std::string task_hash, task_name, op_name, op_type, category, logic;
  std::string dsl, backend, frontend;
  nlohmann::json shapes = nlohmann::json::array();  // inputs: [{name, shape, dtype}]
  std::string sketch, code;
  std::optional<double> speedup;
  nlohmann::json timings = nlohmann::json::object();
  nlohmann::json verdict = nlohmann::json::object();
  std::string source;  // "seed:<file>" or "run:<folder>"
  std::string model;   // the LLM that wrote it, or "hand-written"
  std::string created_at;
  std::vector<float> logic_embedding, shape_embedding;
  std::string embedding_model = "builtin";  // whose space logic_embedding lives in
};

nlohmann::json to_json(const KernelRecord& record);
KernelRecord kernel_from_json(const nlohmann::json& j);

class KernelStore {
 public:
  explicit KernelStore(Database& db) : db_(db) {}

  // Stores a kernel and its embeddings in one transaction; a kernel already stored (same task,
  // target and code) is kept, and its id returned.
  std::int64_t add(const KernelRecord& record);
  std::optional<KernelRecord> get(std::int64_t id);
  std::size_t count();
  // Every kernel with its embeddings, in id order (to build the in-memory index); the logic
  // embedding is the one of `model` (empty when the kernel has none in that space yet).
  void for_each(const std::function<void(const KernelRecord&)>& visit,
                const std::string& model = "builtin");
  void set_embedding(std::int64_t id, const std::string& kind, const std::string& model,
                     const std::vector<float>& vector);

  std::int64_t add_run(const std::string& path, const std::string& task, const std::string& dsl,
                       const std::string& backend, const std::string& status,
                       const nlohmann::json& summary);
  void add_attempt(std::int64_t run_id, int iteration, const std::string& sketch,
                   const std::string& code, const std::string& status,
                   const std::string& error_class, std::optional<double> speedup);

 private:
  Database& db_;
};

}  // namespace anvil::store
