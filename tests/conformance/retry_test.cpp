#include <catch2/catch.hpp>

#include <atomic>

#include "fixture.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a failing handler is retried until it succeeds", "[conformance][retry]") {
  BusFixture f;
  std::atomic<int> calls{0};
  Recorder<std::string> done;
  auto sub = f.bus->subscribe({.pattern = "email.requested", .group = f.group("mailer"), .retry = quick_retry(5)},
                              [&](const Envelope& e) {
                                if (++calls < 3) throw std::runtime_error("smtp timeout");
                                done.add(e.id);
                              });
  f.bus->publish(Envelope::make("email.requested", {{"to", "a@example.com"}}));
  REQUIRE(done.wait_for(1, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(calls == 3);
  CHECK(f.bus->dead_letters(f.group("mailer")).empty());
  auto totals = f.totals(f.group("mailer"));
  CHECK(totals.failed_attempts == 2);
  CHECK(totals.retried == 2);
  CHECK(totals.delivered == 1);
}

TEST_CASE("max_attempts = N runs the handler exactly N times, then dead-letters the event", "[conformance][retry][dlq]") {
  auto attempts = GENERATE(1, 3);
  BusFixture f;
  const std::string group = f.group("poison");
  std::atomic<int> calls{0};
  auto sub = f.bus->subscribe({.pattern = "payment.*", .group = group, .retry = quick_retry(attempts)},
                              [&](const Envelope&) {
                                ++calls;
                                throw std::runtime_error("card declined: insufficient funds");
                              });
  Envelope e = Envelope::make("payment.captured", {{"amount", 10}});
  f.bus->publish(e);
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(calls == attempts);
  REQUIRE(letters.size() == 1);
  const DeadLetter& d = letters.front();
  CHECK(d.event.id == e.id);
  CHECK(d.group == group);
  CHECK(d.reason == dead_letter_reason_max_attempts);
  CHECK(d.attempts == attempts);
  CHECK(d.last_error == "card declined: insufficient funds");
  CHECK(d.routing_key == "payment.captured");
  CHECK(d.first_failure <= d.last_failure);
  CHECK(f.totals(group).dead_lettered == 1);
}

TEST_CASE("dead letters can be replayed into their group and purged", "[conformance][dlq]") {
  BusFixture f;
  const std::string group = f.group("invoicing");
  std::atomic<bool> healthy{false};
  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "invoice.#", .group = group, .retry = quick_retry(2)},
                              [&](const Envelope& e) {
                                if (!healthy) throw std::runtime_error("pdf service down");
                                handled.add(e.id);
                              });
  Envelope a = Envelope::make("invoice.issued", {{"n", 1}});
  Envelope b = Envelope::make("invoice.issued", {{"n", 2}});
  f.bus->publish(a);
  f.bus->publish(b);
  REQUIRE(wait_until([&] { return f.bus->dead_letters(group).size() == 2; }, deadline));

  healthy = true;
  SECTION("replay one by id, then the rest") {
    CHECK(f.bus->replay_dead_letters(group, a.id) == 1);
    REQUIRE(handled.wait_for(1, deadline));
    CHECK(handled.items().front() == a.id);
    REQUIRE(wait_until([&] { return f.bus->dead_letters(group).size() == 1; }, deadline));
    CHECK(f.bus->replay_dead_letters(group) == 1);
    REQUIRE(handled.wait_for(2, deadline));
    REQUIRE(wait_until([&] { return f.bus->dead_letters(group).empty(); }, deadline));
  }
  SECTION("replay the last one by id, then the other") {
    // The one fetched last is taken: the ones kept before it go back, and
    // nothing is asked of the one already taken.
    const std::string last = f.bus->dead_letters(group).back().event.id;
    const std::string other = last == a.id ? b.id : a.id;
    CHECK(f.bus->replay_dead_letters(group, last) == 1);
    REQUIRE(handled.wait_for(1, deadline));
    CHECK(handled.items().front() == last);
    REQUIRE(wait_until([&] { return f.bus->dead_letters(group).size() == 1; }, deadline));
    CHECK(f.bus->dead_letters(group).front().event.id == other);
    CHECK(f.bus->replay_dead_letters(group, other) == 1);
    REQUIRE(handled.wait_for(2, deadline));
  }
  SECTION("purge drops them") {
    CHECK(f.bus->purge_dead_letters(group) == 2);
    REQUIRE(wait_until([&] { return f.bus->dead_letters(group).empty(); }, deadline));
    REQUIRE(f.bus->flush(deadline));
    CHECK(handled.size() == 0);
  }
}

