#pragma once
// Copies a store's WAL back into its database on a thread of its own.
// Private to herald::sqlite.
//
// SQLite's automatic checkpoint runs inside the commit that fills the WAL
// past 1,000 pages, and so under the store's lock: the relay's claim and
// mark, and every append, wait for it (a tenth of a relay's store time).
// Here a commit past that mark only wakes this thread, which checkpoints
// on a second connection while the store goes on (a PASSIVE checkpoint
// neither waits for nor blocks the writer). Should the thread fall behind,
// a commit past ten times the mark checkpoints inline, as SQLite would.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "herald/sqlite/options.hpp"
#include "sqlite_db.hpp"

namespace herald::sqlite {

class Checkpointer {
 public:
  /// Takes over `db`'s automatic checkpoints. `db` must outlive this.
  Checkpointer(sqlite3* db, const SqliteOptions& options);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// WAL pages past which a commit wakes the thread (SQLite's default mark).
  static constexpr int wake_pages = 1000;
  /// WAL pages past which the committing connection checkpoints itself.
  static constexpr int inline_pages = 10 * wake_pages;

 private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int pages);
  void loop();

  sqlite3* db_;
  DbHandle own_;  // the thread's connection
  std::mutex mutex_;
  std::condition_variable due_changed_;
  bool due_ = false;
  bool stopping_ = false;
  std::atomic<bool> pass_done_{false};  // the thread copied every frame there was when it began
  std::thread thread_;
};

}  // namespace herald::sqlite
