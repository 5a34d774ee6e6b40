// SQL idempotency stores: plain marks, and the inbox (mark and effect in one
// transaction).

#include <catch2/catch.hpp>

#include <atomic>

#include "herald/config.hpp"
#include "herald/idempotency_store.hpp"
#include "scratch_store.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;

namespace {

struct TestClock {
  std::atomic<std::int64_t> micros{now_micros().time_since_epoch().count()};
  Timestamp now() const { return Timestamp(std::chrono::microseconds(micros.load())); }
  void advance(milliseconds d) { micros += d.count() * 1000; }
};

}  // namespace

TEST_CASE("a SQL idempotency store claims once, remembers completion and forgets after the TTL", "[idempotency]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  TestClock clock;
  auto marks = open_idempotency_store(scratch.url(), {.ttl = milliseconds(60'000),
                                                      .claim_timeout = milliseconds(5'000),
                                                      .clock = [&] { return clock.now(); }});
  CHECK(marks->claim("g", "e1") == IdempotencyClaim::acquired);
  CHECK(marks->claim("g", "e1") == IdempotencyClaim::busy);
  CHECK(marks->claim("other", "e1") == IdempotencyClaim::acquired);  // groups are separate
  marks->complete("g", "e1");
  CHECK(marks->claim("g", "e1") == IdempotencyClaim::done);
  CHECK(marks->claim("g", "e2") == IdempotencyClaim::acquired);
  marks->release("g", "e2");
  CHECK(marks->claim("g", "e2") == IdempotencyClaim::acquired);

  // A claim whose worker died is taken over after the claim timeout.
  clock.advance(milliseconds(5'001));
  CHECK(marks->claim("g", "e2") == IdempotencyClaim::acquired);
  // A completed mark expires after the TTL.
  CHECK(marks->claim("g", "e1") == IdempotencyClaim::done);
  clock.advance(milliseconds(60'000));
  CHECK(marks->claim("g", "e1") == IdempotencyClaim::acquired);

  // Marks are durable: another store on the same database sees them.
  marks->complete("g", "e3");
  auto again = open_idempotency_store(scratch.url(), {.clock = [&] { return clock.now(); }});
  CHECK(again->claim("g", "e3") == IdempotencyClaim::done);
}

TEST_CASE("the idempotent wrapper over a SQL store runs a handler once per event id", "[idempotency]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto marks = open_idempotency_store(scratch.url());
  int effects = 0, duplicates = 0, failures_left = 1;
  Handler h = idempotent(marks, "g", [&](const Envelope&) {
    if (failures_left-- > 0) throw std::runtime_error("transient");
    ++effects;
  }, {.on_duplicate = [&](const Envelope&) { ++duplicates; }});
  Envelope e = Envelope::make("order.paid");
  CHECK_THROWS(h(e));  // the failed run releases its claim
  h(e);
  h(e);
  CHECK(effects == 1);
  CHECK(duplicates == 1);
}

TEST_CASE("the inbox commits the mark with the handler's writes, or neither", "[idempotency][inbox]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();  // creates herald's tables
  auto app = scratch.connect();
  std::atomic<bool> fail{true};
  std::atomic<int> duplicates{0};
  Handler h = app->inbox("loyalty", [&](const Envelope&) { return fail.load(); }, [&](const Envelope&) { ++duplicates; });
  Envelope e = Envelope::make("order.paid", {{"order_id", "42"}});

  CHECK_THROWS(h(e));                   // wrote its effect, then threw: both rolled back
  CHECK(app->count_effects(e.id) == 0);
  fail = false;
  h(e);
  CHECK(app->count_effects(e.id) == 1);
  h(e);                                 // a redelivery: no second effect
  h(e);
  CHECK(app->count_effects(e.id) == 1);
  CHECK(duplicates == 2);

  // Another group keeps its own marks.
  Handler other = app->inbox("analytics", nullptr, nullptr);
  other(e);
  CHECK(app->count_effects(e.id) == 2);
}

