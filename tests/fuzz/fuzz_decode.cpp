// The envelope decoder, structured and legacy: any input either decodes or
// throws DecodeError; whatever decodes survives everything done with an
// event later (payload(), encode, JSON of its attributes) and decodes back
// to the same envelope.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "herald/codec.hpp"
#include "herald/errors.hpp"

using namespace herald;

namespace {

bool same(const Envelope& a, const Envelope& b) {
  return a.specversion == b.specversion && a.id == b.id && a.type == b.type && a.source == b.source &&
         a.time == b.time && a.subject == b.subject && a.dataschema == b.dataschema && a.dataversion == b.dataversion &&
         a.partitionkey == b.partitionkey && a.aggregatetype == b.aggregatetype && a.aggregateid == b.aggregateid &&
         a.correlationid == b.correlationid && a.causationid == b.causationid && a.traceparent == b.traceparent &&
         a.actor == b.actor && a.data == b.data && a.extensions == b.extensions &&
         (a.data.empty() || a.datacontenttype == b.datacontenttype);
}

void check_accepted(const Envelope& e, const DecodeOptions& options) {
  try {
    (void)e.payload();
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());
  }
  // What dead-letter records, logs and the admin server do with attributes.
  nlohmann::json attributes = {{"id", e.id},           {"type", e.type},       {"source", e.source},
                               {"subject", e.subject}, {"key", e.partitionkey}, {"actor", e.actor},
                               {"trace", e.traceparent}, {"schema", e.dataschema}};
  for (const auto& [name, value] : e.extensions) attributes[name] = value;
  try {
    (void)attributes.dump();
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());
  }
  std::string text = encode(e);
  try {
    Envelope back = decode(text, options);
    FUZZ_CHECK(same(e, back), text.c_str());
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());
  }
}

void run(std::string_view text, const DecodeOptions& options) {
  Envelope e;
  try {
    e = decode(text, options);
  } catch (const DecodeError& ex) {
    // Dead letters, logs and JSON replies quote it: it must be valid UTF-8.
    try {
      (void)nlohmann::json({{"error", ex.what()}, {"field", ex.field()}}).dump();
    } catch (const std::exception& bad) {
      FUZZ_CHECK(false, bad.what());
    }
    return;
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());  // only DecodeError may come out
  }
  check_accepted(e, options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeOptions options;
  options.max_data_bytes = 4096;
  run(text, options);
  options.accept_legacy = false;
  run(text, options);
  return 0;
}
