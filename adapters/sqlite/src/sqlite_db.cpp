#include "sqlite_db.hpp"

#include "herald/errors.hpp"

namespace herald::sqlite {

void fail(sqlite3* db, int rc, std::string_view what) {
  int primary = rc & 0xff;
  bool retriable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR ||
                   primary == SQLITE_FULL || primary == SQLITE_CANTOPEN;
  std::string message = "sqlite: " + std::string(what) + ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw StoreError(message, retriable);
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    fail(nullptr, rc, std::string(sql).substr(0, 60) + ": " + message);
  }
}

Statement::Statement(sqlite3* db, std::string_view sql, bool persistent) : db_(db) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                              &raw, nullptr);
  stmt_.reset(raw);
  if (rc != SQLITE_OK) fail(db, rc, "prepare");
}

Statement& Statement::bind(int i, std::string_view text) {
  check(db_, sqlite3_bind_text(stmt_.get(), i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

Statement& Statement::bind_unowned(int i, std::string_view text) {
  check(db_, sqlite3_bind_text(stmt_.get(), i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC), "bind");
  return *this;
}

Statement& Statement::bind(int i, std::int64_t value) {
  check(db_, sqlite3_bind_int64(stmt_.get(), i, value), "bind");
  return *this;
}

Statement& Statement::bind_null(int i) {
  check(db_, sqlite3_bind_null(stmt_.get(), i), "bind");
  return *this;
}

Statement& Statement::bind_unowned_or_null(int i, std::string_view text) {
  return text.empty() ? bind_null(i) : bind_unowned(i, text);
}

Statement& Statement::bind(int i, const std::optional<std::int64_t>& value) {
  return value ? bind(i, *value) : bind_null(i);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_.get()) ? sqlite3_sql(stmt_.get()) : "";
  fail(db_, rc, sql.substr(0, sql.find_first_of("(\n")).substr(0, 60));
}

void Statement::run() {
  ResetGuard reset(*this);
  while (step()) {
  }
}

void Statement::reset() noexcept {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

Transaction::Transaction(sqlite3* db) : db_(db) { exec(db, "BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  exec(db_, "COMMIT");
  open_ = false;
}

Savepoint::Savepoint(sqlite3* db, const char* name) : db_(db), name_(name) {
  exec(db, ("SAVEPOINT " + name_).c_str());
}

Savepoint::~Savepoint() {
  if (open_) {
    sqlite3_exec(db_, ("ROLLBACK TO " + name_).c_str(), nullptr, nullptr, nullptr);
    sqlite3_exec(db_, ("RELEASE " + name_).c_str(), nullptr, nullptr, nullptr);
  }
}

void Savepoint::release() {
  exec(db_, ("RELEASE " + name_).c_str());
  open_ = false;
}

}  // namespace herald::sqlite
