// How an Envelope maps onto a store row, the same for every store.

#include <charconv>

#include <nlohmann/json.hpp>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "herald/ext/stamp.hpp"
#include "herald/ext/store.hpp"

namespace herald {

void prepare_for_append(Envelope& event, const AppendOptions& options) {
  ext::prepare_event(event, options.source, options.limits);
  // The transports keep order by partition key, the relay by aggregate:
  // without a partition key of its own, an aggregate's event takes its
  // aggregate id, so that it stays in order after the relay too (one Kafka
  // partition, one lane of a concurrent subscription). The id rather than
  // "type:id": it is what herald sets elsewhere (lifecycle events, legacy
  // decode, typed events' partition_key()), and events of one aggregate
  // must agree on it whether or not the application set it.
  if (event.partitionkey.empty()) event.partitionkey = event.aggregateid;
}

std::vector<std::vector<std::string>> targets_of(const std::vector<Envelope>& events, const AppendOptions& options) {
  std::vector<std::vector<std::string>> out(events.size());
  if (!options.targets) return out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    out[i] = options.targets(events[i]);
    for (std::size_t k = 0; k < out[i].size(); ++k) {
      if (out[i][k].empty()) throw ConfigError("append: event " + events[i].id + ": a delivery target name is empty");
      for (std::size_t j = 0; j < k; ++j)
        if (out[i][j] == out[i][k])
          throw ConfigError("append: event " + events[i].id + ": delivery target '" + out[i][k] + "' is named twice");
    }
  }
  return out;
}

std::string ordering_key(const Envelope& event) {
  if (!event.aggregateid.empty()) return event.aggregatetype + ':' + event.aggregateid;
  return event.partitionkey;
}

namespace {

std::string take(const nlohmann::json& j, const std::string& name) {
  auto it = j.find(name);
  if (it == j.end()) return {};
  if (!it->is_string()) throw StoreError("stored metadata: '" + name + "' is not a string");
  return it->get<std::string>();
}

}  // namespace

// The metadata is the CloudEvents JSON of the envelope with "data": null
// (which makes the codec keep datacontenttype): the codec reads it back
// several times faster than a general JSON parser. An empty datacontenttype,
// which that format cannot tell from an absent one, takes the slower
// general form so that every stored event reads back equal to the one
// appended.
namespace {

constexpr std::string_view codec_prefix = "{\"specversion\":";

std::string encode_general(const Envelope& e);
Envelope decode_general(std::string_view metadata, std::string_view payload);

}  // namespace

std::string encode_metadata(const Envelope& e) {
  if (e.datacontenttype.empty()) return encode_general(e);
  Envelope copy = e;  // the metadata without the payload
  copy.data = "null";
  return encode(copy);
}

Envelope decode_stored(std::string_view metadata, std::string_view payload) {
  if (metadata.substr(0, codec_prefix.size()) != codec_prefix) return decode_general(metadata, payload);
  Envelope e;
  try {
    e = decode(metadata);
  } catch (const DecodeError& ex) {
    throw StoreError(std::string("stored metadata: ") + ex.what());
  }
  e.data = std::string(payload);
  return e;
}

namespace {

// Written: the attributes every stored event has (the required ones and
// its time, which append stamps), datacontenttype even when empty (the
// reason for this form), and the others when set.
std::string encode_general(const Envelope& e) {
  nlohmann::json j = nlohmann::json::object();
  for (const ext::Attribute& a : ext::attributes) {
    const bool always = a.presence != ext::Presence::optional || a.kind == ext::AttributeKind::timestamp;
    if (!always && !ext::is_set(e, a)) continue;
    const std::string name(a.name);
    switch (a.kind) {
      case ext::AttributeKind::timestamp: j[name] = format_time(e.*a.time); break;
      case ext::AttributeKind::integer: j[name] = e.*a.integer; break;
      default: j[name] = e.*a.text; break;
    }
  }
  if (!e.extensions.empty()) j["extensions"] = e.extensions;
  return j.dump();
}

Envelope decode_general(std::string_view metadata, std::string_view payload) {
  nlohmann::json j = nlohmann::json::parse(metadata, nullptr, false);
  if (!j.is_object()) throw StoreError("stored metadata is not a JSON object");
  Envelope e;
  for (const ext::Attribute& a : ext::attributes) {
    const std::string name(a.name);
    switch (a.kind) {
      case ext::AttributeKind::timestamp:
        try {
          e.*a.time = parse_time(take(j, name));
        } catch (const DecodeError& ex) {
          throw StoreError(std::string("stored metadata: ") + ex.what());
        }
        break;
      case ext::AttributeKind::integer:
        if (auto it = j.find(name); it != j.end()) {
          if (!it->is_number_integer()) throw StoreError("stored metadata: '" + name + "' is not an integer");
          e.*a.integer = it->get<int>();
        }
        break;
      default: e.*a.text = take(j, name); break;
    }
  }
  if (auto it = j.find("extensions"); it != j.end()) {
    if (!it->is_object()) throw StoreError("stored metadata: 'extensions' is not an object");
    for (const auto& [name, value] : it->items()) e.extensions[name] = value;
  }
  e.data = std::string(payload);
  return e;
}

}  // namespace

// A cursor is "p" and the last position seen; the prefix keeps callers from
// mistaking it for a position they may do arithmetic on.
std::string make_cursor(std::int64_t position) { return "p" + std::to_string(position); }

std::int64_t parse_cursor(std::string_view cursor) {
  std::int64_t position = 0;
  if (cursor.size() < 2 || cursor[0] != 'p')
    throw ConfigError("cursor '" + std::string(cursor) + "' is not a cursor this store made");
  auto [end, ec] = std::from_chars(cursor.data() + 1, cursor.data() + cursor.size(), position);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || position < 0)
    throw ConfigError("cursor '" + std::string(cursor) + "' is not a cursor this store made");
  return position;
}

}  // namespace herald
