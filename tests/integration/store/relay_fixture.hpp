#pragma once
// Where the relay tests start, in-process (tests/integration/store) and
// with relay processes (tests/reliability/store): a scratch store of one
// kind, a transport the test fails at will with a recorder on it, and a
// simulated clock for the relay's backoff.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "failing_bus.hpp"
#include "herald/ext/store.hpp"
#include "herald/relay.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"

namespace herald::test {

/// An event of the aggregate order `order_id` (its partition key too), with
/// `order_id` and `n` in its data.
inline Envelope order_event(const std::string& type, const std::string& order_id, int n) {
  Envelope e = Envelope::make(type, {{"order_id", order_id}, {"n", n}}, "orders");
  e.aggregatetype = "order";
  e.aggregateid = order_id;
  e.partitionkey = order_id;
  return e;
}

/// Simulated time for backoff: the relay reads it through RelayOptions::clock.
struct TestClock {
  std::atomic<std::int64_t> micros{to_micros(now_micros())};
  Timestamp now() const { return from_micros(micros.load()); }
  void advance(std::chrono::milliseconds d) { micros += d.count() * 1000; }
};

/// Records (order id, n) in handling order. When a batch publish fails the
/// relay retries its events one by one, so events the transport accepted
/// before the refused one arrive twice (at least once, in order):
/// by_order() keeps the first arrival of each event.
struct OrderRecorder {
  Recorder<std::pair<std::string, int>> seen;
  Subscription sub;
  explicit OrderRecorder(EventBus& bus) {
    sub = bus.subscribe({.pattern = "#", .group = "recorder"}, [this](const Envelope& e) {
      auto p = e.payload();
      seen.add({p.at("order_id").get<std::string>(), p.at("n").get<int>()});
    });
  }
  std::map<std::string, std::vector<int>> by_order() const {
    std::map<std::string, std::vector<int>> m;
    std::set<std::pair<std::string, int>> first;
    for (const auto& item : seen.items())
      if (first.insert(item).second) m[item.first].push_back(item.second);
    return m;
  }
  std::size_t distinct() const {
    auto items = seen.items();
    return std::set<std::pair<std::string, int>>(items.begin(), items.end()).size();
  }
};

/// A scratch store of `kind` (one of store_kinds()), opened, and a failing
/// transport with an OrderRecorder on it.
struct RelayFixture {
  explicit RelayFixture(const std::string& store_kind)
      : kind(store_kind), scratch(store_kind), store(scratch.open()) {}

  /// For relay_pass on the simulated clock: backoff from 1 s doubling,
  /// batches of 100.
  RelayOptions options(int max_attempts = 5) {
    RelayOptions o;
    o.retry = {.max_attempts = max_attempts, .initial_delay = std::chrono::seconds(1), .multiplier = 2.0,
               .max_delay = std::chrono::seconds(60), .jitter = 0.0};
    o.batch_size = 100;
    o.owner = "test-relay";
    o.clock = [this] { return clock.now(); };
    return o;
  }

  /// The transport refuses every event of `type` with `error` (for good).
  void refuse_type(const std::string& type, const std::string& error) {
    bus.refuse([type, error](const Envelope& e) -> std::optional<std::string> {
      if (e.type == type) return error;
      return std::nullopt;
    });
  }

  std::string kind;
  ScratchStore scratch;
  std::shared_ptr<EventStore> store;
  FailingBus bus;
  OrderRecorder recorder{bus};
  TestClock clock;
};

}  // namespace herald::test
