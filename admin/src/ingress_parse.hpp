#pragma once
// The CloudEvents HTTP binding read back (POST /v1/events of the ingress):
// a request's headers and body become envelopes, or a refusal naming the
// problem. No I/O and no state, so it can be tested and fuzzed alone.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/codec.hpp"
#include "herald/envelope.hpp"

namespace herald::admin {

/// Header fields as received: names in any case, values raw.
using HeaderFields = std::vector<std::pair<std::string_view, std::string_view>>;

/// Why a request is refused: the HTTP status, a message naming the problem
/// (request text in it is cut short), and in a batch the index of the event.
struct IngressRefusal {
  int status = 400;
  std::string message;
  std::optional<std::size_t> index;
};

/// The three encodings the HTTP binding defines.
enum class IngressMode { binary, structured, batch };

struct ParsedEvents {
  IngressMode mode = IngressMode::binary;
  std::vector<Envelope> events;
};

/// Reads the request by its content-type:
///   application/cloudevents+json        one event (structured mode)
///   application/cloudevents-batch+json  a JSON array of events (batched mode)
///   anything else, with ce-specversion  binary mode: ce-* headers are the
///                                       attributes (percent-decoded),
///                                       content-type is datacontenttype and
///                                       the body the data (ext/binary_data.hpp)
/// Every event is checked as decode() checks one (required attributes,
/// specversion 1.0, extension names, data size and JSON validity); the
/// legacy envelope is refused. Throws IngressRefusal only (400, or 415 for
/// a structured format other than JSON); a batch is refused whole, naming
/// the first bad event's index.
ParsedEvents parse_ingress(const HeaderFields& headers, std::string_view body, const DecodeOptions& options);

/// The value of header `name` (lower case) or nullopt; refuses it given twice.
std::optional<std::string_view> header_value(const HeaderFields& headers, std::string_view name);

/// `text` cut short for an error message.
std::string excerpt(std::string_view text);

}  // namespace herald::admin
