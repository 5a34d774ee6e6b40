#pragma once
// The CloudEvents Kafka protocol binding: an Envelope as a Kafka record
// (key, value, headers) in structured or binary mode, and back.
//
// Structured: value = the CloudEvents JSON document (herald::encode),
//             header content-type: application/cloudevents+json.
// Binary:     value = the data, header content-type = datacontenttype, and
//             one `ce_<attribute>` header per attribute and extension
//             (extension values as their string form).
// Either way the key is the partitionkey, so one aggregate's events share a
// partition. decode_record reads both modes, whichever the producer used.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "herald/codec.hpp"
#include "herald/envelope.hpp"
#include "herald/kafka/options.hpp"

namespace herald::kafka {

/// A record to produce.
struct OutRecord {
  std::string key;    // empty: null key
  std::string value;  // empty: null value
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A header of a consumed message; views into the message, valid while it lives.
struct HeaderView {
  std::string_view name;
  std::string_view value;
};
using HeaderViews = std::vector<HeaderView>;

/// The message's headers in order (duplicates kept).
HeaderViews read_headers(const rd_kafka_message_t* message);
/// The last header called `name`, or nullptr.
const HeaderView* find_header(const HeaderViews& headers, std::string_view name);

/// Fills `out` (cleared first) with the record for `event`.
void encode_record(const Envelope& event, BindingMode mode, OutRecord& out);

/// Decodes a record in either mode. A record without partitionkey takes its
/// key as partitionkey. Throws DecodeError naming the attribute.
Envelope decode_record(std::string_view key, std::string_view value, const HeaderViews& headers,
                       const DecodeOptions& options);
/// The same into `out`, keeping its strings' storage (see decode_into).
void decode_record_into(std::string_view key, std::string_view value, const HeaderViews& headers,
                        const DecodeOptions& options, Envelope& out);

}  // namespace herald::kafka
