// Records written by producers that are not herald: on a broker anyone may
// write to the topic or exchange, and what is not an envelope must not stop
// the consumer.

#include <catch2/catch.hpp>

#include "fixture.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("an undecodable record is dead-lettered at once with its bytes and the consumer keeps going",
          "[conformance][foreign][dlq]") {
  BusFixture f;
  if (!f.features.foreign_bytes) {
    SUCCEED("transport " << f.features.name << " carries no bytes a foreign producer could write");
    return;
  }
  const std::string group = f.group("decoder");
  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "order.#", .group = group, .retry = quick_retry(3)},
                              [&](const Envelope& e) { handled.add(e.id); });
  const ForeignRecord where = f.transport.publish_raw(f.ns, "order.broken", "{not json at all");
  Envelope good = Envelope::make("order.created", {{"n", 1}});
  f.bus->publish(good);

  REQUIRE(handled.wait_for(1, deadline));
  CHECK(handled.items() == std::vector<std::string>{good.id});
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(letters.size() == 1);
  const DeadLetter& d = letters.front();
  CHECK(d.reason == dead_letter_reason_decode);
  CHECK(d.raw_body == "{not json at all");
  CHECK(d.event.id.empty());
  CHECK(d.attempts == 0);  // no handler ran
  CHECK(d.group == group);
  CHECK_THAT(d.last_error, Catch::StartsWith("envelope:"));
  CHECK(d.routing_key == where.routing_key);
  CHECK(d.topic == where.topic);
  if (where.has_offset) CHECK(d.offset >= 0);
  REQUIRE(f.bus->flush(deadline));
  CHECK(handled.size() == 1);
  CHECK(f.totals(group).dead_lettered == 1);
}
