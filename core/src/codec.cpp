#include "herald/codec.hpp"

#include <climits>
#include <cstdint>
#include <cstring>

#include "herald/errors.hpp"
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

void require(const std::string& value, const char* field) {
  if (value.empty()) throw DecodeError(field, std::string(field) + ": required attribute is missing or empty");
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
void require_utf8(const std::string& value, const std::string& field) {
  if (!detail::valid_utf8(value)) throw DecodeError(field, field + ": not valid UTF-8");
}

int to_int(long long v, const char* field) {
  if (v < INT_MIN || v > INT_MAX) throw DecodeError(field, std::string(field) + ": integer out of range");
  return static_cast<int>(v);
}

// The whole text must be an integer that fits an int ("12abc" is not 12).
int parse_int(const std::string& text, const char* field) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw DecodeError(field, std::string(field) + ": '" + printable(text) + "' is not an integer");
  return to_int(v, field);
}

enum class Attr {
  other, specversion, id, type, source, time, subject, datacontenttype, dataschema, data, data_base64,
  dataversion, partitionkey, aggregatetype, aggregateid, correlationid, causationid, traceparent, actor,
  legacy,
};

Attr classify(const std::string& k) {
  switch (k.size()) {
    case 2: if (k == "id") return Attr::id; break;
    case 4:
      if (k == "type") return Attr::type;
      if (k == "time") return Attr::time;
      if (k == "data") return Attr::data;
      break;
    case 5: if (k == "actor") return Attr::actor; break;
    case 6: if (k == "source") return Attr::source; break;
    case 7: if (k == "subject") return Attr::subject; break;
    case 8: if (k == "event_id") return Attr::legacy; break;
    case 10: if (k == "dataschema") return Attr::dataschema; if (k == "event_type") return Attr::legacy; break;
    case 11:
      if (k == "specversion") return Attr::specversion;
      if (k == "data_base64") return Attr::data_base64;
      if (k == "dataversion") return Attr::dataversion;
      if (k == "aggregateid") return Attr::aggregateid;
      if (k == "causationid") return Attr::causationid;
      if (k == "traceparent") return Attr::traceparent;
      break;
    case 12: if (k == "partitionkey") return Attr::partitionkey; break;
    case 13:
      if (k == "aggregatetype") return Attr::aggregatetype;
      if (k == "correlationid") return Attr::correlationid;
      break;
    case 15: if (k == "datacontenttype") return Attr::datacontenttype; break;
  }
  return Attr::other;
}

std::string str_or_empty(const nlohmann::json& j, const char* key, const char* field) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) throw DecodeError(field, std::string(field) + ": must be a string");
  return it->get<std::string>();
}

// The envelope pre-CloudEvents services emit:
// {"event_id","event_type","timestamp","version","payload","metadata":{...}}
Envelope decode_legacy(std::string_view text, const DecodeOptions& options) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& ex) {
    throw DecodeError("", std::string("envelope: malformed JSON: ") + ex.what());
  }
  Envelope e;
  e.id = str_or_empty(j, "event_id", "event_id");
  e.type = str_or_empty(j, "event_type", "event_type");
  require(e.id, "event_id");
  require(e.type, "event_type");
  require_type_length(e.type, "event_type");
  if (auto it = j.find("timestamp"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      e.time = parse_time(it->get<std::string>());
    } else if (it->is_number()) {
      // Checked before the conversion: a double out of range is undefined behaviour.
      using std::chrono::duration_cast, std::chrono::duration;
      const double lo = duration_cast<duration<double>>(min_time().time_since_epoch()).count();
      const double hi = duration_cast<duration<double>>(max_time().time_since_epoch()).count();
      double seconds = it->get<double>();
      if (!(seconds >= lo && seconds <= hi))
        throw DecodeError("timestamp", "timestamp: " + it->dump() + " is out of range (years 0000 to 9999)");
      e.time = Timestamp(std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
    } else {
      throw DecodeError("timestamp", "timestamp: must be an RFC 3339 string or epoch seconds");
    }
  }
  if (auto it = j.find("version"); it != j.end() && !it->is_null()) {
    if (it->is_number_unsigned()) {
      auto v = it->get<std::uint64_t>();
      e.dataversion = to_int(v > INT_MAX ? LLONG_MAX : static_cast<long long>(v), "version");
    } else if (it->is_number_integer()) e.dataversion = to_int(it->get<long long>(), "version");
    else if (it->is_string()) e.dataversion = parse_int(it->get<std::string>(), "version");
    else throw DecodeError("version", "version: must be an integer");
  }
  if (auto it = j.find("payload"); it != j.end() && !it->is_null()) e.data = it->dump();
  if (auto it = j.find("metadata"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw DecodeError("metadata", "metadata: must be an object");
    const auto& m = *it;
    e.correlationid = str_or_empty(m, "correlation_id", "metadata.correlation_id");
    e.causationid = str_or_empty(m, "causation_id", "metadata.causation_id");
    e.source = str_or_empty(m, "source_service", "metadata.source_service");
    e.aggregateid = str_or_empty(m, "aggregate_id", "metadata.aggregate_id");
    e.aggregatetype = str_or_empty(m, "aggregate_type", "metadata.aggregate_type");
    e.partitionkey = str_or_empty(m, "partition_key", "metadata.partition_key");
    e.traceparent = str_or_empty(m, "traceparent", "metadata.traceparent");
    e.actor = str_or_empty(m, "user_id", "metadata.user_id");
    if (e.actor.empty()) e.actor = str_or_empty(m, "actor", "metadata.actor");
  }
  if (e.source.empty()) e.source = "legacy";
  if (e.partitionkey.empty()) e.partitionkey = e.aggregateid;
  if (e.data.size() > options.max_data_bytes)
    throw DecodeError("payload", "payload: " + std::to_string(e.data.size()) + " bytes exceeds the limit of " +
                                     std::to_string(options.max_data_bytes));
  return e;
}

}  // namespace

