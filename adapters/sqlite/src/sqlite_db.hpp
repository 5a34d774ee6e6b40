#pragma once
// Thin RAII over the SQLite C API. Private to herald::sqlite.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herald::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

/// Throws StoreError naming `what` and SQLite's message; retriable when the
/// database was busy or locked.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what);
inline void check(sqlite3* db, int rc, std::string_view what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) fail(db, rc, what);
}

/// Runs SQL without results (several statements allowed).
void exec(sqlite3* db, const char* sql);

/// A prepared statement, reset (and its bindings cleared) by reset().
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, bool persistent = false);
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  Statement& bind(int i, std::string_view text);
  /// Binds `text` without a copy: it must outlive the statement's next
  /// reset (a row's strings bound for one step).
  Statement& bind_unowned(int i, std::string_view text);
  Statement& bind(int i, std::int64_t value);
  Statement& bind_null(int i);
  /// Binds NULL for an empty text, else `text` as bind_unowned does.
  Statement& bind_unowned_or_null(int i, std::string_view text);
  Statement& bind(int i, const std::optional<std::int64_t>& value);
  /// Steps once: true when a row is available.
  bool step();
  /// Steps a statement that returns no rows.
  void run();
  void reset() noexcept;

  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::optional<std::int64_t> optional_integer(int col) const {
    if (is_null(col)) return std::nullopt;
    return integer(col);
  }
  std::string_view text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col))) : std::string_view();
  }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

/// Resets a statement when the scope ends, so it holds no read lock.
class ResetGuard {
 public:
  explicit ResetGuard(Statement& s) noexcept : s_(s) {}
  ~ResetGuard() { s_.reset(); }
  ResetGuard(const ResetGuard&) = delete;
  ResetGuard& operator=(const ResetGuard&) = delete;

 private:
  Statement& s_;
};

/// BEGIN IMMEDIATE (the write lock up front, so a busy database waits in
/// busy_timeout instead of failing at the first write); rolls back unless
/// commit() was called.
class Transaction {
 public:
  explicit Transaction(sqlite3* db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  sqlite3* db_;
  bool open_ = true;
};

/// A SAVEPOINT: nests inside the caller's transaction, or is one when none
/// is open. Rolls back to it unless release() was called.
class Savepoint {
 public:
  Savepoint(sqlite3* db, const char* name);
  ~Savepoint();
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release();

 private:
  sqlite3* db_;
  std::string name_;
  bool open_ = true;
};

}  // namespace herald::sqlite
