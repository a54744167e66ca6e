#include "store/database.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include "core/error.hpp"

namespace anvil::store {
namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw Error(
      fmt::format("database error while {}: {}", what, db ? sqlite3_errmsg(db) : "no connection"),
      "check that the database file is writable and not corrupted (--db chooses another)");
}

}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db) {
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
    fail(db_, "preparing: " + sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, const std::string& value) {
  if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    fail(db_, "binding a value");
  }
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail(db_, "binding a value");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) fail(db_, "binding a value");
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) fail(db_, "binding a value");
  return *this;
}

Statement& Statement::bind_blob(int index, const void* data, std::size_t bytes) {
  if (sqlite3_bind_blob(stmt_, index, data, static_cast<int>(bytes), SQLITE_TRANSIENT) !=
      SQLITE_OK) {
    fail(db_, "binding a value");
  }
  return *this;
}

std::string Statement::blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string();
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "running a statement");
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string();
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }
bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Database::Database(const std::filesystem::path& path) : path_(path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw UsageError("cannot open database " + path.string() + ": " + message,
                     "pass a writable path with --db");
  }
  sqlite3_busy_timeout(db_, 10000);  // another process holding the write lock: wait, don't fail
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA foreign_keys=ON");
  migrate();
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw Error(fmt::format("database error in {}: {} (running: {})", path_.string(), text,
                            sql.substr(0, 80)));
  }
}

std::int64_t Database::last_insert_id() { return sqlite3_last_insert_rowid(db_); }

int Database::schema_version() {
  auto stmt = prepare("PRAGMA user_version");
  stmt.step();
  return static_cast<int>(stmt.integer(0));
}

void Database::migrate() {
  const auto& migrations = schema_migrations();
  transaction([&] {
    int version = schema_version();
    if (version > static_cast<int>(migrations.size())) {
      throw UsageError(fmt::format("{} has schema version {}, newer than this Anvil knows ({})",
                                   path_.string(), version, migrations.size()),
                       "upgrade Anvil, or use another --db");
    }
    for (auto i = static_cast<std::size_t>(version); i < migrations.size(); ++i) {
      exec(migrations[i]);
      exec(fmt::format("PRAGMA user_version = {}", i + 1));
    }
  });
}

const std::vector<std::string>& schema_migrations() {
  static const std::vector<std::string> migrations{
      // 1: the LLM response cache. The key is the request's canonical JSON, so a hit is exact.
      "CREATE TABLE llm_cache ("
      "  key TEXT PRIMARY KEY,"
      "  provider TEXT NOT NULL,"
      "  model TEXT NOT NULL,"
      "  role TEXT NOT NULL,"
      "  reply TEXT NOT NULL,"
      "  prompt_tokens INTEGER NOT NULL,"
      "  completion_tokens INTEGER NOT NULL,"
      "  created_at TEXT NOT NULL DEFAULT (datetime('now')))",
      // 2: the kernel database: verified kernels with their features and embeddings, runs and
      // their attempts.
      "CREATE TABLE runs ("
      "  id INTEGER PRIMARY KEY,"
      "  path TEXT NOT NULL,"
      "  task TEXT NOT NULL,"
      "  dsl TEXT NOT NULL,"
      "  backend TEXT NOT NULL,"
      "  status TEXT NOT NULL,"
      "  summary TEXT NOT NULL,"
      "  created_at TEXT NOT NULL DEFAULT (datetime('now')));"
      "CREATE TABLE attempts ("
      "  id INTEGER PRIMARY KEY,"
      "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
      "  iteration INTEGER NOT NULL,"
      "  sketch TEXT NOT NULL,"
      "  code TEXT NOT NULL,"
      "  status TEXT NOT NULL,"
      "  error_class TEXT,"
      "  speedup REAL);"
      "CREATE TABLE kernels ("
      "  id INTEGER PRIMARY KEY,"
      "  task_hash TEXT NOT NULL,"
      "  task_name TEXT NOT NULL,"
      "  op_name TEXT NOT NULL,"
      "  op_type TEXT NOT NULL,"
      "  category TEXT NOT NULL,"
      "  logic TEXT NOT NULL,"
      "  dsl TEXT NOT NULL,"
      "  backend TEXT NOT NULL,"
      "  frontend TEXT NOT NULL,"
      "  shapes TEXT NOT NULL,"
      "  sketch TEXT NOT NULL,"
      "  code TEXT NOT NULL,"
      "  speedup REAL,"
      "  timings TEXT NOT NULL,"
      "  verdict TEXT NOT NULL,"
      "  source TEXT NOT NULL,"
      "  model TEXT NOT NULL,"
      "  created_at TEXT NOT NULL DEFAULT (datetime('now')));"
      "CREATE INDEX kernels_filter ON kernels (dsl, backend, op_type);"
      "CREATE UNIQUE INDEX kernels_unique ON kernels (task_hash, dsl, backend, code);"
      "CREATE TABLE embeddings ("
      "  kernel_id INTEGER NOT NULL REFERENCES kernels(id) ON DELETE CASCADE,"
      "  kind TEXT NOT NULL,"
      "  model TEXT NOT NULL,"
      "  vector BLOB NOT NULL,"
      "  PRIMARY KEY (kernel_id, kind, model))",
  };
  return migrations;
}

}  // namespace anvil::store
