#include "herald/codec.hpp"

#include <climits>
#include <cstdint>
#include <cstring>

#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "json_scan.hpp"

namespace herald {

using detail::JsonScanner;
using detail::write_json_string;

bool valid_utf8(std::string_view text) noexcept { return detail::valid_utf8(text); }

bool valid_attribute_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

namespace {

void attr(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out += ",\"";
  out.append(name);
  out += "\":";
  write_json_string(out, value);
}

void require(const std::string& value, std::string_view field) {
  if (value.empty())
    throw DecodeError(std::string(field), std::string(field) + ": required attribute is missing or empty");
}

// What publish accepts (validate_event_type), so a decoded event can be
// published, retried and dead-lettered again.
constexpr std::size_t max_type_bytes = 255;

void require_type_length(const std::string& type, const char* field) {
  if (type.size() > max_type_bytes)
    throw DecodeError(field, std::string(field) + ": " + std::to_string(type.size()) + " bytes exceeds the limit of " +
                                 std::to_string(max_type_bytes));
}

// Envelopes built in code or from binary-mode headers never passed the
// scanner: nlohmann::json would throw on these strings much later.
void require_utf8(const std::string& value, std::string_view field) {
  if (!detail::valid_utf8(value)) throw DecodeError(std::string(field), std::string(field) + ": not valid UTF-8");
}

int to_int(long long v, const char* field) {
  if (v < INT_MIN || v > INT_MAX) throw DecodeError(field, std::string(field) + ": integer out of range");
  return static_cast<int>(v);
}

// Keys of the JSON object that are not attributes of the table.
enum class Key { attribute, other, data, data_base64, legacy };

// A key that is the legacy name of a required attribute (event_id,
// event_type) marks the legacy envelope.
constexpr bool is_legacy_marker(std::string_view key) noexcept {
  for (const ext::Attribute& a : ext::attributes)
    if (a.presence == ext::Presence::required && a.legacy[0] == key) return true;
  return false;
}

Key classify(std::string_view k, const ext::Attribute*& attribute) {
  attribute = ext::find_attribute(k);
  if (attribute) return Key::attribute;
  if (k == "data") return Key::data;
  if (k == "data_base64") return Key::data_base64;
  if (is_legacy_marker(k)) return Key::legacy;
  return Key::other;
}

// The legacy value of an attribute, by kind: strings as they are, time as
// RFC 3339 or epoch seconds, integers as numbers or decimal text.
void read_legacy(Envelope& e, const ext::Attribute& a, const nlohmann::json& value, const std::string& field) {
  switch (a.kind) {
    case ext::AttributeKind::timestamp:
      if (value.is_string()) {
        e.*a.time = parse_time(value.get<std::string>());
      } else if (value.is_number()) {
        // Checked before the conversion: a double out of range is undefined behaviour.
        using std::chrono::duration_cast, std::chrono::duration;
        const double lo = duration_cast<duration<double>>(min_time().time_since_epoch()).count();
        const double hi = duration_cast<duration<double>>(max_time().time_since_epoch()).count();
        double seconds = value.get<double>();
        if (!(seconds >= lo && seconds <= hi))
          throw DecodeError(field, field + ": " + value.dump() + " is out of range (years 0000 to 9999)");
        e.*a.time = Timestamp(std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
      } else {
        throw DecodeError(field, field + ": must be an RFC 3339 string or epoch seconds");
      }
      break;
    case ext::AttributeKind::integer:
      if (value.is_number_unsigned()) {
        auto v = value.get<std::uint64_t>();
        e.*a.integer = to_int(v > INT_MAX ? LLONG_MAX : static_cast<long long>(v), field.c_str());
      } else if (value.is_number_integer()) {
        e.*a.integer = to_int(value.get<long long>(), field.c_str());
      } else if (value.is_string()) {
        e.*a.integer = ext::parse_integer(value.get<std::string>(), field);
      } else {
        throw DecodeError(field, field + ": must be an integer");
      }
      break;
    default:
      if (!value.is_string()) throw DecodeError(field, field + ": must be a string");
      e.*a.text = value.get<std::string>();
      break;
  }
}

// The envelope pre-CloudEvents services emit:
// {"event_id","event_type","timestamp","version","payload","metadata":{...}}
// Where each attribute lives in it is the table's `legacy`.
Envelope decode_legacy(std::string_view text, const DecodeOptions& options) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& ex) {
    throw DecodeError("", std::string("envelope: malformed JSON: ") + ex.what());
  }
  constexpr std::string_view in_metadata = "metadata.";
  const nlohmann::json* metadata = nullptr;
  if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw DecodeError("metadata", "metadata: must be an object");
    metadata = &*it;
  }
  Envelope e;
  for (const ext::Attribute& a : ext::attributes) {
    for (std::string_view place : a.legacy) {
      if (place.empty()) break;
      const bool nested = place.substr(0, in_metadata.size()) == in_metadata;
      const nlohmann::json* object = nested ? metadata : &j;
      if (!object) continue;
      auto it = object->find(nested ? place.substr(in_metadata.size()) : place);
      if (it == object->end() || it->is_null()) continue;
      read_legacy(e, a, *it, std::string(place));
      if (!a.is_text() || !(e.*a.text).empty()) break;
    }
  }
  if (e.source.empty()) e.source = "legacy";
  for (const ext::Attribute& a : ext::attributes)
    if (a.presence == ext::Presence::required && a.is_text() && !a.legacy[0].empty())
      require(e.*a.text, a.legacy[0]);
  require_type_length(e.type, "event_type");
  if (auto it = j.find("payload"); it != j.end() && !it->is_null()) e.data = it->dump();
  if (e.partitionkey.empty()) e.partitionkey = e.aggregateid;
  if (e.data.size() > options.max_data_bytes)
    throw DecodeError("payload", "payload: " + std::to_string(e.data.size()) + " bytes exceeds the limit of " +
                                     std::to_string(options.max_data_bytes));
  return e;
}

}  // namespace

