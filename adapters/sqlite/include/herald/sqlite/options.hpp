#pragma once
// Options of the SQLite event store (sqlite:///path.db?busy_timeout=5s).

#include <chrono>
#include <string>

namespace herald::sqlite {

/// sqlite:///abs/path.db, sqlite://relative.db or sqlite::memory:, with
/// query options `busy_timeout` and `synchronous`.
struct SqliteOptions {
  /// File path, or ":memory:" (one private database per opened store).
  std::string path;
  /// How long a statement waits for another connection's write lock
  /// (another process, or the application's own connection) before failing.
  std::chrono::milliseconds busy_timeout{5'000};
  /// "normal": in WAL mode a commit survives a crash of the process but the
  /// last commits may be lost on power failure; "full": also survives power
  /// failure, at one fsync per commit.
  std::string synchronous = "normal";
};

}  // namespace herald::sqlite
