#pragma once
// An event store in front of a real one whose mark_delivered fails the first
// N times (like SQLITE_BUSY or a dropped PostgreSQL connection), and which
// can hold a mark_failed back, for relay tests.

#include <atomic>
#include <functional>
#include <memory>

#include "herald/errors.hpp"
#include "herald/event_store.hpp"

namespace herald::test {

class FlakyMarkStore final : public EventStore {
 public:
  FlakyMarkStore(std::shared_ptr<EventStore> inner, int failures) : inner_(std::move(inner)), left_(failures) {}

  /// How many mark_delivered calls failed on purpose.
  int mark_failures() const { return failed_.load(); }
  /// How many claims returned.
  int claims() const { return claims_.load(); }
  /// Runs before each mark_failed reaches the store (set before use).
  std::function<void()> before_mark_failed;

  using EventStore::append;
  std::vector<std::int64_t> append(std::vector<Envelope>& events, const AppendOptions& options) override {
    return inner_->append(events, options);
  }
  std::optional<StoredEvent> find(const std::string& id) override { return inner_->find(id); }
  EventPage timeline(const std::string& type, const std::string& id, const std::string& cursor,
                     std::size_t limit) override {
    return inner_->timeline(type, id, cursor, limit);
  }
  ScanResult scan(const EventFilter& filter, std::int64_t after, std::size_t limit) override {
    return inner_->scan(filter, after, limit);
  }
  using EventStore::backlog;
  using EventStore::count_pending;
  using EventStore::dead_letters;
  using EventStore::mark_delivered;
  using EventStore::mark_failed;
  using EventStore::release;
  using EventStore::replay_dead_letters;
  using EventStore::skip_dead_letter;
  using EventStore::status;
  OutboxStatus status(const std::string& target) override { return inner_->status(target); }
  OutboxStatus backlog(const std::string& target) override { return inner_->backlog(target); }
  std::uint64_t count_pending(const std::string& target) override { return inner_->count_pending(target); }
  std::vector<std::string> delivery_targets() override { return inner_->delivery_targets(); }
  std::vector<StoredEvent> claim(const LeaseRequest& request) override {
    auto rows = inner_->claim(request);
    ++claims_;
    return rows;
  }
  bool claims_past_in_flight() const noexcept override { return inner_->claims_past_in_flight(); }
  void mark_delivered(const std::vector<std::int64_t>& positions, Timestamp at, const std::string& target) override {
    if (left_.fetch_sub(1) > 0) {
      ++failed_;
      throw StoreError("database is locked (test)", true);
    }
    inner_->mark_delivered(positions, at, target);
  }
  void mark_failed(const std::vector<DeliveryFailure>& failures, const std::string& target) override {
    if (before_mark_failed) before_mark_failed();
    inner_->mark_failed(failures, target);
  }
  void stand_down(const std::string& owner) override { inner_->stand_down(owner); }
  void release(const std::vector<std::int64_t>& positions, const std::string& owner, const std::string& target) override {
    inner_->release(positions, owner, target);
  }
  std::vector<StoredEvent> dead_letters(std::size_t limit, const std::string& target) override {
    return inner_->dead_letters(limit, target);
  }
  std::size_t replay_dead_letters(const std::optional<std::string>& id, const std::string& target) override {
    return inner_->replay_dead_letters(id, target);
  }
  void skip_dead_letter(const std::string& id, const std::string& target) override { inner_->skip_dead_letter(id, target); }
  std::string describe() const override { return "flaky " + inner_->describe(); }

 private:
  std::shared_ptr<EventStore> inner_;
  std::atomic<int> left_;
  std::atomic<int> failed_{0};
  std::atomic<int> claims_{0};
};

}  // namespace herald::test
