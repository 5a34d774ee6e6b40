#define CATCH_CONFIG_EXTERNAL_INTERFACES  // TestEventListenerBase
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <mutex>

#include "harness.hpp"
#include "herald/outbox.hpp"
#include "scratch_store.hpp"

namespace herald::test {

namespace {

// One scratch store per namespace, so two buses of one namespace (two
// processes of one service) share it as they would share the service's
// database. Dropped after each test case (its buses are gone by then; at
// exit the database clients' own globals may already be).
class Stores {
 public:
  explicit Stores(std::string kind) : kind_(std::move(kind)) {}
  std::string url(const std::string& ns) {
    std::lock_guard lock(mutex_);
    auto& store = stores_[ns];
    if (!store) store = std::make_unique<ScratchStore>(kind_);
    return store->url();
  }
  void drop() {
    std::lock_guard lock(mutex_);
    stores_.clear();
  }

 private:
  std::string kind_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ScratchStore>> stores_;
};

Stores sqlite_stores("sqlite"), pg_stores("postgres");

struct DropStores : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    sqlite_stores.drop();
    pg_stores.drop();
    TestEventListenerBase::testCaseEnded(stats);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(DropStores)

TransportUnderTest outbox_over(TransportUnderTest inner, bool postgres) {
#ifndef HERALD_TEST_WITH_POSTGRES
  postgres = false;  // not built: the SQLite store stands in
#endif
  Stores* stores = postgres ? &pg_stores : &sqlite_stores;
  TransportUnderTest t = inner;
  t.name = "outbox+" + inner.name;
  t.open = [stores, open_inner = inner.open](const std::string& ns, const BusConfig& c) -> std::unique_ptr<EventBus> {
    OutboxBusOptions options;
    options.relay.interval = std::chrono::milliseconds(20);
    return std::make_unique<OutboxBus>(open_event_store(stores->url(ns)), open_inner(ns, c), std::move(options),
                                       nullptr, c.source);
  };
  if (inner.consumer) {
    // The consumer subscribes through an outbox over the same store, without
    // a relay of its own (a relay killed with it would hold rows for its lease).
    t.consumer = [stores, inner_consumer = inner.consumer](const std::string& ns) {
      auto command = inner_consumer(ns);
      command.at(2) = stores->url(ns);  // {program, bus url, store url}
      return command;
    };
  }
  t.below = [](EventBus& bus) -> EventBus& { return dynamic_cast<OutboxBus&>(bus).transport(); };
  return t;
}

}  // namespace herald::test
