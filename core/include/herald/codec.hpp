#pragma once
// The CloudEvents JSON format (structured mode) for Envelope, and the legacy
// snake_case envelope that pre-CloudEvents services emit.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "herald/envelope.hpp"

namespace herald {

class Catalog;

struct DecodeOptions {
  /// Largest `data` accepted, in bytes of JSON text.
  std::size_t max_data_bytes = 1024 * 1024;
  /// Accept the legacy envelope {"event_id","event_type","timestamp",...}.
  bool accept_legacy = true;
  /// Event schemas (herald/catalog.hpp): with one, publish refuses data
  /// that does not validate (SchemaError) and subscribers dead-letter it on
  /// receipt (schema_error). Null: no schema is checked. The codec itself
  /// never reads it.
  std::shared_ptr<const Catalog> catalog;
};

/// Media type of the structured encoding.
inline constexpr std::string_view cloudevents_json = "application/cloudevents+json";

/// Encodes to the CloudEvents JSON format. Thread-safe, never throws for a
/// valid envelope; `data` is written as it is (it must hold valid JSON text).
std::string encode(const Envelope& event);
void encode_to(const Envelope& event, std::string& out);

/// Decodes either format. Throws DecodeError naming the field: missing or empty
/// id/type/source/specversion, unsupported specversion, wrong JSON types, bad
/// extension names (CloudEvents: a-z and 0-9 only), data over the size limit.
Envelope decode(std::string_view text, const DecodeOptions& options = {});
/// decode() into `out`, which it overwrites whole, keeping the storage of its
/// strings: a consumer that decodes record after record into one envelope
/// allocates only when an attribute outgrows the last record's. On a
/// DecodeError `out` holds no meaningful event.
void decode_into(std::string_view text, const DecodeOptions& options, Envelope& out);

/// Checks the attributes of an envelope built in code (same rules as decode).
void validate(const Envelope& event, const DecodeOptions& options = {});

/// Throws DecodeError naming `field` unless `text` is one JSON value that
/// decode() accepts as data (valid UTF-8, no lone surrogates, nesting up to
/// 64): for data that arrives outside the JSON envelope (binary mode).
/// Returns the value without the whitespace around it, as decode keeps data.
std::string_view check_json_data(std::string_view text, const char* field = "data");

/// Whether `text` is well-formed UTF-8 (what every string attribute must be).
bool valid_utf8(std::string_view text) noexcept;

/// Whether `name` is a valid CloudEvents attribute name.
bool valid_attribute_name(std::string_view name) noexcept;

}  // namespace herald
