// The Kafka binding, binary and structured mode: a record (key, value,
// headers) either decodes or throws DecodeError; whatever decodes encodes
// again in both modes without throwing (the retry and dead-letter path) and
// decodes back to the same event.

#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include "binding.hpp"
#include "fuzz_check.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::kafka;

namespace {

const char* const names[] = {"ce_specversion", "ce_id",          "ce_type",         "ce_source",
                             "ce_time",        "ce_subject",     "ce_dataschema",   "ce_dataversion",
                             "ce_partitionkey", "ce_aggregateid", "ce_datacontenttype", "content-type",
                             "ce_tenant",      "ce_database64",  "x-herald-attempts", "ce_"};

Envelope decode_out(const OutRecord& r, const DecodeOptions& options) {
  HeaderViews views;
  for (const auto& [name, value] : r.headers) views.push_back({name, value});
  return decode_record(r.key, r.value, views, options);
}

bool same(const Envelope& a, const Envelope& b) {
  return a.id == b.id && a.type == b.type && a.source == b.source && a.time == b.time && a.subject == b.subject &&
         a.dataversion == b.dataversion && a.partitionkey == b.partitionkey && a.data == b.data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::string> storage;
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  int n = in.ConsumeIntegralInRange(0, 16);
  storage.reserve(static_cast<std::size_t>(2 * n + 2));
  for (int i = 0; i < n; ++i) {
    storage.push_back(in.ConsumeBool() ? std::string(names[in.ConsumeIntegralInRange<std::size_t>(0, std::size(names) - 1)])
                                       : in.ConsumeRandomLengthString(24));
    storage.push_back(in.ConsumeRandomLengthString(128));
    pairs.emplace_back(storage.size() - 2, storage.size() - 1);
  }
  std::string key = in.ConsumeRandomLengthString(32);
  std::string value = in.ConsumeRemainingBytesAsString();
  HeaderViews headers;
  for (auto [k, v] : pairs) headers.push_back({storage[k], storage[v]});

  DecodeOptions options;
  options.max_data_bytes = 4096;
  Envelope e;
  try {
    e = decode_record(key, value, headers, options);
  } catch (const DecodeError& ex) {
    // Dead letters, logs and JSON replies quote it: it must be valid UTF-8.
    try {
      (void)nlohmann::json({{"error", ex.what()}, {"field", ex.field()}}).dump();
    } catch (const std::exception& bad) {
      FUZZ_CHECK(false, bad.what());
    }
    return 0;
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());
  }
  for (BindingMode mode : {BindingMode::binary, BindingMode::structured}) {
    OutRecord out;
    try {
      encode_record(e, mode, out);
      Envelope back = decode_out(out, options);
      if (!same(e, back))
        std::fprintf(stderr, "before: %s\nafter:  %s\n", encode(e).c_str(), encode(back).c_str());
      FUZZ_CHECK(same(e, back), mode == BindingMode::binary ? "binary round trip" : "structured round trip");
    } catch (const std::exception& ex) {
      FUZZ_CHECK(false, ex.what());
    }
  }
  return 0;
}
