#include <catch2/catch.hpp>

#include "herald/asyncapi.hpp"
#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"

using namespace herald;
using Json = nlohmann::ordered_json;

namespace {

const std::string events_dir = std::string(HERALD_SCHEMA_DIR) + "/events";

const Catalog& orders_catalog() {
  static const Catalog catalog = Catalog::load(events_dir);
  return catalog;
}

BusConfig routed(const std::vector<std::string>& publish, const std::vector<std::string>& subscribe = {}) {
  BusConfig config;
  config.source = "/orders";
  config.routes = {Route{.match = "#", .publish = publish, .subscribe = subscribe}};
  return config;
}

const std::string rabbit = "amqp://orders:hunter2@mq.internal:5673/shop?exchange=orders&queue_prefix=orders.";
const std::string kafka = "kafka://kafka1:9093,kafka2?topic_prefix=orders.&group_prefix=orders.&partitions=6"
                          "&kafka.sasl.password=s3cret&kafka.sasl.username=svc";

std::vector<std::string> keys(const Json& object) {
  std::vector<std::string> out;
  for (const auto& [key, value] : object.items()) out.push_back(key);
  return out;
}

std::string target_of(const Json& ref) { return ref.at("$ref").get<std::string>(); }

}  // namespace

TEST_CASE("the document names its servers by host and port and never holds a credential", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({rabbit, kafka}), orders_catalog());
  const std::string text = doc.dump() + to_yaml(doc);

  CHECK(doc["asyncapi"] == "3.0.0");
  CHECK(keys(doc["servers"]) == std::vector<std::string>{"rabbitmq", "kafka"});
  CHECK(doc["servers"]["rabbitmq"]["host"] == "mq.internal:5673");
  CHECK(doc["servers"]["rabbitmq"]["protocol"] == "amqp");
  CHECK(doc["servers"]["rabbitmq"]["pathname"] == "/shop");
  CHECK(doc["servers"]["kafka"]["host"] == "kafka1:9093");
  CHECK(doc["servers"]["kafka"]["protocol"] == "kafka");
  // The login is named as a kind of security, never as its values.
  CHECK(doc["components"]["securitySchemes"]["rabbitmq-user"]["type"] == "userPassword");
  CHECK(doc["components"]["securitySchemes"]["kafka-sasl"]["type"] == "plain");
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(text.find("s3cret") == std::string::npos);
  CHECK(text.find("orders:") == std::string::npos);
  CHECK(text.find("@mq") == std::string::npos);

  SECTION("an IPv6 host keeps its brackets and port; a host without a port gets the scheme's") {
    const Json v6 = asyncapi_document(routed({"amqps://[::1]:5999/?tls_verify=false", "kafka://[fd00::7]"}), orders_catalog());
    CHECK(v6["servers"]["rabbitmq"]["host"] == "[::1]:5999");
    CHECK(v6["servers"]["rabbitmq"]["protocol"] == "amqps");
    CHECK(v6["servers"]["kafka"]["host"] == "[fd00::7]:9092");
  }
}

TEST_CASE("RabbitMQ channels are the event types as routing keys on the durable topic exchange", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({rabbit}), orders_catalog());
  const Json& channel = doc["channels"]["rabbitmq.order.created"];

  CHECK(channel["address"] == "order.created");
  const Json& amqp = channel["bindings"]["amqp"];
  CHECK(amqp["is"] == "routingKey");
  CHECK(amqp["exchange"]["name"] == "orders");
  CHECK(amqp["exchange"]["type"] == "topic");
  CHECK(amqp["exchange"]["durable"] == true);
  CHECK(amqp["exchange"]["vhost"] == "shop");
  CHECK(keys(channel["messages"]) == std::vector<std::string>{"order.created.v1.amqp", "order.created.v2.amqp"});
  CHECK(doc["channels"].size() == orders_catalog().types().size());
}

