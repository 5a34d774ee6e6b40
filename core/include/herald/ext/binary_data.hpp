#pragma once
// The data of an event as it travels in a protocol binding's binary mode
// (CloudEvents Kafka and HTTP bindings): the body is the data itself, its
// media type is content-type. herald keeps Envelope::data as JSON text, so:
//   JSON media type          the JSON text as it is
//   text/*                   a JSON string in data, its text on the wire
//   anything else            base64 in a JSON string (extension database64), bytes on the wire

#include <string>
#include <string_view>

#include "herald/envelope.hpp"

namespace herald::ext {

bool is_json_media_type(std::string_view type);

/// The bytes of the body for `event` in binary mode.
std::string binary_data(const Envelope& event);

/// Sets event.data (and database64) from a binary-mode body, by
/// event.datacontenttype. Throws DecodeError naming the problem (JSON that is
/// not JSON, text that is not UTF-8).
void set_binary_data(Envelope& event, std::string_view body);

}  // namespace herald::ext
