#include "herald/ext/attributes.hpp"

#include <climits>

#include "herald/errors.hpp"

namespace herald::ext {

bool is_set(const Envelope& e, const Attribute& a) noexcept {
  if (a.presence == Presence::with_data && e.data.empty()) return false;
  switch (a.kind) {
    case AttributeKind::timestamp: return (e.*a.time).time_since_epoch().count() != 0;
    case AttributeKind::integer: return e.*a.integer != a.absent;
    default: return !(e.*a.text).empty();
  }
}

std::string to_text(const Envelope& e, const Attribute& a) {
  switch (a.kind) {
    case AttributeKind::timestamp: return format_time(e.*a.time);
    case AttributeKind::integer: return std::to_string(e.*a.integer);
    default: return e.*a.text;
  }
}

void set_from_text(Envelope& e, const Attribute& a, std::string_view text) {
  switch (a.kind) {
    case AttributeKind::timestamp: e.*a.time = parse_time(text); break;
    case AttributeKind::integer: e.*a.integer = parse_integer(text, std::string(a.name)); break;
    default: (e.*a.text).assign(text); break;
  }
}

int parse_integer(std::string_view text, const std::string& field) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(std::string(text), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw DecodeError(field, field + ": '" + printable(text) + "' is not an integer");
  if (v < INT_MIN || v > INT_MAX) throw DecodeError(field, field + ": integer out of range");
  return static_cast<int>(v);
}

}  // namespace herald::ext