void encode_to(const Envelope& e, std::string& out) {
  out.reserve(out.size() + 256 + e.data.size());
  out += "{\"specversion\":";
  write_json_string(out, e.specversion);
  attr(out, "id", e.id);
  attr(out, "type", e.type);
  attr(out, "source", e.source);
  if (e.time.time_since_epoch().count() != 0) attr(out, "time", format_time(e.time));
  attr(out, "subject", e.subject);
  if (!e.data.empty()) attr(out, "datacontenttype", e.datacontenttype);
  attr(out, "dataschema", e.dataschema);
  if (e.dataversion != 1) {
    out += ",\"dataversion\":";
    out += std::to_string(e.dataversion);
  }
  attr(out, "partitionkey", e.partitionkey);
  attr(out, "aggregatetype", e.aggregatetype);
  attr(out, "aggregateid", e.aggregateid);
  attr(out, "correlationid", e.correlationid);
  attr(out, "causationid", e.causationid);
  attr(out, "traceparent", e.traceparent);
  attr(out, "actor", e.actor);
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
  JsonScanner s(text);
  Envelope e;
  e.datacontenttype.clear();
  bool has_spec = false, legacy = false, has_data = false;
  std::string key, value;
  if (s.peek() != '{') s.fail(nullptr, "malformed JSON: expected an object");
  s.expect('{', nullptr);
  if (!s.consume('}')) {
    do {
      s.string(key, nullptr);
      s.expect(':', key.c_str());
      Attr a = classify(key);
      const char* field = key.c_str();
      auto text_attr = [&](std::string& target) {
        if (s.peek() != '"') s.fail(field, "must be a string");
        s.string(target, field);
      };
      switch (a) {
        case Attr::specversion: text_attr(e.specversion); has_spec = true; break;
        case Attr::id: text_attr(e.id); break;
        case Attr::type: text_attr(e.type); break;
        case Attr::source: text_attr(e.source); break;
        case Attr::time:
          text_attr(value);
          e.time = parse_time(value);
          break;
        case Attr::subject: text_attr(e.subject); break;
        case Attr::datacontenttype: text_attr(e.datacontenttype); break;
        case Attr::dataschema: text_attr(e.dataschema); break;
        case Attr::partitionkey: text_attr(e.partitionkey); break;
        case Attr::aggregatetype: text_attr(e.aggregatetype); break;
        case Attr::aggregateid: text_attr(e.aggregateid); break;
        case Attr::correlationid: text_attr(e.correlationid); break;
        case Attr::causationid: text_attr(e.causationid); break;
        case Attr::traceparent: text_attr(e.traceparent); break;
        case Attr::actor: text_attr(e.actor); break;
        case Attr::dataversion:
          if (s.peek() == '"') {
            s.string(value, field);
            e.dataversion = parse_int(value, "dataversion");
          } else {
            e.dataversion = to_int(s.integer(field), "dataversion");
          }
          break;
        case Attr::data: {
          std::string_view raw = s.value(field);
          if (raw.size() > options.max_data_bytes)
            throw DecodeError("data", "data: " + std::to_string(raw.size()) + " bytes exceeds the limit of " +
                                          std::to_string(options.max_data_bytes));
          if (raw != "null") e.data.assign(raw), has_data = true;
          break;
        }
        case Attr::data_base64: {
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
        case Attr::legacy: legacy = true; s.value(field); break;
        case Attr::other: {
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
  if (!has_spec && legacy && options.accept_legacy) return decode_legacy(text, options);
  if (!has_spec) throw DecodeError("specversion", "specversion: required attribute is missing");
  if (e.datacontenttype.empty()) e.datacontenttype = "application/json";
  (void)has_data;
  validate(e, options);
  return e;
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
  require(e.id, "id");
  require(e.type, "type");
  require(e.source, "source");
  require_type_length(e.type, "type");
  for (auto [value, field] : {std::pair{&e.id, "id"}, {&e.type, "type"}, {&e.source, "source"},
                              {&e.subject, "subject"}, {&e.datacontenttype, "datacontenttype"},
                              {&e.dataschema, "dataschema"}, {&e.partitionkey, "partitionkey"},
                              {&e.aggregatetype, "aggregatetype"}, {&e.aggregateid, "aggregateid"},
                              {&e.correlationid, "correlationid"}, {&e.causationid, "causationid"},
                              {&e.traceparent, "traceparent"}, {&e.actor, "actor"}})
    require_utf8(*value, field);
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
    if (classify(name) != Attr::other)
      throw DecodeError(name, "extension attribute '" + name + "': the name of a CloudEvents attribute");
    if (value.is_object() || value.is_array())
      throw DecodeError(name, "extension attribute '" + name + "': value must be a string, number or boolean");
    if (value.is_string()) require_utf8(value.get_ref<const std::string&>(), name);
  }
}

}  // namespace herald
