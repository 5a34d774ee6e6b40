// The binding without a broker: encode, then decode the same record.

#include <catch2/catch.hpp>

#include "binding.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::kafka;

namespace {

HeaderViews views(const OutRecord& r) {
  HeaderViews out;
  for (const auto& [n, v] : r.headers) out.push_back({n, v});
  return out;
}

Envelope round_trip(const Envelope& e, BindingMode mode) {
  OutRecord r;
  encode_record(e, mode, r);
  return decode_record(r.key, r.value, views(r), DecodeOptions{});
}

}  // namespace

TEST_CASE("both modes carry every attribute and extension", "[kafka][unit][binding]") {
  auto mode = GENERATE(BindingMode::structured, BindingMode::binary);
  Envelope e = Envelope::make("order.created", {{"id", 1}, {"lines", {1, 2}}}, "/orders");
  e.subject = "o/1";
  e.dataschema = "https://example.com/order.json";
  e.dataversion = 4;
  e.partitionkey = "o-1";
  e.aggregatetype = "order";
  e.aggregateid = "o-1";
  e.correlationid = "c";
  e.causationid = "d";
  e.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  e.actor = "user:1";
  e.extensions["tenant"] = "acme";
  CHECK(round_trip(e, mode) == e);
}

TEST_CASE("binary mode sends text as text and base64 data as its bytes", "[kafka][unit][binding]") {
  SECTION("text") {
    Envelope e = Envelope::make("note.added", "hello \"world\"");
    e.datacontenttype = "text/plain; charset=utf-8";
    OutRecord r;
    encode_record(e, BindingMode::binary, r);
    CHECK(r.value == "hello \"world\"");
    CHECK(round_trip(e, BindingMode::binary) == e);
  }
  SECTION("bytes") {
    Envelope e = Envelope::make("blob.stored");
    e.datacontenttype = "application/octet-stream";
    e.data = "\"AAEC/w==\"";  // 00 01 02 ff
    e.extensions["database64"] = true;
    OutRecord r;
    encode_record(e, BindingMode::binary, r);
    CHECK(r.value == std::string("\x00\x01\x02\xff", 4));
    bool has_ext_header = false;
    for (const auto& h : r.headers) has_ext_header = has_ext_header || h.first == "ce_database64";
    CHECK_FALSE(has_ext_header);
    CHECK(round_trip(e, BindingMode::binary) == e);
  }
}

TEST_CASE("records that are not CloudEvents are refused with the reason", "[kafka][unit][binding]") {
  DecodeOptions o;
  SECTION("malformed structured value") {
    CHECK_THROWS_AS(decode_record("", "{oops", {{"content-type", "application/cloudevents+json"}}, o), DecodeError);
  }
  SECTION("batch mode") {
    CHECK_THROWS_WITH(decode_record("", "[]", {{"content-type", "application/cloudevents-batch+json"}}, o),
                      Catch::Contains("batched"));
  }
  SECTION("binary without an id") {
    CHECK_THROWS_WITH(decode_record("", "{}", {{"ce_specversion", "1.0"}, {"ce_type", "a.b"}, {"ce_source", "s"}}, o),
                      Catch::Contains("id"));
  }
  SECTION("binary JSON data that is not JSON") {
    CHECK_THROWS_WITH(decode_record("", "{nope",
                                    {{"ce_specversion", "1.0"}, {"ce_id", "1"}, {"ce_type", "a.b"}, {"ce_source", "s"},
                                     {"content-type", "application/json"}},
                                    o),
                      Catch::Contains("not valid JSON"));
  }
  SECTION("no value and no headers") { CHECK_THROWS_AS(decode_record("k", "", {}, o), DecodeError); }
}

TEST_CASE("a structured value without headers is still read, key as partition key", "[kafka][unit][binding]") {
  Envelope e = Envelope::make("order.paid", {{"n", 1}});
  auto got = decode_record("agg-9", encode(e), {}, DecodeOptions{});
  CHECK(got.id == e.id);
  CHECK(got.partitionkey == "agg-9");
}