TEST_CASE("Kafka channels are a topic per event family, as the adapter names them", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({kafka}), orders_catalog());

  REQUIRE(keys(doc["channels"]) == std::vector<std::string>{"kafka.orders.order"});
  const Json& channel = doc["channels"]["kafka.orders.order"];
  CHECK(channel["address"] == "orders.order");
  CHECK(channel["bindings"]["kafka"]["topic"] == "orders.order");
  CHECK(channel["bindings"]["kafka"]["partitions"] == 6);
  // Every type and version of the family is on the one topic.
  CHECK(channel["messages"].size() == 7);

  SECTION("or one topic for every type with topic_rule=single") {
    const Json single = asyncapi_document(routed({"kafka://k:9092?topic_rule=single&topic=all"}), orders_catalog());
    CHECK(keys(single["channels"]) == std::vector<std::string>{"kafka.herald.all"});
  }
  SECTION("a single url's options are read as a route target's are") {
    const Json single = asyncapi_document(BusConfig::from_url("kafka://k:9092?topic_prefix=shop."), orders_catalog());
    CHECK(keys(single["channels"]) == std::vector<std::string>{"kafka.shop.order"});
  }
  SECTION("partitions are not claimed for topics herald does not create") {
    const Json provisioned = asyncapi_document(routed({"kafka://k:9092?create_topics=false"}), orders_catalog());
    CHECK_FALSE(provisioned["channels"]["kafka.herald.order"]["bindings"]["kafka"].contains("partitions"));
  }
}

TEST_CASE("each published type is one send operation per server", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({rabbit, kafka}), orders_catalog());
  const Json& send = doc["operations"]["send.kafka.order.paid"];

  CHECK(send["action"] == "send");
  CHECK(target_of(send["channel"]) == "#/channels/kafka.orders.order");
  REQUIRE(send["messages"].size() == 1);
  CHECK(target_of(send["messages"][0]) == "#/channels/kafka.orders.order/messages/order.paid.v1.kafka");
  CHECK(doc["operations"]["send.rabbitmq.order.created"]["bindings"]["amqp"]["deliveryMode"] == 2);
  CHECK(doc["operations"].contains("send.rabbitmq.order.failed.create"));
}

TEST_CASE("without groups the service receives each type on the channel it is sent on", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({rabbit}), orders_catalog());
  const Json& receive = doc["operations"]["receive.rabbitmq.order.created"];

  CHECK(receive["action"] == "receive");
  CHECK(target_of(receive["channel"]) == "#/channels/rabbitmq.order.created");
  CHECK(receive["messages"].size() == 2);
}

TEST_CASE("each consuming group receives from its queue on RabbitMQ and as its consumer group on Kafka", "[asyncapi]") {
  AsyncApiOptions options;
  options.groups = {{"billing", "order.paid"}, {"shipping", "order.#"}};
  const Json doc = asyncapi_document(routed({rabbit, kafka}), orders_catalog(), options);

  const Json& queue = doc["channels"]["rabbitmq.queue.orders.billing"];
  CHECK(queue["address"] == "orders.billing");
  CHECK(queue["bindings"]["amqp"]["is"] == "queue");
  CHECK(queue["bindings"]["amqp"]["queue"]["durable"] == true);
  CHECK(keys(queue["messages"]) == std::vector<std::string>{"order.paid.v1.amqp"});
  CHECK(doc["operations"]["receive.rabbitmq.billing"]["action"] == "receive");

  const Json& kafka_receive = doc["operations"]["receive.kafka.shipping.orders.order"];
  CHECK(kafka_receive["bindings"]["kafka"]["groupId"]["enum"][0] == "orders.shipping");
  CHECK(kafka_receive["messages"].size() == 7);
  CHECK_FALSE(doc["operations"].contains("receive.rabbitmq.order.created"));
}

TEST_CASE("a route that reads from another transport than it publishes to", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({kafka}, {rabbit, kafka}), orders_catalog());

  CHECK_FALSE(doc["operations"].contains("send.rabbitmq.order.paid"));
  CHECK(doc["operations"]["receive.rabbitmq.order.paid"]["action"] == "receive");
  CHECK(doc["operations"]["send.kafka.order.paid"]["action"] == "send");
}

