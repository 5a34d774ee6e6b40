#include "binding.hpp"

#include <nlohmann/json.hpp>

#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "herald/ext/binary_data.hpp"

namespace herald::kafka {

namespace {

constexpr std::string_view ce_prefix = "ce_";
constexpr std::string_view content_type = "content-type";

void header(OutRecord& out, std::string name, std::string value) {
  if (!value.empty()) out.headers.emplace_back(std::move(name), std::move(value));
}

// The Kafka binding carries datacontenttype as content-type, not ce_.
constexpr bool is_content_type(const ext::Attribute& a) noexcept { return a.text == &Envelope::datacontenttype; }

void encode_binary(const Envelope& e, OutRecord& out) {
  ext::for_each_attribute([&](auto i) {
    constexpr const ext::Attribute& a = ext::attributes[i];
    if constexpr (!is_content_type(a))
      if (ext::is_set(e, a)) out.headers.emplace_back(std::string(ce_prefix).append(a.name), ext::to_text(e, a));
  });
  for (const auto& [name, value] : e.extensions) {
    if (name == "database64") continue;  // the bytes travel as they are
    header(out, "ce_" + name, value.is_string() ? value.get<std::string>() : value.dump());
  }
  if (!e.data.empty()) {
    header(out, std::string(content_type), e.datacontenttype);
    out.value = ext::binary_data(e);
  }
}

Envelope decode_binary(std::string_view value, const HeaderViews& headers, const DecodeOptions& options) {
  Envelope e;
  e.datacontenttype.clear();
  for (const auto& h : headers) {
    if (h.name == content_type) {
      e.datacontenttype.assign(h.value);
      continue;
    }
    if (h.name.substr(0, ce_prefix.size()) != ce_prefix) continue;  // x-herald-* and foreign headers
    std::string_view attr = h.name.substr(ce_prefix.size());
    const ext::Attribute* a = ext::find_attribute(attr);
    if (!a) {
      e.extensions[std::string(attr)] = std::string(h.value);
    } else if (is_content_type(*a)) {
      if (e.datacontenttype.empty()) e.datacontenttype.assign(h.value);  // content-type wins
    } else {
      ext::set_from_text(e, *a, h.value);
    }
  }
  if (e.datacontenttype.empty()) e.datacontenttype = "application/json";
  if (!value.empty()) {
    if (value.size() > options.max_data_bytes)
      throw DecodeError("data", "data: " + std::to_string(value.size()) + " bytes exceeds the limit of " +
                                    std::to_string(options.max_data_bytes));
    ext::set_binary_data(e, value);
  }
  if (e.specversion.empty()) throw DecodeError("specversion", "specversion: required attribute is missing");
  validate(e, options);
  return e;
}

}  // namespace

HeaderViews read_headers(const rd_kafka_message_t* message) {
  HeaderViews out;
  rd_kafka_headers_t* headers = nullptr;
  // The headers belong to the message.
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR || !headers) return out;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
    out.push_back({name, value ? std::string_view(static_cast<const char*>(value), size) : std::string_view()});
  return out;
}

const HeaderView* find_header(const HeaderViews& headers, std::string_view name) {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it)
    if (it->name == name) return &*it;
  return nullptr;
}

void encode_record(const Envelope& event, BindingMode mode, OutRecord& out) {
  out.key = event.partitionkey;
  out.value.clear();
  out.headers.clear();
  if (mode == BindingMode::binary) {
    encode_binary(event, out);
  } else {
    encode_to(event, out.value);
    out.headers.emplace_back(std::string(content_type), std::string(cloudevents_json));
  }
}

Envelope decode_record(std::string_view key, std::string_view value, const HeaderViews& headers,
                       const DecodeOptions& options) {
  Envelope e;
  decode_record_into(key, value, headers, options, e);
  return e;
}

void decode_record_into(std::string_view key, std::string_view value, const HeaderViews& headers,
                        const DecodeOptions& options, Envelope& e) {
  const HeaderView* type = find_header(headers, content_type);
  bool structured = type && type->value.substr(0, 23) == "application/cloudevents";
  if (structured && type->value.substr(0, 29) == "application/cloudevents-batch")
    throw DecodeError("content-type", "content-type: batched CloudEvents are not supported");
  bool binary = !structured && find_header(headers, "ce_specversion") != nullptr;
  if (!binary && value.empty()) throw DecodeError("", "envelope: the record has no value and no ce_specversion header");
  if (binary) e = decode_binary(value, headers, options);
  else decode_into(value, options, e);
  // Foreign producers may key by bytes (an integer, Avro): such a key is
  // kept in escaped form, the same for the same bytes, so the event stays
  // valid (it is re-encoded for retries and dead letters) and keeps its order.
  if (e.partitionkey.empty() && !key.empty()) {
    if (valid_utf8(key)) e.partitionkey.assign(key);
    else e.partitionkey = printable(key, std::string_view::npos);
  }
}

}  // namespace herald::kafka
