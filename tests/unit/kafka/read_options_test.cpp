#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "client_config.hpp"
#include "read_options.hpp"

using namespace herald;
using namespace herald::kafka;

TEST_CASE("the URL names the brokers and the SASL credentials", "[kafka][unit][config]") {
  auto o = read_options(BusConfig::from_url("kafka://k1,k2:9093,k3:9094"));
  CHECK(o.brokers == "k1:9092,k2:9093,k3:9094");
  o = read_options(BusConfig::from_url("kafka://kafka.local"));
  CHECK(o.brokers == "kafka.local:9092");
  o = read_options(BusConfig::from_url("kafka://svc:p%40ss@kafka.local:9093"));
  CHECK(o.brokers == "kafka.local:9093");
  CHECK(o.sasl_username == "svc");
  CHECK(o.sasl_password == "p@ss");
}

TEST_CASE("options and pass-through properties are read by name", "[kafka][unit][config]") {
  auto o = read_options(BusConfig::from_url(
      "kafka://k:9092?topic_prefix=shop.&partitions=12&replication_factor=3&mode=binary&group_prefix=eu-"
      "&retry_topic=false&in_process_attempts=5&commit_interval=1s&kafka.ssl.ca.location=/ca.pem"
      "&kafka.producer.linger.ms=20&kafka.consumer.fetch.wait.max.ms=10"));
  CHECK(o.topic_prefix == "shop.");
  CHECK(o.partitions == 12);
  CHECK(o.replication_factor == 3);
  CHECK(o.mode == BindingMode::binary);
  CHECK(o.group_prefix == "eu-");
  CHECK_FALSE(o.retry_topic);
  CHECK(o.in_process_attempts == 5);
  CHECK(o.commit_interval == std::chrono::seconds(1));
  CHECK(o.properties == std::map<std::string, std::string>{{"ssl.ca.location", "/ca.pem"}});
  CHECK(o.producer_properties == std::map<std::string, std::string>{{"linger.ms", "20"}});
  CHECK(o.consumer_properties == std::map<std::string, std::string>{{"fetch.wait.max.ms", "10"}});
}

TEST_CASE("cooperative rebalancing is refused", "[kafka][unit][config]") {
  CHECK_THROWS_WITH(read_options(BusConfig::from_url(
                        "kafka://k:9092?kafka.consumer.partition.assignment.strategy=cooperative-sticky")),
                    Catch::Contains("cooperative"));
}

namespace {

std::string property(rd_kafka_conf_t* conf, const char* name) {
  char value[256];
  std::size_t size = sizeof value;
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "(unset)";
  return value;
}

}  // namespace

TEST_CASE("latency=low makes every client send at once, and pass-through properties still win",
          "[kafka][unit][config]") {
  CHECK_FALSE(read_options(BusConfig::from_url("kafka://k:9092")).low_latency);
  auto low = read_options(BusConfig::from_url("kafka://k:9092?latency=low"));
  REQUIRE(low.low_latency);
  ClientHooks hooks(std::make_shared<Redactor>(low));
  ConfPtr producer = make_conf(low, ClientRole::producer, hooks, {});
  CHECK(property(producer.get(), "linger.ms") == "0");
  CHECK(property(producer.get(), "socket.nagle.disable") == "true");
  ConfPtr consumer = make_conf(low, ClientRole::consumer, hooks, {});
  CHECK(property(consumer.get(), "fetch.wait.max.ms") == "10");

  auto balanced = read_options(BusConfig::from_url("kafka://k:9092"));
  ClientHooks balanced_hooks(std::make_shared<Redactor>(balanced));
  CHECK(property(make_conf(balanced, ClientRole::producer, balanced_hooks, {}).get(), "linger.ms") == "5");

  auto overridden = read_options(BusConfig::from_url("kafka://k:9092?latency=low&kafka.producer.linger.ms=2"));
  ClientHooks overridden_hooks(std::make_shared<Redactor>(overridden));
  CHECK(property(make_conf(overridden, ClientRole::producer, overridden_hooks, {}).get(), "linger.ms") == "2");

  CHECK_THROWS_WITH(read_options(BusConfig::from_url("kafka://k:9092?latency=fast")), Catch::Contains("latency"));
}
