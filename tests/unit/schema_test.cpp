#include <catch2/catch.hpp>

#include <fstream>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "herald/codec.hpp"

using namespace herald;

namespace {

std::unique_ptr<valijson::Schema> load(const std::string& name) {
  std::ifstream in(std::string(HERALD_SCHEMA_DIR) + "/" + name);
  REQUIRE(in);
  static std::vector<nlohmann::json> keep;  // the schema refers into the document
  keep.push_back(nlohmann::json::parse(in));
  auto schema = std::make_unique<valijson::Schema>();
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter adapter(keep.back());
  parser.populateSchema(adapter, *schema);
  return schema;
}

bool valid(const valijson::Schema& schema, const nlohmann::json& doc, std::string& why) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  bool ok = validator.validate(schema, adapter, &results);
  valijson::ValidationResults::Error error;
  while (results.popError(error)) why += error.description + "; ";
  return ok;
}

}  // namespace

TEST_CASE("encoded envelopes validate against schemas/envelope/v1.json", "[schema]") {
  auto schema = load("envelope/v1.json");
  Envelope e = Envelope::make("order.created", {{"order_id", "42"}}, "svc/orders");
  e.partitionkey = "42";
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.dataversion = 2;
  e.extensions["tenant"] = "acme";
  std::string why;
  CHECK(valid(*schema, nlohmann::json::parse(encode(e)), why));
  INFO(why);
  CHECK(valid(*schema, nlohmann::json::parse(encode(Envelope::make("ping.sent", nullptr, "svc/ping"))), why));

  SECTION("and the schema is strict enough to catch a broken envelope") {
    auto j = nlohmann::json::parse(encode(e));
    j.erase("id");
    CHECK_FALSE(valid(*schema, j, why));
    j = nlohmann::json::parse(encode(e));
    j["Bad_Name"] = "x";
    CHECK_FALSE(valid(*schema, j, why));
    j = nlohmann::json::parse(encode(e));
    j["time"] = "yesterday";
    CHECK_FALSE(valid(*schema, j, why));
  }
}

TEST_CASE("the example event's payload validates against its catalog schema", "[schema]") {
  auto schema = load("events/order.created/v2.json");
  std::string why;
  CHECK(valid(*schema, {{"order_id", "42"}, {"customer", "c-1"}, {"total", 10.5}, {"currency", "EUR"}}, why));
  CHECK_FALSE(valid(*schema, {{"order_id", "42"}, {"total", -1}, {"currency", "euro"}}, why));
}
