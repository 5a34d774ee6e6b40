// Retry topic, dead-letter topic and its headers. (An undecodable record is
// the conformance suite's: foreign_test.cpp.)

#include <catch2/catch.hpp>

#include <atomic>
#include <set>

#include "herald/codec.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a subscription makes its retry and dead-letter topics when it subscribes", "[kafka][dlq][retry]") {
  // So the first retry or dead letter costs its lane no admin round trip.
  KafkaFixture f;
  const std::string group = f.group("ready");
  auto sub = f.bus->subscribe({.pattern = "parcel.*", .group = group}, [](const Envelope&) {});
  CHECK(topic_exists(f.topic("parcel")));
  CHECK(topic_exists(f.topic("parcel") + ".retry." + group));
  CHECK(topic_exists(f.topic("parcel") + ".dlq"));
}

TEST_CASE("a dead-lettered event carries the dead-letter record in its headers", "[kafka][dlq]") {
  KafkaFixture f;
  const std::string group = f.group("payments");
  auto sub = f.bus->subscribe({.pattern = "payment.*", .group = group, .retry = quick_retry(2)},
                              [](const Envelope&) { throw std::runtime_error("card declined"); });
  Envelope e = Envelope::make("payment.captured", {{"amount", 10}}, "/payments");
  e.partitionkey = "acct-1";
  f.bus->publish(e);

  auto records = read_topic(f.topic("payment") + ".dlq", 1, deadline);
  REQUIRE(records.size() == 1);
  const RawRecord& r = records.front();
  CHECK(r.key == "acct-1");
  CHECK(decode(r.value) == e);
  CHECK(r.header("content-type") == "application/cloudevents+json");
  CHECK(r.header("x-herald-dl-group") == group);
  CHECK(r.header("x-herald-dl-reason") == "max_attempts");
  CHECK(r.header("x-herald-dl-attempts") == "2");
  CHECK(r.header("x-herald-dl-last-error") == "card declined");
  CHECK(r.header("x-herald-dl-routing-key") == "payment.captured");
  CHECK(r.header("x-herald-dl-topic") == f.topic("payment"));
  CHECK(r.header("x-herald-dl-partition") != "");
  CHECK(r.header("x-herald-dl-offset") == "0");
  CHECK(parse_time(r.header("x-herald-dl-first-failure")) <= parse_time(r.header("x-herald-dl-last-failure")));
  REQUIRE(f.bus->flush(deadline));
}

TEST_CASE("after the in-process attempts an event goes through the group's retry topic", "[kafka][retry]") {
  KafkaFixture f({{"in_process_attempts", "2"}});
  const std::string group = f.group("slow");
  std::atomic<int> calls{0};
  auto sub = f.bus->subscribe({.pattern = "report.*", .group = group, .retry = quick_retry(5)}, [&](const Envelope&) {
    ++calls;
    throw std::runtime_error("renderer busy");
  });
  Envelope e = Envelope::make("report.requested", {{"n", 1}});
  f.bus->publish(e);

  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  CHECK(calls == 5);
  REQUIRE(letters.size() == 1);
  CHECK(letters.front().attempts == 5);
  CHECK(letters.front().topic == f.topic("report"));  // where it first arrived, not the retry topic
  CHECK(letters.front().event.id == e.id);
  // Runs 1-2 here, 3-4 after one hop, 5 after another: two records in the retry topic.
  auto hops = read_topic(f.topic("report") + ".retry." + group, 2, deadline);
  REQUIRE(hops.size() == 2);
  std::set<std::string> counted{hops[0].header("x-herald-attempts"), hops[1].header("x-herald-attempts")};
  CHECK(counted == std::set<std::string>{"2", "4"});
  CHECK(hops[0].header("x-herald-origin-topic") == f.topic("report"));
  CHECK(hops[0].header("x-herald-last-error") == "renderer busy");
  CHECK(hops[0].header("x-herald-retry-attempts").empty());  // one vocabulary with RabbitMQ now
  REQUIRE(f.bus->flush(deadline));
  auto totals = f.bus->metrics().snapshot().total(group);
  CHECK(totals.retried == 4);
  CHECK(totals.dead_lettered == 1);
}

TEST_CASE("a record left in the retry topic with the old retry headers goes on with its attempts counted",
          "[kafka][retry]") {
  KafkaFixture f;
  const std::string group = f.group("upgrade");
  std::atomic<int> calls{0};
  auto sub = f.bus->subscribe({.pattern = "invoice.*", .group = group, .retry = quick_retry(3)}, [&](const Envelope&) {
    ++calls;
    throw std::runtime_error("printer jammed");
  });
  // What herald wrote before the delivery headers were unified: two runs spent.
  Envelope e = Envelope::make("invoice.issued", {{"n", 1}}, "/invoices");
  e.partitionkey = "inv-1";
  produce_raw(f.topic("invoice") + ".retry." + group, "inv-1", encode(e),
              {{"content-type", "application/cloudevents+json"},
               {"x-herald-retry-attempts", "2"},
               {"x-herald-retry-first-failure", "2026-01-02T03:04:05.000000Z"},
               {"x-herald-retry-last-error", "printer jammed"},
               {"x-herald-retry-not-before", "0"},
               {"x-herald-retry-origin-topic", f.topic("invoice")},
               {"x-herald-retry-origin-partition", "1"},
               {"x-herald-retry-origin-offset", "41"}});

  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  CHECK(calls == 1);  // the third and last run
  REQUIRE(letters.size() == 1);
  const DeadLetter& d = letters.front();
  CHECK(d.event.id == e.id);
  CHECK(d.reason == "max_attempts");
  CHECK(d.attempts == 3);
  CHECK(d.first_failure == parse_time("2026-01-02T03:04:05.000000Z"));
  CHECK(d.topic == f.topic("invoice"));
  CHECK(d.partition == 1);
  CHECK(d.offset == 41);
  REQUIRE(f.bus->flush(deadline));
}

TEST_CASE("a replay reaches only the group that gave up, and is not listed again", "[kafka][dlq]") {
  KafkaFixture f;
  const std::string picky = f.group("picky"), happy = f.group("happy");
  std::atomic<bool> healthy{false};
  std::atomic<int> picky_ok{0}, happy_ok{0};
  auto s1 = f.bus->subscribe({.pattern = "mail.*", .group = picky, .retry = quick_retry(1)}, [&](const Envelope&) {
    if (!healthy) throw std::runtime_error("smtp down");
    ++picky_ok;
  });
  auto s2 = f.bus->subscribe({.pattern = "mail.*", .group = happy}, [&](const Envelope&) { ++happy_ok; });
  f.bus->publish(Envelope::make("mail.queued", {{"n", 1}}));
  REQUIRE(wait_until([&] { return f.bus->dead_letters(picky).size() == 1; }, deadline));
  REQUIRE(wait_until([&] { return happy_ok.load() == 1; }, deadline));

  healthy = true;
  CHECK(f.bus->replay_dead_letters(picky) == 1);
  REQUIRE(wait_until([&] { return picky_ok.load() == 1; }, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(happy_ok == 1);
  auto other = make_bus(kafka_config(f.ns));
  CHECK(other->dead_letters(picky).empty());
  CHECK(other->dead_letters(happy).empty());
  CHECK(other->replay_dead_letters(picky) == 0);
}