void encode_to(const Envelope& e, std::string& out) {
  out.reserve(out.size() + 256 + e.data.size());
  ext::for_each_attribute([&](auto i) {
    constexpr const ext::Attribute& a = ext::attributes[i];
    if constexpr (i == 0) {
      // specversion opens the object, so it is written even when empty.
      static_assert(a.name == "specversion");
      out += "{\"specversion\":";
      write_json_string(out, e.*a.text);
    } else if constexpr (a.kind == ext::AttributeKind::timestamp) {
      if ((e.*a.time).time_since_epoch().count() != 0) attr(out, a.name, format_time(e.*a.time));
    } else if constexpr (a.kind == ext::AttributeKind::integer) {
      if (e.*a.integer != a.absent) {
        out += ",\"";
        out.append(a.name);
        out += "\":";
        out += std::to_string(e.*a.integer);
      }
    } else if constexpr (a.presence == ext::Presence::with_data) {
      if (!e.data.empty()) attr(out, a.name, e.*a.text);
    } else {
      attr(out, a.name, e.*a.text);
    }
  });
  for (const auto& [name, value] : e.extensions) {
    out += ",\"";
    out += name;
    out += "\":";
    out += value.dump();
  }
  if (!e.data.empty()) {
    out += ",\"data\":";
    out += e.data;
  }
  out += '}';
}

std::string encode(const Envelope& e) {
  std::string out;
  encode_to(e, out);
  return out;
}

Envelope decode(std::string_view text, const DecodeOptions& options) {
  Envelope e;
  decode_into(text, options, e);
  return e;
}

