#pragma once
// For codec and transport authors: the envelope's attributes, listed once.
// The CloudEvents JSON codec (and its legacy mapping), the Kafka binary
// binding (`ce_` headers) and the stores' metadata all walk this table, so a
// new extension attribute is its member in Envelope and one line here.
//
// \code
//   // every attribute the event carries, as text (binary-mode headers)
//   herald::ext::for_each_attribute([&](auto i) {
//     constexpr const herald::ext::Attribute& a = herald::ext::attributes[i];
//     if (herald::ext::is_set(event, a)) put(a.name, herald::ext::to_text(event, a));
//   });
// \endcode

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "herald/envelope.hpp"

namespace herald::ext {

/// The CloudEvents type of an attribute, and so the Envelope member that holds it.
enum class AttributeKind {
  string,         ///< text (std::string member)
  uri,            ///< an absolute URI, held as text (not checked)
  uri_reference,  ///< a URI reference, held as text (not checked)
  media_type,     ///< an RFC 2046 media type, held as text
  timestamp,      ///< RFC 3339 on the wire, a Timestamp member
  integer,        ///< a JSON number (or its decimal text), an int member
};

/// When an attribute is written.
enum class Presence {
  required,   ///< every valid event has it (validate() refuses it empty)
  optional,   ///< written when set: text not empty, time not zero, integer not `absent`
  with_data,  ///< describes `data`: written only when the event has data
};

/// One envelope attribute: its CloudEvents name, its type and the member
/// that holds it (exactly one of `text`, `time`, `integer`, by kind).
struct Attribute {
  std::string_view name;
  AttributeKind kind = AttributeKind::string;
  Presence presence = Presence::optional;
  std::string Envelope::*text = nullptr;
  Timestamp Envelope::*time = nullptr;
  int Envelope::*integer = nullptr;
  /// The integer that means "not set" (Envelope's default, not written).
  int absent = 0;
  /// Where the legacy snake_case envelope keeps it: a top-level key or
  /// "metadata.<key>", the first one present wins; empty: it has none.
  std::array<std::string_view, 2> legacy{};

  constexpr bool is_text() const noexcept { return text != nullptr; }
};

/// Every attribute, in the order the codecs write them (specversion first:
/// it opens the JSON object). Extension names are a-z and 0-9 only.
inline constexpr std::array attributes{
    // CloudEvents 1.0 context attributes
    Attribute{.name = "specversion", .presence = Presence::required, .text = &Envelope::specversion},
    Attribute{.name = "id", .presence = Presence::required, .text = &Envelope::id, .legacy = {"event_id"}},
    Attribute{.name = "type", .presence = Presence::required, .text = &Envelope::type, .legacy = {"event_type"}},
    Attribute{.name = "source", .kind = AttributeKind::uri_reference, .presence = Presence::required,
              .text = &Envelope::source, .legacy = {"metadata.source_service"}},
    Attribute{.name = "time", .kind = AttributeKind::timestamp, .time = &Envelope::time, .legacy = {"timestamp"}},
    Attribute{.name = "subject", .text = &Envelope::subject},
    Attribute{.name = "datacontenttype", .kind = AttributeKind::media_type, .presence = Presence::with_data,
              .text = &Envelope::datacontenttype},
    Attribute{.name = "dataschema", .kind = AttributeKind::uri, .text = &Envelope::dataschema},
    // herald's extensions
    Attribute{.name = "dataversion", .kind = AttributeKind::integer, .integer = &Envelope::dataversion, .absent = 1,
              .legacy = {"version"}},
    Attribute{.name = "partitionkey", .text = &Envelope::partitionkey, .legacy = {"metadata.partition_key"}},
    Attribute{.name = "aggregatetype", .text = &Envelope::aggregatetype, .legacy = {"metadata.aggregate_type"}},
    Attribute{.name = "aggregateid", .text = &Envelope::aggregateid, .legacy = {"metadata.aggregate_id"}},
    Attribute{.name = "correlationid", .text = &Envelope::correlationid, .legacy = {"metadata.correlation_id"}},
    Attribute{.name = "causationid", .text = &Envelope::causationid, .legacy = {"metadata.causation_id"}},
    Attribute{.name = "traceparent", .text = &Envelope::traceparent, .legacy = {"metadata.traceparent"}},
    Attribute{.name = "tracestate", .text = &Envelope::tracestate, .legacy = {"metadata.tracestate"}},
    Attribute{.name = "actor", .text = &Envelope::actor, .legacy = {"metadata.user_id", "metadata.actor"}},
};

/// Calls `f(std::integral_constant<std::size_t, I>{})` for every attribute in
/// table order, unrolled at compile time: inside, `attributes[i]` is a
/// constant expression, so `if constexpr` on its kind costs nothing at run time.
template <class F>
constexpr void for_each_attribute(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<attributes.size()>{});
}

/// The attribute called `name`, or nullptr (an extension herald does not know).
constexpr const Attribute* find_attribute(std::string_view name) noexcept {
  // The first byte settles most candidates of the same length (five names
  // have 11 letters) before a memcmp call: every key of every decode comes here.
  for (const Attribute& a : attributes)
    if (a.name.size() == name.size() && !name.empty() && a.name[0] == name[0] && a.name == name) return &a;
  return nullptr;
}

/// Whether the event carries `a` (text not empty, time not zero, integer
/// not `absent`); a with_data attribute also needs data.
bool is_set(const Envelope& event, const Attribute& a) noexcept;

/// The attribute's value as text: as it is, RFC 3339 time, decimal integer.
std::string to_text(const Envelope& event, const Attribute& a);

/// Sets the attribute from its text form (a binary-mode header). Throws
/// DecodeError naming the attribute for a time that is not RFC 3339 or an
/// integer that is not one (or does not fit an int).
void set_from_text(Envelope& event, const Attribute& a, std::string_view text);

/// The whole of `text` as an int; throws DecodeError naming `field`
/// ("12abc" is not 12).
int parse_integer(std::string_view text, const std::string& field);

}  // namespace herald::ext
