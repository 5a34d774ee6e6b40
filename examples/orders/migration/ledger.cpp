#include "ledger.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace orders {

namespace {

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("ledger: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement& text(int i, const std::string& v) {
    sqlite3_bind_text(stmt, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& integer(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt, i, v);
    return *this;
  }
  int step(sqlite3* db) {
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw std::runtime_error(std::string("ledger: ") + sqlite3_errmsg(db));
    return rc;
  }
};

}  // namespace

Ledger::Ledger(const std::string& path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string error = sqlite3_errmsg(db_);
    sqlite3_close(db_);
    throw std::runtime_error("ledger '" + path + "': " + error);
  }
  // Several service instances share the file during a rolling restart.
  sqlite3_busy_timeout(db_, 10'000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");  // a test ledger: losing the last writes to a power cut is fine
  exec("CREATE TABLE IF NOT EXISTS published (id TEXT PRIMARY KEY, key TEXT NOT NULL, seq INTEGER NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS applied (n INTEGER PRIMARY KEY AUTOINCREMENT, grp TEXT NOT NULL, id TEXT NOT NULL,"
       " key TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE (grp, id))");
  exec("CREATE TABLE IF NOT EXISTS received (grp TEXT NOT NULL, id TEXT NOT NULL)");
}

Ledger::~Ledger() { sqlite3_close(db_); }

void Ledger::exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string text = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("ledger: " + text);
  }
}

std::int64_t Ledger::next_seq() {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT COALESCE(MAX(seq), 0) + 1 FROM published");
  s.step(db_);
  return sqlite3_column_int64(s.stmt, 0);
}

void Ledger::published(const std::string& id, const std::string& key, std::int64_t seq) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT INTO published (id, key, seq) VALUES (?, ?, ?)").text(1, id).text(2, key).integer(3, seq).step(db_);
}

bool Ledger::apply(const std::string& group, const std::string& id, const std::string& key, std::int64_t seq) {
  std::lock_guard lock(mutex_);
  Statement(db_, "INSERT INTO received (grp, id) VALUES (?, ?)").text(1, group).text(2, id).step(db_);
  Statement s(db_, "INSERT OR IGNORE INTO applied (grp, id, key, seq) VALUES (?, ?, ?, ?)");
  s.text(1, group).text(2, id).text(3, key).integer(4, seq).step(db_);
  return sqlite3_changes(db_) == 1;
}

}  // namespace orders
