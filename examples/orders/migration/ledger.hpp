#pragma once
// The service's own database in the migration example: what it published and
// what each consumer group applied. A group applies an event by inserting
// (group, event id) — the key makes a second copy (a redelivery after a
// restart, the other target's copy) a no-op, as a real handler's business
// write keyed by the event id would be.

#include <cstdint>
#include <mutex>
#include <string>

struct sqlite3;

namespace orders {

class Ledger {
 public:
  explicit Ledger(const std::string& path);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  /// The next sequence number to publish (one counter over all keys, so a
  /// key's numbers rise in publish order, across service instances).
  std::int64_t next_seq();
  void published(const std::string& id, const std::string& key, std::int64_t seq);
  /// Returns false when the group had applied the event already. Throws on a
  /// database error (the bus retries the event).
  bool apply(const std::string& group, const std::string& id, const std::string& key, std::int64_t seq);

 private:
  void exec(const std::string& sql);
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace orders
