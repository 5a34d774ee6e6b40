// Records a group member cannot pass on as they are: re-encoding them for
// the retry or dead-letter topic fails, or that topic refuses them. Either
// way the member lives on, the record ends in the dead-letter topic, and the
// group's committed offset moves past it.

#include <catch2/catch.hpp>

#include <string>

#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// Fails the record with id `bad`, records every other id.
auto fail_only(const std::string& bad, Recorder<std::string>& handled) {
  return [bad, &handled](const Envelope& e) {
    if (e.id == bad) throw std::runtime_error("refused by the handler");
    handled.add(e.id);
  };
}

}  // namespace

TEST_CASE("a binary record with a header that is not UTF-8 is dead-lettered raw when its handler fails",
          "[kafka][dlq][forwarding]") {
  // 3: the dead-letter path re-encodes it; 1: the retry-topic path does.
  auto in_process = GENERATE(std::string("3"), std::string("1"));
  INFO("in_process_attempts=" << in_process);
  KafkaFixture f({{"in_process_attempts", in_process}});
  const std::string group = f.group("foreign");
  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "order.*", .group = group, .retry = quick_retry(2)}, fail_only("bad-utf8", handled));

  const std::string value = R"({"n":1})";
  produce_raw(f.topic("order"), "k1", value,
              {{"ce_specversion", "1.0"},
               {"ce_id", "bad-utf8"},
               {"ce_type", "order.created"},
               {"ce_source", "/foreign"},
               {"ce_note", "\xff\xfe"},
               {"content-type", "application/json"}});
  Envelope after = Envelope::make("order.created", {{"n", 2}});
  after.partitionkey = "k1";  // behind the bad record in its partition
  f.bus->publish(after);

  REQUIRE(handled.wait_for(1, deadline));
  CHECK(handled.items().front() == after.id);
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(letters.size() == 1);
  CHECK(letters.front().reason == dead_letter_reason_decode);
  CHECK(letters.front().raw_body == value);
  CHECK(letters.front().topic == f.topic("order"));
  auto raw = read_topic(f.topic("order") + ".dlq", 1, deadline);
  REQUIRE(raw.size() == 1);
  CHECK(raw.front().header("ce_note") == "\xff\xfe");  // the foreign record's own headers travel with it
  CHECK(raw.front().key == "k1");
  REQUIRE(f.bus->flush(deadline));
  // The group's committed offset moved past the record: a restart does not meet it again.
  const std::int64_t bad_offset = std::stoll(raw.front().header("x-herald-dl-offset"));
  const std::int32_t bad_partition = std::stoi(raw.front().header("x-herald-dl-partition"));
  CHECK(committed_offset(group, f.topic("order"), bad_partition) > bad_offset);
}

TEST_CASE("a structured record whose data_base64 is not base64 is dead-lettered raw by a binary-mode bus",
          "[kafka][dlq][forwarding]") {
  KafkaFixture f({{"mode", "binary"}});
  const std::string group = f.group("base64");
  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "order.*", .group = group, .retry = quick_retry(2)}, fail_only("bad-b64", handled));

  const std::string value =
      R"({"specversion":"1.0","id":"bad-b64","type":"order.created","source":"/foreign",)"
      R"("datacontenttype":"application/octet-stream","data_base64":"!!not base64!!"})";
  produce_raw(f.topic("order"), "k1", value, {{"content-type", "application/cloudevents+json"}});
  Envelope after = Envelope::make("order.created", {{"n", 2}});
  after.partitionkey = "k1";
  f.bus->publish(after);

  REQUIRE(handled.wait_for(1, deadline));
  CHECK(handled.items().front() == after.id);
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(letters.size() == 1);
  CHECK(letters.front().reason == dead_letter_reason_decode);
  CHECK(letters.front().raw_body == value);
  REQUIRE(f.bus->flush(deadline));
}

TEST_CASE("an event the retry or dead-letter topic refuses for its size is dead-lettered without its data",
          "[kafka][dlq][forwarding]") {
  auto via = GENERATE(std::string("retry"), std::string("dlq"));
  INFO("refused by the " << via << " topic");
  KafkaFixture f({{"in_process_attempts", "1"}, {"retry_topic", via == "retry" ? "true" : "false"}});
  const std::string group = f.group("sizes");
  // Made before herald looks for it: a topic that takes nothing over 2000 bytes.
  const std::string small_topic = via == "retry" ? f.topic("blob") + ".retry." + group : f.topic("blob") + ".dlq";
  create_topic(small_topic, 3, {{"max.message.bytes", "2000"}});

  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "blob.*", .group = group, .retry = quick_retry(via == "retry" ? 3 : 1)},
                              [&](const Envelope& e) {
                                if (e.partitionkey == "big") throw std::runtime_error("no room for it");
                                handled.add(e.id);
                              });
  Envelope big = Envelope::make("blob.stored", std::string(5000, 'x'));
  big.partitionkey = "big";
  f.bus->publish(big);
  Envelope small = Envelope::make("blob.stored", "small");
  small.partitionkey = "big-neighbour";
  f.bus->publish(small);

  REQUIRE(handled.wait_for(1, deadline));
  auto started = std::chrono::steady_clock::now();
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(f.bus->flush(deadline));  // the partition's offset moved on
  std::printf("refused by the %s topic: dead letter listed and offsets committed %lld ms after the neighbour\n",
              via.c_str(),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - started)
                                         .count()));
  REQUIRE(letters.size() == 1);
  const DeadLetter& d = letters.front();
  CHECK(d.event.id == big.id);
  CHECK(d.event.type == "blob.stored");
  CHECK(d.event.data.empty());  // the data that did not fit is not in the letter
  CHECK(d.reason == "forward_error");
  CHECK_THAT(d.last_error, Catch::Contains("no room for it"));
  CHECK_THAT(d.last_error, Catch::Contains(small_topic));
  CHECK_THAT(d.last_error, Catch::Contains("MSG_SIZE_TOO_LARGE"));
  CHECK(d.topic == f.topic("blob"));
  CHECK(d.offset == 0);
  // A letter without its data cannot be replayed: the original is at d.topic/d.partition/d.offset.
  CHECK(f.bus->replay_dead_letters(group) == 0);
  // Counted once each: the hop to the retry topic that was refused, and the one dead letter.
  auto totals = f.bus->metrics().snapshot().total(group);
  CHECK(totals.retried == (via == "retry" ? 1u : 0u));
  CHECK(totals.dead_lettered == 1);
}

TEST_CASE("an event of nearly a megabyte is published and dead-lettered whole through the retry topic",
          "[kafka][dlq][forwarding]") {
  // Under the broker's default record limit (1 MiB + 12 bytes) and herald's
  // max_data_bytes (1 MiB), above librdkafka's own default (1,000,000).
  KafkaFixture f({{"in_process_attempts", "1"}});
  const std::string group = f.group("large");
  auto sub = f.bus->subscribe({.pattern = "scan.*", .group = group, .retry = quick_retry(2)},
                              [](const Envelope&) { throw std::runtime_error("unreadable"); });
  Envelope big = Envelope::make("scan.uploaded", std::string(1'000'000, 's'), "/scans");
  f.bus->publish(big);

  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(letters.size() == 1);
  CHECK(letters.front().reason == dead_letter_reason_max_attempts);
  CHECK(letters.front().event == big);
  REQUIRE(f.bus->flush(deadline));
}
