#include "checkpointer.hpp"

#include <pthread.h>

namespace herald::sqlite {

Checkpointer::Checkpointer(sqlite3* db, const SqliteOptions& options) : db_(db) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  own_.reset(raw);
  if (rc != SQLITE_OK) fail(own_.get(), rc, "open '" + options.path + "' for checkpoints");
  // A connection opens the WAL at its first read; until then it has none to checkpoint.
  exec(own_.get(), "SELECT count(*) FROM sqlite_master");
  thread_ = std::thread([this] { loop(); });
  // Last, once nothing here can throw: replaces SQLite's automatic
  // checkpoint on this connection (one hook per connection).
  sqlite3_wal_hook(db_, &Checkpointer::on_commit, this);
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(db_, nullptr, nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  due_changed_.notify_one();
  thread_.join();
}

int Checkpointer::on_commit(void* self, sqlite3* db, const char* schema, int pages) {
  auto* c = static_cast<Checkpointer*>(self);
  // After a pass of the thread only the frames committed meanwhile are left:
  // this commit copies them, so the next one writes the WAL from its start
  // (a log the thread chases would grow as long as writes go on).
  if (pages >= inline_pages || (pages >= wake_pages && c->pass_done_.exchange(false))) {
    // Errors are not the commit's: the transaction is durable already, and
    // the next commit tries again.
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (pages < wake_pages) {
    c->pass_done_.store(false, std::memory_order_relaxed);  // a pass over a WAL begun again since
  } else {
    {
      std::lock_guard lock(c->mutex_);
      c->due_ = true;
    }
    c->due_changed_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::loop() {
  pthread_setname_np(pthread_self(), "herald-ckpt");
  std::unique_lock lock(mutex_);
  for (;;) {
    due_changed_.wait(lock, [&] { return due_ || stopping_; });
    if (stopping_) return;
    due_ = false;
    lock.unlock();
    // PASSIVE: copies what no reader still needs, waits for nobody. A
    // failure (busy with another connection's checkpoint) is tried again
    // at the next commit past the mark.
    int frames = 0, copied = 0;
    if (sqlite3_wal_checkpoint_v2(own_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied) == SQLITE_OK &&
        copied == frames)
      pass_done_.store(true);
    lock.lock();
  }
}

}  // namespace herald::sqlite
