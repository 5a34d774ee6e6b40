// Binary-mode records that decode must survive a structured re-encode (the
// retry, dead-letter and outbox paths), and errors about them must be safe
// to quote in JSON. Found by fuzzing (tests/fuzz/fuzz_kafka_binding.cpp).

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "binding.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::kafka;

namespace {

std::string decode_binary(const std::string& value, std::vector<std::pair<std::string, std::string>> extra = {}) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"ce_specversion", "1.0"}, {"ce_id", "1"}, {"ce_type", "t"}, {"ce_source", "s"}, {"content-type", "application/json"}};
  for (auto& h : extra) headers.push_back(std::move(h));
  HeaderViews views;
  for (const auto& [n, v] : headers) views.push_back({n, v});
  try {
    Envelope e = decode_record("", value, views, DecodeOptions{});
    OutRecord again;
    encode_record(e, BindingMode::structured, again);
    Envelope back = decode_record(again.key, again.value, {{"content-type", "application/cloudevents+json"}}, DecodeOptions{});
    if (back.data != e.data) return "<changed by a structured re-encode>";
    return "<accepted>";
  } catch (const DecodeError& e) {
    (void)nlohmann::json(e.what()).dump();  // throws on invalid UTF-8
    return e.field();
  }
}

}  // namespace

TEST_CASE("binary-mode JSON data nested deeper than the envelope decoder allows is refused", "[kafka][unit][binding]") {
  CHECK(decode_binary(std::string(100, '[') + std::string(100, ']')) == "data");
  CHECK(decode_binary(std::string(10, '[') + std::string(10, ']')) == "<accepted>");
  CHECK(decode_binary("\"\\ud800\"") == "data");
  // Whitespace around the value is not data (the structured decoder drops it).
  CHECK(decode_binary("   0  ") == "<accepted>");
}

TEST_CASE("errors about binary-mode headers quote them safely", "[kafka][unit][binding]") {
  CHECK(decode_binary("{}", {{"ce_dataversion", "\xff\xfe"}}) == "dataversion");
  CHECK(decode_binary("{}", {{"ce_time", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0\xef\xee\xed\xec"}}) ==
        "time");
  CHECK(decode_binary("{}", {{"ce_note", "\xff\xfe"}}) == "note");
}

TEST_CASE("a record keyed by bytes that are not UTF-8 decodes with the key escaped, and re-encodes", "[kafka][unit][binding]") {
  const std::string key("\xff\x00k", 3);
  const std::string value = R"({"specversion":"1.0","id":"1","type":"t","source":"s"})";
  Envelope e = decode_record(key, value, {{"content-type", "application/cloudevents+json"}}, DecodeOptions{});
  CHECK(e.partitionkey == "\\xff\\x00k");
  for (BindingMode mode : {BindingMode::binary, BindingMode::structured}) {
    OutRecord out;
    encode_record(e, mode, out);
    HeaderViews views;
    for (const auto& [n, v] : out.headers) views.push_back({n, v});
    CHECK(decode_record(out.key, out.value, views, DecodeOptions{}).partitionkey == e.partitionkey);
  }
}

TEST_CASE("a ce_data header is refused, not carried as an extension that becomes the data", "[kafka][unit][binding]") {
  CHECK(decode_binary("{}", {{"ce_data", "v.x"}}) == "data");
}