TEST_CASE("a poison event does not hold up events of other keys", "[conformance][retry]") {
  BusFixture f;
  const std::string group = f.group("fulfilment");
  Recorder<std::string> ok;
  auto sub = f.bus->subscribe({.pattern = "shipment.*", .group = group, .concurrency = 2, .retry = quick_retry(3)},
                              [&](const Envelope& e) {
                                if (e.partitionkey == "poison") throw std::runtime_error("bad address");
                                ok.add(e.partitionkey);
                              });
  Envelope poison = Envelope::make("shipment.created", {{"n", 0}});
  poison.partitionkey = "poison";
  f.bus->publish(poison);
  for (int i = 0; i < 20; ++i) {
    Envelope e = Envelope::make("shipment.created", {{"n", i}});
    e.partitionkey = "k" + std::to_string(i);
    f.bus->publish(e);
  }
  REQUIRE(ok.wait_for(20, deadline));
  REQUIRE(wait_until([&] { return f.bus->dead_letters(group).size() == 1; }, deadline));
}

TEST_CASE("retries wait with exponential backoff", "[conformance][retry][backoff]") {
  BusFixture f(Time::simulated);
  std::mutex mutex;
  std::vector<std::chrono::steady_clock::time_point> at;
  RetryPolicy policy = quick_retry(3);
  policy.initial_delay = std::chrono::milliseconds(100);
  auto sub = f.bus->subscribe({.pattern = "sync.requested", .group = f.group("sync"), .retry = policy},
                              [&](const Envelope&) {
                                std::lock_guard lock(mutex);
                                at.push_back(std::chrono::steady_clock::now());
                                if (at.size() < 3) throw std::runtime_error("busy");
                              });
  auto runs = [&] {
    std::lock_guard lock(mutex);
    return at.size();
  };
  f.bus->publish(Envelope::make("sync.requested", {{"n", 1}}));
  using std::chrono::milliseconds;
  if (f.clock) {
    // Simulated time: each retry waits exactly its delay, not a moment less.
    REQUIRE(wait_until([&] { return runs() == 1 && f.clock->pending() == 1; }, deadline));
    CHECK(f.clock->next_due() == milliseconds(100));
    f.clock->advance(milliseconds(99));
    CHECK(runs() == 1);
    f.clock->advance(milliseconds(1));
    REQUIRE(wait_until([&] { return runs() == 2 && f.clock->pending() == 1; }, deadline));
    CHECK(f.clock->next_due() == milliseconds(200));
    f.clock->advance(milliseconds(199));
    CHECK(runs() == 2);
    f.clock->advance(milliseconds(1));
    REQUIRE(wait_until([&] { return runs() == 3; }, deadline));
    return;
  }
  REQUIRE(wait_until([&] { return runs() == 3; }, deadline));
  std::lock_guard lock(mutex);
  // Lower bounds only: a slow machine may wait longer, never shorter.
  CHECK(at[1] - at[0] >= milliseconds(95));
  CHECK(at[2] - at[1] >= milliseconds(195));
}

TEST_CASE("a handler's non-retriable error dead-letters the event at once", "[conformance][retry][dlq]") {
  BusFixture f;
  const std::string group = f.group("refunds");
  std::atomic<int> calls{0};
  const std::string kind = GENERATE(std::string("permanent"), std::string("typed decode"));
  auto sub = f.bus->subscribe({.pattern = "refund.requested", .group = group, .retry = quick_retry(5)},
                              [&](const Envelope&) {
                                ++calls;
                                if (kind == "permanent") throw PermanentError("refund refused: account closed");
                                throw DecodeError("data", "refund refused: account closed");
                              });
  Envelope e = Envelope::make("refund.requested", {{"amount", 10}});
  f.bus->publish(e);
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(calls == 1);
  REQUIRE(letters.size() == 1);
  CHECK(letters.front().event.id == e.id);
  CHECK(letters.front().reason == "non_retriable");
  CHECK(letters.front().attempts == 1);
  CHECK(letters.front().last_error == "refund refused: account closed");
  auto totals = f.totals(group);
  CHECK(totals.retried == 0);
  CHECK(totals.dead_lettered == 1);
}

TEST_CASE("a handler's retriable herald error is retried like any other", "[conformance][retry]") {
  BusFixture f;
  std::atomic<int> calls{0};
  Recorder<std::string> done;
  auto sub = f.bus->subscribe({.pattern = "refund.requested", .group = f.group("refunds"), .retry = quick_retry(3)},
                              [&](const Envelope& e) {
                                if (++calls < 2) throw TimeoutError("bank did not answer");
                                done.add(e.id);
                              });
  f.bus->publish(Envelope::make("refund.requested", {{"amount", 10}}));
  REQUIRE(done.wait_for(1, deadline));
  CHECK(calls == 2);
}