void decode_into(std::string_view text, const DecodeOptions& options, Envelope& e) {
  // What a default Envelope holds, but with no datacontenttype (set below
  // when the event names none), assigned so each string keeps its storage.
  ext::for_each_attribute([&](auto i) {
    constexpr const ext::Attribute& a = ext::attributes[i];
    if constexpr (a.is_text()) {
      if constexpr (a.text == &Envelope::specversion) e.specversion = "1.0";
      else (e.*a.text).clear();
    } else if constexpr (a.kind == ext::AttributeKind::timestamp) {
      e.*a.time = Timestamp{};
    } else if constexpr (a.kind == ext::AttributeKind::integer) {
      e.*a.integer = a.absent;
    }
  });
  e.data.clear();
  e.extensions.clear();
  JsonScanner s(text);
  bool has_spec = false, legacy = false, has_data = false;
  std::string key, value;
  if (s.peek() != '{') s.fail(nullptr, "malformed JSON: expected an object");
  s.expect('{', nullptr);
  if (!s.consume('}')) {
    do {
      s.string(key, nullptr);
      s.expect(':', key.c_str());
      const ext::Attribute* attribute = nullptr;
      Key k = classify(key, attribute);
      const char* field = key.c_str();
      switch (k) {
        case Key::attribute:
          if (attribute->kind == ext::AttributeKind::integer) {
            if (s.peek() == '"') {
              s.string(value, field);
              e.*attribute->integer = ext::parse_integer(value, key);
            } else {
              e.*attribute->integer = to_int(s.integer(field), field);
            }
            break;
          }
          if (s.peek() != '"') s.fail(field, "must be a string");
          if (attribute->is_text()) {
            s.string(e.*attribute->text, field);
          } else {
            s.string(value, field);
            e.*attribute->time = parse_time(value);
          }
          if (attribute->text == &Envelope::specversion) has_spec = true;
          break;
        case Key::data: {
          std::string_view raw = s.value(field);
          if (raw.size() > options.max_data_bytes)
            throw DecodeError("data", "data: " + std::to_string(raw.size()) + " bytes exceeds the limit of " +
                                          std::to_string(options.max_data_bytes));
          if (raw != "null") e.data.assign(raw), has_data = true;
          break;
        }
        case Key::data_base64: {
          std::string_view raw = s.value(field);
          if (raw.empty() || raw[0] != '"') s.fail(field, "must be a string");
          if (raw.size() > options.max_data_bytes * 4 / 3 + 4)
            throw DecodeError("data_base64", "data_base64: exceeds the data size limit of " +
                                                 std::to_string(options.max_data_bytes));
          // Binary data is kept as its base64 JSON string.
          e.data.assign(raw);
          has_data = true;
          e.extensions["database64"] = true;
          break;
        }
        case Key::legacy: legacy = true; s.value(field); break;
        case Key::other: {
          std::string_view raw = s.value(field);
          if (!valid_attribute_name(key))
            throw DecodeError(printable(key), "extension attribute '" + printable(key) +
                                                  "': names must be lowercase letters a-z and digits 0-9 only");
          try {
            e.extensions[key] = nlohmann::json::parse(raw);
          } catch (const nlohmann::json::exception& ex) {
            throw DecodeError(key, "extension attribute '" + key + "': " + ex.what());
          }
          break;
        }
      }
    } while (s.consume(','));
    s.expect('}', nullptr);
  }
  if (!s.at_end()) s.fail(nullptr, "trailing characters after the envelope");
  if (!has_spec && legacy && options.accept_legacy) {
    e = decode_legacy(text, options);
    return;
  }
  if (!has_spec) throw DecodeError("specversion", "specversion: required attribute is missing");
  if (e.datacontenttype.empty()) e.datacontenttype = "application/json";
  (void)has_data;
  validate(e, options);
}

std::string_view check_json_data(std::string_view text, const char* field) {
  JsonScanner s(text);
  std::string_view value = s.value(field);
  if (!s.at_end()) s.fail(field, "trailing characters after the value");
  return value;
}

void validate(const Envelope& e, const DecodeOptions& options) {
  if (e.specversion != "1.0")
    throw DecodeError("specversion", "specversion: '" + printable(e.specversion) + "' is not supported (only 1.0)");
  ext::for_each_attribute([&](auto i) {
    constexpr const ext::Attribute& a = ext::attributes[i];
    if constexpr (a.presence == ext::Presence::required && a.text != &Envelope::specversion) require(e.*a.text, a.name);
  });
  require_type_length(e.type, "type");
  // Runs on every publish. Nearly every event is ASCII: one pass over all
  // its text attributes settles that, and only an event with a byte above
  // 0x7F is checked attribute by attribute (the error names the attribute).
  std::uint64_t high = 0;
  ext::for_each_attribute([&](auto i) {
    constexpr const ext::Attribute& a = ext::attributes[i];
    if constexpr (a.is_text()) high |= detail::high_bits(e.*a.text);
  });
  if (high != 0)
    ext::for_each_attribute([&](auto i) {
      constexpr const ext::Attribute& a = ext::attributes[i];
      if constexpr (a.is_text()) require_utf8(e.*a.text, a.name);
    });
  if (e.time < min_time() || e.time > max_time())
    throw DecodeError("time", "time: out of range (years 0000 to 9999)");
  if (e.data.size() > options.max_data_bytes)
    throw DecodeError("data", "data: " + std::to_string(e.data.size()) + " bytes exceeds the limit of " +
                                  std::to_string(options.max_data_bytes));
  for (const auto& [name, value] : e.extensions) {
    if (!valid_attribute_name(name))
      throw DecodeError(printable(name), "extension attribute '" + printable(name) +
                                             "': names must be lowercase letters a-z and digits 0-9 only");
    // A binary-mode header ce_data would otherwise become the data on a
    // structured re-encode.
    if (ext::find_attribute(name) || name == "data")
      throw DecodeError(name, "extension attribute '" + name + "': the name of a CloudEvents attribute");
    if (value.is_object() || value.is_array())
      throw DecodeError(name, "extension attribute '" + name + "': value must be a string, number or boolean");
    if (value.is_string()) require_utf8(value.get_ref<const std::string&>(), name);
  }
}

}  // namespace herald
