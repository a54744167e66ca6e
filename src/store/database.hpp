#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace anvil::store {

// A prepared statement; bind with 1-based indices, step through rows.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind_null(int index);
  Statement& bind_blob(int index, const void* data, std::size_t bytes);

  bool step();  // true while a row is available
  void run();   // steps to completion (INSERT, UPDATE, ...)

  std::string text(int column) const;
  std::int64_t integer(int column) const;
  double real(int column) const;
  bool is_null(int column) const;
  std::string blob(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One SQLite database file: WAL journal and a busy timeout, so several Anvil processes can share
// it; the schema is brought up to date by numbered migrations when it is opened.
class Database {
 public:
  explicit Database(const std::filesystem::path& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql);
  Statement prepare(const std::string& sql) { return Statement(db_, sql); }
  int schema_version();
  std::int64_t last_insert_id();
  const std::filesystem::path& path() const { return path_; }

  // Runs `work` in one transaction: all of it is committed, or none of it.
  template <typename Work>
  void transaction(Work&& work) {
    exec("BEGIN IMMEDIATE");
    try {
      work();
    } catch (...) {
      exec("ROLLBACK");
      throw;
    }
    exec("COMMIT");
  }

 private:
  void migrate();

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// The migrations, in order; migration i brings the schema from version i to i + 1.
const std::vector<std::string>& schema_migrations();

}  // namespace anvil::store
