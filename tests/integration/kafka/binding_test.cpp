// The CloudEvents Kafka binding on the wire: what herald writes, and what it
// reads from producers that are not herald.

#include <catch2/catch.hpp>

#include <set>

#include "herald/codec.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

Envelope sample(const std::string& type, const std::string& key) {
  Envelope e = Envelope::make(type, {{"order_id", key}, {"total", 12.5}}, "tests/orders");
  e.partitionkey = key;
  e.subject = "orders/" + key;
  e.aggregatetype = "order";
  e.aggregateid = key;
  e.actor = "user:7";
  e.dataversion = 2;
  e.extensions["tenant"] = "acme";
  return e;
}

}  // namespace

TEST_CASE("structured mode writes the CloudEvents JSON document with its content type", "[kafka][binding]") {
  KafkaFixture f;
  Envelope sent = sample("order.created", "42");
  f.bus->publish(sent);

  auto records = read_topic(f.topic("order"), 1);
  REQUIRE(records.size() == 1);
  const RawRecord& r = records.front();
  CHECK(r.key == "42");
  CHECK(r.header("content-type") == "application/cloudevents+json");
  CHECK_FALSE(r.has_header("ce_id"));
  CHECK(decode(r.value) == sent);
}

TEST_CASE("binary mode puts every attribute in a ce_ header and the data in the value", "[kafka][binding]") {
  KafkaFixture f({{"mode", "binary"}});
  Envelope sent = sample("order.created", "42");
  sent.correlationid = "corr-1";
  f.bus->publish(sent);

  auto records = read_topic(f.topic("order"), 1);
  REQUIRE(records.size() == 1);
  const RawRecord& r = records.front();
  CHECK(r.key == "42");
  CHECK(r.value == sent.data);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.header("ce_specversion") == "1.0");
  CHECK(r.header("ce_id") == sent.id);
  CHECK(r.header("ce_type") == "order.created");
  CHECK(r.header("ce_source") == "tests/orders");
  CHECK(r.header("ce_time") == format_time(sent.time));
  CHECK(r.header("ce_subject") == "orders/42");
  CHECK(r.header("ce_dataversion") == "2");
  CHECK(r.header("ce_partitionkey") == "42");
  CHECK(r.header("ce_aggregatetype") == "order");
  CHECK(r.header("ce_aggregateid") == "42");
  CHECK(r.header("ce_correlationid") == "corr-1");
  CHECK(r.header("ce_actor") == "user:7");
  CHECK(r.header("ce_tenant") == "acme");
}

TEST_CASE("a subscriber reads either mode, whichever the producer used", "[kafka][binding]") {
  auto mode = GENERATE(std::string("structured"), std::string("binary"));
  INFO("producer mode " << mode);
  KafkaFixture reader({{"mode", mode == "binary" ? "structured" : "binary"}});
  auto writer = make_bus(kafka_config(reader.ns, {{"mode", mode}}));
  Recorder<Envelope> got;
  auto sub = reader.bus->subscribe({.pattern = "order.*", .group = reader.group("read")}, [&](const Envelope& e) { got.add(e); });
  Envelope sent = sample("order.paid", "7");
  writer->publish(sent);
  REQUIRE(got.wait_for(1, deadline));
  CHECK(got.items().front() == sent);
}

TEST_CASE("a binary-mode record written by plain librdkafka is read as an event", "[kafka][binding]") {
  KafkaFixture f;
  Recorder<Envelope> got;
  auto sub = f.bus->subscribe({.pattern = "invoice.#", .group = f.group("foreign")}, [&](const Envelope& e) { got.add(e); });
  produce_raw(f.topic("invoice"), "inv-9", R"({"amount":12})",
              {{"ce_specversion", "1.0"},
               {"ce_id", "foreign-1"},
               {"ce_type", "invoice.issued"},
               {"ce_source", "/billing"},
               {"ce_time", "2026-11-23T09:30:00.5Z"},
               {"ce_traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
               {"ce_region", "eu"},
               {"content-type", "application/json"},
               {"x-unrelated", "ignored"}});
  REQUIRE(got.wait_for(1, deadline));
  const auto items = got.items();
  const Envelope& e = items.front();
  CHECK(e.id == "foreign-1");
  CHECK(e.type == "invoice.issued");
  CHECK(e.source == "/billing");
  CHECK(e.time == parse_time("2026-11-23T09:30:00.5Z"));
  CHECK(e.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(e.partitionkey == "inv-9");  // taken from the record key
  CHECK(e.extensions.at("region") == "eu");
  CHECK(e.extensions.count("unrelated") == 0);
  CHECK(e.payload() == nlohmann::json({{"amount", 12}}));
}

TEST_CASE("types of one family share a topic and one key stays in one partition", "[kafka][topics]") {
  KafkaFixture f({{"partitions", "4"}});
  std::vector<Envelope> batch;
  for (int i = 0; i < 20; ++i) {
    Envelope e = Envelope::make(i % 2 ? "order.paid" : "order.created", {{"i", i}});
    e.partitionkey = "order-" + std::to_string(i % 3);
    batch.push_back(e);
  }
  f.bus->publish(batch);
  auto records = read_topic(f.topic("order"), 20);
  REQUIRE(records.size() == 20);
  std::map<std::string, std::set<int>> partitions_by_key;
  for (const auto& r : records) partitions_by_key[r.key].insert(r.partition);
  REQUIRE(partitions_by_key.size() == 3);
  for (const auto& [key, partitions] : partitions_by_key) {
    INFO("key " << key);
    CHECK(partitions.size() == 1);
  }
}

TEST_CASE("the single topic rule puts every type in one topic", "[kafka][topics]") {
  KafkaFixture f({{"topic_rule", "single"}, {"topic", "all"}});
  Recorder<std::string> got;
  auto sub = f.bus->subscribe({.pattern = "#", .group = f.group("all")}, [&](const Envelope& e) { got.add(e.type); });
  f.bus->publish(Envelope::make("order.created", {{"n", 1}}));
  f.bus->publish(Envelope::make("user.registered", {{"n", 2}}));
  REQUIRE(got.wait_for(2, deadline));
  CHECK(read_topic(f.topic("all"), 2).size() == 2);
}

TEST_CASE("a pattern starting with a wildcard sees a topic this bus creates later, at once", "[kafka][topics]") {
  // The default metadata refresh (10 s) would be too late for the deadline below.
  KafkaFixture f;
  Recorder<std::string> got;
  auto sub = f.bus->subscribe({.pattern = "*.shipped", .group = f.group("any")}, [&](const Envelope& e) { got.add(e.type); });
  auto start = std::chrono::steady_clock::now();
  f.bus->publish(Envelope::make("parcel.shipped", {{"n", 1}}));
  REQUIRE(got.wait_for(1, std::chrono::seconds(8)));
  INFO("took " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count() << " ms");
  CHECK(got.items() == std::vector<std::string>{"parcel.shipped"});
}
