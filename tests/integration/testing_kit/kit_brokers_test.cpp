// herald::testing's broker fixture as a user's test uses it: the brokers from
// test_brokers(), a namespace per test case from the Catch2 listener.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <pqxx/pqxx>

#include <chrono>
#include <string>

#include "herald/event_store.hpp"
#include "herald/testing/catch2.hpp"
#include "herald/testing/harness.hpp"
#include "wait.hpp"

using herald::testing::NamespacePerTestCase;  // the macro takes a plain name
CATCH_REGISTER_LISTENER(NamespacePerTestCase)

using herald::Envelope;
using herald::testing::current_test_namespace;
using herald::testing::Harness;
using herald::testing::test_brokers;
using namespace std::chrono_literals;

namespace {

bool schema_exists(const std::string& schema) {
  pqxx::connection c(test_brokers().postgres_url);
  pqxx::nontransaction tx(c);
  return tx.exec_params1("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema)[0].as<int>() == 1;
}

// The Kafka topics whose names start with `prefix`.
int kafka_topics(const std::string& prefix) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", test_brokers().kafka_brokers.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  REQUIRE(rk);
  const rd_kafka_metadata_t* md = nullptr;
  REQUIRE(rd_kafka_metadata(rk, 1, nullptr, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  int n = 0;
  for (int i = 0; i < md->topic_cnt; ++i) n += std::string(md->topics[i].topic).rfind(prefix, 0) == 0;
  rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  return n;
}

void an_event_reaches_its_group(herald::testing::BrokerNamespace& ns, const std::string& url) {
  Harness h(ns.bus_config(url));
  auto sub = h.bus().subscribe({.pattern = "order.paid", .group = "loyalty"}, h.handler("loyalty", [](const Envelope&) {}));
  h.bus().publish(Envelope::make("order.paid", {{"amount", 120}}));
  REQUIRE(h.consumed("order.paid", "loyalty").wait_for(1, 30s));
  CHECK(h.no_dead_letters());
  CHECK(h.each_event_applied_once("loyalty"));
}

}  // namespace

TEST_CASE("a test on RabbitMQ works in the exchange and queues of its namespace", "[testing][rabbitmq]") {
  auto config = current_test_namespace().bus_config(test_brokers().amqp_url);
  CHECK(config.options.at("exchange") == current_test_namespace().name());
  an_event_reaches_its_group(current_test_namespace(), test_brokers().amqp_url);
}

TEST_CASE("a test on Kafka works in topics of its namespace, deleted when the namespace ends", "[testing][kafka]") {
  std::string prefix;
  {
    herald::testing::BrokerNamespace ns("kit-kafka");
    prefix = ns.name() + ".";
    an_event_reaches_its_group(ns, test_brokers().kafka_url());
    CHECK(kafka_topics(prefix) > 0);
  }
  // Topic deletion completes on the controller shortly after the request.
  CHECK(herald::test::wait_until([&] { return kafka_topics(prefix) == 0; }, std::chrono::seconds(30)));
}

TEST_CASE("a test's PostgreSQL schema holds its store and is dropped when the namespace ends", "[testing][postgres]") {
  std::string schema;
  {
    herald::testing::BrokerNamespace ns("kit-store");
    schema = ns.schema();
    auto store = herald::open_event_store(ns.postgres_url());
    store->append(Envelope::make("order.created", {{"order_id", 1}}));
    CHECK(schema_exists(schema));
  }
  CHECK_FALSE(schema_exists(schema));
}
