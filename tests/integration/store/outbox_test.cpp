// The transactional outbox: events commit or roll back with the business
// write; the outbox bus turns publish into an append.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a rolled-back business write leaves no event and a committed one has its events", "[outbox]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  auto app = scratch.connect();

  Envelope lost = Envelope::make("order.created", {{"order_id", "1"}});
  app->begin();
  app->write_order("1", "created");
  app->append(lost);
  CHECK_FALSE(lost.id.empty());  // filled in by append
  app->rollback();
  CHECK(app->count_orders() == 0);
  CHECK_FALSE(store->find(lost.id));

  Envelope created = Envelope::make("order.created", {{"order_id", "2"}});
  Envelope paid = Envelope::make("order.paid", {{"order_id", "2"}});
  app->begin();
  app->write_order("2", "paid");
  app->append(created);
  app->append(paid);
  CHECK_FALSE(store->find(created.id));  // not visible before the commit
  app->commit();
  CHECK(app->count_orders() == 1);
  auto a = store->find(created.id);
  auto b = store->find(paid.id);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->position < b->position);
  CHECK(a->pending());
  CHECK(store->status().pending == 2);
}

TEST_CASE("an outbox bus makes publish an append and delivers through its relay", "[outbox][relay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  OutboxBusOptions options;
  options.relay.interval = std::chrono::milliseconds(20);
  auto bus = make_outbox_bus(BusConfig::from_url("memory://?workers=2"), scratch.url(), options);
  CHECK(bus->features().name == "outbox+memory");
  CHECK(bus->features().persistent);

  Recorder<std::string> seen;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) { seen.add(e.id); });
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    Envelope e = Envelope::make("order.created", {{"n", i}});
    e.partitionkey = "k" + std::to_string(i % 3);
    bus->publish(e);
    ids.push_back(e.id);
  }
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  auto got = seen.items();
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  CHECK(got == ids);
  auto st = bus->store().status();
  CHECK(st.pending == 0);
  CHECK(st.delivered == 20);
  CHECK(bus->metrics().snapshot().total_published() == 20);
  bus->close();
  CHECK_THROWS_AS(bus->publish(Envelope::make("order.created")), ClosedError);
}

TEST_CASE("an outbox bus without its own relay leaves rows for an outside relay", "[outbox][relay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  OutboxBusOptions options;
  options.run_relay = false;
  auto bus = make_outbox_bus(BusConfig::from_url("memory://"), scratch.url(), options);
  CHECK(bus->relay() == nullptr);
  bus->publish(Envelope::make("order.created", {{"order_id", "9"}}));
  CHECK(bus->store().count_pending() == 1);

  Recorder<std::string> seen;
  auto delivery = make_bus("memory://?dispatch=inline");
  auto sub = delivery->subscribe({.pattern = "#", .group = "g"}, [&](const Envelope& e) { seen.add(e.type); });
  auto stats = relay_pass(bus->store(), *delivery, RelayOptions{});
  CHECK(stats.delivered == 1);
  CHECK(seen.items() == std::vector<std::string>{"order.created"});
  CHECK(bus->store().count_pending() == 0);
}

TEST_CASE("an outbox bus stores events with its configured source and max_data_bytes", "[outbox][limits]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  BusConfig config = BusConfig::from_url("memory://");
  config.source = "/orders";
  config.decode.max_data_bytes = 2 * 1024 * 1024;
  OutboxBusOptions options;
  options.run_relay = false;
  auto bus = make_outbox_bus(config, scratch.url(), options);

  Envelope made = Envelope::make("order.created", {{"order_id", "1"}});
  bus->publish(made);
  CHECK(bus->store().get(made.id).event.source == "/orders");

  // Over the default 1 MiB, within the configured 2 MiB: the store takes it too.
  Envelope large = Envelope::make("scan.uploaded", std::string(1536 * 1024, 's'));
  bus->publish(large);
  CHECK(bus->store().get(large.id).event.data.size() == large.data.size());

  try {
    bus->publish(Envelope::make("scan.uploaded", std::string(3 * 1024 * 1024, 's')));
    FAIL("oversize data was published");
  } catch (const DecodeError& ex) {
    CHECK(ex.field() == "data");
  }
  CHECK(bus->store().count_pending() == 2);
}

TEST_CASE("an outbox bus leaves handler retries and dead letters to its transport", "[outbox][dead-letter]") {
  ScratchStore scratch("sqlite");
  OutboxBusOptions options;
  options.relay.interval = std::chrono::milliseconds(10);
  auto bus = make_outbox_bus(BusConfig::from_url("memory://"), scratch.url(), options);
  std::atomic<int> runs{0};
  // The handler's own error reaches the transport: its type decides.
  const bool permanent = GENERATE(false, true);
  auto sub = bus->subscribe({.pattern = "payment.*",
                             .group = "payments",
                             .retry = {.max_attempts = 3, .initial_delay = std::chrono::milliseconds(1), .jitter = 0}},
                            [&](const Envelope&) {
                              ++runs;
                              if (permanent) throw PermanentError("card reported stolen");
                              throw std::runtime_error("card declined");
                            });
  Envelope e = Envelope::make("payment.requested", {{"order_id", "45"}});
  bus->publish(e);
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  auto letters = bus->dead_letters("payments");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].event.id == e.id);
  // The relay delivered it: the store's row is not dead, the transport's letter is.
  CHECK(bus->store().get(e.id).delivered_at);
  if (permanent) {
    CHECK(runs == 1);
    CHECK(letters[0].reason == "non_retriable");
    CHECK(letters[0].last_error == "card reported stolen");
    return;
  }
  CHECK(runs == 3);
  CHECK(letters[0].reason == "max_attempts");
  CHECK(letters[0].last_error == "card declined");
  // The transport's metrics see every handler run, retry and dead letter.
  auto transport = bus->transport().metrics().snapshot().total("payments");
  CHECK(transport.failed_attempts == 3);
  CHECK(transport.dead_lettered == 1);
}

TEST_CASE("every append path gives an event without a partition key its aggregate id as partition key",
          "[outbox][ordering]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  auto aggregate_event = [](const std::string& id) {
    Envelope e = Envelope::make("order.paid", {{"order_id", id}});
    e.aggregatetype = "order";
    e.aggregateid = id;
    return e;
  };

  Envelope by_store = aggregate_event("1");
  store->append(by_store);
  CHECK(by_store.partitionkey == "1");
  CHECK(store->get(by_store.id).event.partitionkey == "1");

  auto app = scratch.connect();
  Envelope in_transaction = aggregate_event("2");
  app->begin();
  app->append(in_transaction);  // herald::sqlite::append / herald::postgres::append
  app->commit();
  CHECK(store->get(in_transaction.id).event.partitionkey == "2");

  OutboxBusOptions options;
  options.run_relay = false;
  auto bus = make_outbox_bus(BusConfig::from_url("memory://"), scratch.url(), options);
  Envelope published = aggregate_event("3");
  bus->publish(published);
  CHECK(store->get(published.id).event.partitionkey == "3");

  // A partition key of the application's own is kept; without an aggregate
  // there is nothing to default to.
  Envelope own = aggregate_event("4");
  own.partitionkey = "customer-7";
  Envelope loose = Envelope::make("audit.logged", {{"n", 1}});
  store->append(own);
  store->append(loose);
  CHECK(store->get(own.id).event.partitionkey == "customer-7");
  CHECK(store->get(loose.id).event.partitionkey.empty());
}