TEST_CASE("messages carry the CloudEvents envelope as the binding does, with the catalog's schema as data", "[asyncapi]") {
  const Json doc = asyncapi_document(routed({rabbit, "kafka://k:9092?mode=binary"}), orders_catalog());
  const Json& messages = doc["components"]["messages"];
  const Json catalog_schema = orders_catalog().find("order.created", 2)->document;

  CHECK(Json(doc["components"]["schemas"]["order.created.v2"]) == Json(catalog_schema));

  SECTION("structured on RabbitMQ: the envelope is the payload, the partition key also a header") {
    const Json& m = messages["order.created.v2.amqp"];
    CHECK(m["contentType"] == "application/cloudevents+json");
    CHECK(m["payload"]["properties"]["type"]["const"] == "order.created");
    CHECK(m["payload"]["properties"]["dataversion"]["const"] == 2);
    CHECK(target_of(m["payload"]["properties"]["data"]) == "#/components/schemas/order.created.v2");
    CHECK(m["headers"]["properties"].contains("x-herald-partitionkey"));
    CHECK(m["examples"][0]["payload"]["partitionkey"] == "42");
  }
  SECTION("binary on Kafka: the data is the payload, the attributes ce_ headers, the key the partitionkey") {
    const Json& m = messages["order.created.v2.kafka-binary"];
    CHECK(m["contentType"] == "application/json");
    CHECK(target_of(m["payload"]) == "#/components/schemas/order.created.v2");
    CHECK(m["headers"]["properties"]["ce_type"]["const"] == "order.created");
    CHECK(m["headers"]["properties"]["ce_dataversion"]["const"] == "2");
    CHECK_FALSE(m["headers"]["properties"].contains("ce_datacontenttype"));
    CHECK(m["bindings"]["kafka"]["key"]["type"] == "string");
    CHECK(m["examples"][0]["headers"]["ce_partitionkey"] == "42");
  }
}

TEST_CASE("a schema's own references point to where the document puts it", "[asyncapi]") {
  Catalog catalog;
  catalog.add("stock.moved", 1,
              {{"$schema", "http://json-schema.org/draft-07/schema#"},
               {"type", "object"},
               {"definitions", {{"sku", {{"type", "string"}}}}},
               {"properties", {{"sku", {{"$ref", "#/definitions/sku"}}}}}});
  const Json doc = asyncapi_document(routed({rabbit}), catalog);

  CHECK(doc["components"]["schemas"]["stock.moved.v1"]["properties"]["sku"]["$ref"] ==
        "#/components/schemas/stock.moved.v1/definitions/sku");
}

TEST_CASE("in-process targets and types no route takes are left out, and said so", "[asyncapi]") {
  BusConfig config;
  config.routes = {Route{.match = "order.paid", .publish = {rabbit}}, Route{.match = "#", .publish = {"memory://"}}};
  const Json doc = asyncapi_document(config, orders_catalog());

  CHECK(keys(doc["channels"]) == std::vector<std::string>{"rabbitmq.order.paid"});
  CHECK(doc["info"]["description"].get<std::string>().find("memory://") != std::string::npos);

  const Json in_process = asyncapi_document(BusConfig::from_url("memory://"), orders_catalog());
  CHECK_FALSE(in_process.contains("servers"));
  CHECK(in_process["channels"].empty());
}

TEST_CASE("a group with a bad pattern is refused by name", "[asyncapi]") {
  AsyncApiOptions options;
  options.groups = {{"billing", "order.*x"}};
  CHECK_THROWS_AS(asyncapi_document(routed({rabbit}), orders_catalog(), options), ConfigError);
}

TEST_CASE("YAML output quotes every key and string and nests blocks by indentation", "[asyncapi]") {
  const Json doc = {{"asyncapi", "3.0.0"},
                    {"list", {1, "two: 2", Json::object(), {{"a", true}}}},
                    {"empty", Json::array()},
                    {"$ref", "#/x"}};
  CHECK(to_yaml(doc) ==
        "\"asyncapi\": \"3.0.0\"\n"
        "\"list\":\n"
        "  - 1\n"
        "  - \"two: 2\"\n"
        "  - {}\n"
        "  -\n"
        "    \"a\": true\n"
        "\"empty\": []\n"
        "\"$ref\": \"#/x\"\n");
}
