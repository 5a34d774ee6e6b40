#include <catch2/catch.hpp>

#include "herald/errors.hpp"
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
