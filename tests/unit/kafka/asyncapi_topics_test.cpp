#include <catch2/catch.hpp>

#include "herald/asyncapi.hpp"
#include "read_options.hpp"
#include "topic_naming.hpp"

// `herald asyncapi` names Kafka topics in core, without the adapter: this is
// where the two are held to the same names.
TEST_CASE("the AsyncAPI document names each type's topic as the Kafka adapter does", "[kafka][unit][topics][asyncapi]") {
  herald::Catalog catalog;
  for (const char* type : {"order.created", "payment.refund.issued", "caf\xc3\xa9.opened", "stock"})
    catalog.add(type, 1, {{"type", "object"}});
  for (const char* url : {"kafka://k:9092", "kafka://k:9092?topic_prefix=shop.eu.",
                          "kafka://k:9092?topic_rule=single&topic=all-events&topic_prefix=x-"}) {
    CAPTURE(url);
    const herald::BusConfig config = herald::BusConfig::from_url(url);
    const herald::kafka::TopicNaming naming(herald::kafka::read_options(config));
    const nlohmann::ordered_json doc = herald::asyncapi_document(config, catalog);
    for (const auto& type : catalog.types()) {
      CAPTURE(type);
      const auto& op = doc["operations"]["send.kafka." + std::string(type == "caf\xc3\xa9.opened" ? "caf__.opened" : type)];
      const std::string channel = op["channel"]["$ref"].get<std::string>().substr(std::string("#/channels/").size());
      CHECK(doc["channels"][channel]["address"] == naming.event_topic(type));
      CHECK(doc["channels"][channel]["bindings"]["kafka"]["topic"] == naming.event_topic(type));
    }
  }
}
