// libFuzzer harness: arbitrary bytes as a POST /v1/events request of the
// CloudEvents ingress (admin/src/ingress_parse.hpp): "name: value" header
// lines up to an empty line, then the body. Properties: parse_ingress throws
// nothing but IngressRefusal, with status 400 or 415 and a message; every
// event it accepts survives a structured re-encode (what an outbox, a retry
// or a dead letter does with it) and passes validate().

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "ingress_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  herald::admin::HeaderFields headers;
  std::string_view body;
  for (;;) {
    auto eol = input.find('\n');
    if (eol == std::string_view::npos) {
      body = input;
      break;
    }
    std::string_view line = input.substr(0, eol);
    input.remove_prefix(eol + 1);
    if (line.empty()) {
      body = input;
      break;
    }
    auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.emplace_back(name, value);
  }
  herald::DecodeOptions options;
  options.max_data_bytes = 1024;
  try {
    auto parsed = herald::admin::parse_ingress(headers, body, options);
    for (const auto& event : parsed.events) {
      try {
        herald::validate(event, options);
        herald::decode(herald::encode(event), options);
      } catch (const std::exception& e) {
        FUZZ_CHECK(false, e.what());
      }
    }
  } catch (const herald::admin::IngressRefusal& r) {
    FUZZ_CHECK(r.status == 400 || r.status == 415, r.message.c_str());
    FUZZ_CHECK(!r.message.empty(), "a refusal names its problem");
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, e.what());
  }
  return 0;
}
