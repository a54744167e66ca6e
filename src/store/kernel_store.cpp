#include "store/kernel_store.hpp"

#include <cstring>

namespace anvil::store {
namespace {

std::string vector_bytes(const std::vector<float>& v) {
  std::string bytes(v.size() * sizeof(float), '\0');
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

std::vector<float> vector_from(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

constexpr const char* kColumns =
    "id, task_hash, task_name, op_name, op_type, category, logic, dsl, backend, frontend, shapes, "
    "sketch, code, "
    "speedup, timings, verdict, source, model, created_at";

KernelRecord read_row(const Statement& s) {
  KernelRecord r;
  r.id = s.integer(0);
  r.task_hash = s.text(1);
  r.task_name = s.text(2);
  r.op_name = s.text(3);
  r.op_type = s.text(4);
  r.category = s.text(5);
  r.logic = s.text(6);
  r.dsl = s.text(7);
  r.backend = s.text(8);
  r.frontend = s.text(9);
  r.shapes = nlohmann::json::parse(s.text(10));
  r.sketch = s.text(11);
  r.code = s.text(12);
  if (!s.is_null(13)) r.speedup = s.real(13);
  r.timings = nlohmann::json::parse(s.text(14));
  r.verdict = nlohmann::json::parse(s.text(15));
  r.source = s.text(16);
  r.model = s.text(17);
  r.created_at = s.text(18);
  return r;
}

}  // namespace

nlohmann::json to_json(const KernelRecord& r) {
  return {{"id", r.id},
          {"task_hash", r.task_hash},
          {"task_name", r.task_name},
          {"op_name", r.op_name},
          {"op_type", r.op_type},
          {"category", r.category},
          {"logic", r.logic},
          {"dsl", r.dsl},
          {"backend", r.backend},
          {"frontend", r.frontend},
          {"shapes", r.shapes},
          {"sketch", r.sketch},
          {"code", r.code},
          {"speedup", r.speedup ? nlohmann::json(*r.speedup) : nlohmann::json(nullptr)},
          {"timings", r.timings},
          {"verdict", r.verdict},
          {"source", r.source},
          {"model", r.model},
          {"created_at", r.created_at}};
}

KernelRecord kernel_from_json(const nlohmann::json& j) {
  KernelRecord r;
  r.task_hash = j.at("task_hash");
  r.task_name = j.value("task_name", "");
  r.op_name = j.at("op_name");
  r.op_type = j.at("op_type");
  r.category = j.value("category", r.op_type);
  r.logic = j.value("logic", "");
  r.dsl = j.at("dsl");
  r.backend = j.at("backend");
  r.frontend = j.value("frontend", "torch");
  r.shapes = j.value("shapes", nlohmann::json::array());
  r.sketch = j.value("sketch", "");
  r.code = j.at("code");
  if (j.contains("speedup") && j["speedup"].is_number()) r.speedup = j["speedup"].get<double>();
  r.timings = j.value("timings", nlohmann::json::object());
  r.verdict = j.value("verdict", nlohmann::json::object());
  r.source = j.value("source", "import");
  r.model = j.value("model", "");
  return r;
}

std::int64_t KernelStore::add(const KernelRecord& r) {
  std::int64_t id = 0;
  db_.transaction([&] {
    auto existing = db_.prepare(
        "SELECT id FROM kernels WHERE task_hash = ? AND dsl = ? AND backend = ? AND code = ?");
    existing.bind(1, r.task_hash).bind(2, r.dsl).bind(3, r.backend).bind(4, r.code);
    if (existing.step()) {
      id = existing.integer(0);
      return;
    }
    auto insert = db_.prepare(
        "INSERT INTO kernels (task_hash, task_name, op_name, op_type, category, logic, dsl, "
        "backend, frontend, "
        "shapes, sketch, code, speedup, timings, verdict, source, model) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, r.task_hash)
        .bind(2, r.task_name)
        .bind(3, r.op_name)
        .bind(4, r.op_type)
        .bind(5, r.category);
    insert.bind(6, r.logic)
        .bind(7, r.dsl)
        .bind(8, r.backend)
        .bind(9, r.frontend)
        .bind(10, r.shapes.dump());
    insert.bind(11, r.sketch).bind(12, r.code);
    if (r.speedup) {
      insert.bind(13, *r.speedup);
    } else {
      insert.bind_null(13);
    }
    insert.bind(14, r.timings.dump())
        .bind(15, r.verdict.dump())
        .bind(16, r.source)
        .bind(17, r.model);
    insert.run();
    id = db_.last_insert_id();
    set_embedding(id, "logic", r.embedding_model, r.logic_embedding);
    set_embedding(id, "shape", "builtin", r.shape_embedding);
  });
  return id;
}

std::optional<KernelRecord> KernelStore::get(std::int64_t id) {
  auto s = db_.prepare(std::string("SELECT ") + kColumns + " FROM kernels WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_row(s);
}

std::size_t KernelStore::count() {
  auto s = db_.prepare("SELECT COUNT(*) FROM kernels");
  s.step();
  return static_cast<std::size_t>(s.integer(0));
}

void KernelStore::set_embedding(std::int64_t id, const std::string& kind, const std::string& model,
                                const std::vector<float>& vector) {
  auto bytes = vector_bytes(vector);
  auto s = db_.prepare(
      "INSERT OR REPLACE INTO embeddings (kernel_id, kind, model, vector) VALUES (?, ?, ?, ?)");
  s.bind(1, id).bind(2, kind).bind(3, model).bind_blob(4, bytes.data(), bytes.size());
  s.run();
}

void KernelStore::for_each(const std::function<void(const KernelRecord&)>& visit,
                           const std::string& model) {
  auto s =
      db_.prepare(std::string("SELECT ") + kColumns +
                  ", (SELECT vector FROM embeddings e WHERE e.kernel_id = k.id AND e.kind = 'logic'"
                  " AND e.model = ?),"
                  " (SELECT vector FROM embeddings e WHERE e.kernel_id = k.id AND e.kind = 'shape')"
                  " FROM kernels k ORDER BY id");
  s.bind(1, model);
  while (s.step()) {
    KernelRecord r = read_row(s);
    r.logic_embedding = vector_from(s.blob(19));
    r.shape_embedding = vector_from(s.blob(20));
    r.embedding_model = model;
    visit(r);
  }
}

std::int64_t KernelStore::add_run(const std::string& path, const std::string& task,
                                  const std::string& dsl, const std::string& backend,
                                  const std::string& status, const nlohmann::json& summary) {
  auto s = db_.prepare(
      "INSERT INTO runs (path, task, dsl, backend, status, summary) VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, path)
      .bind(2, task)
      .bind(3, dsl)
      .bind(4, backend)
      .bind(5, status)
      .bind(6, summary.dump());
  s.run();
  return db_.last_insert_id();
}

void KernelStore::add_attempt(std::int64_t run_id, int iteration, const std::string& sketch,
                              const std::string& code, const std::string& status,
                              const std::string& error_class, std::optional<double> speedup) {
  auto s = db_.prepare(
      "INSERT INTO attempts (run_id, iteration, sketch, code, status, error_class, speedup) VALUES "
      "(?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, run_id)
      .bind(2, static_cast<std::int64_t>(iteration))
      .bind(3, sketch)
      .bind(4, code)
      .bind(5, status);
  s.bind(6, error_class);
  if (speedup) {
    s.bind(7, *speedup);
  } else {
    s.bind_null(7);
  }
  s.run();
}

}  // namespace anvil::store
