#include "binding.hpp"

#include <nlohmann/json.hpp>

#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"

namespace herald::kafka {

namespace {

constexpr std::string_view ce_prefix = "ce_";
constexpr std::string_view content_type = "content-type";

bool is_json_media_type(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return type == "application/json" || type == "text/json" ||
         (type.size() > 5 && type.substr(type.size() - 5) == "+json");
}

bool is_text_media_type(std::string_view type) { return type.substr(0, 5) == "text/"; }

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += b64_alphabet[(v >> 6) & 63];
    out += b64_alphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? b64_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = value(c);
    if (v < 0) throw DecodeError("data", "data: not valid base64");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

void header(OutRecord& out, std::string name, std::string value) {
  if (!value.empty()) out.headers.emplace_back(std::move(name), std::move(value));
}

// The data as it travels in binary mode: JSON as it is, a JSON string of a
// text type as its text, base64 data (database64) as its bytes.
std::string binary_value(const Envelope& e) {
  if (e.data.empty() || is_json_media_type(e.datacontenttype)) return e.data;
  auto b64 = e.extensions.find("database64");
  bool is_b64 = b64 != e.extensions.end() && b64->second == true;
  if (e.data.front() != '"') return e.data;
  std::string text;
  try {
    text = nlohmann::json::parse(e.data).get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return e.data;  // not a JSON string after all: send it as it is
  }
  return is_b64 ? base64_decode(text) : text;
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
    out.value = binary_value(e);
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
    if (is_json_media_type(e.datacontenttype)) {
      // The structured decoder's rules, so the event survives a structured
      // re-encode (retry, dead letter, outbox).
      try {
        value = check_json_data(value);
      } catch (const DecodeError& ex) {
        throw DecodeError("data", "data: the value is not valid JSON although content-type is '" +
                                      printable(e.datacontenttype) + "' (" + ex.what() + ")");
      }
      e.data.assign(value);
    } else if (is_text_media_type(e.datacontenttype)) {
      try {
        e.data = nlohmann::json(std::string(value)).dump();
      } catch (const nlohmann::json::exception&) {
        throw DecodeError("data", "data: text of content-type '" + printable(e.datacontenttype) + "' is not valid UTF-8");
      }
    } else {
      e.data = nlohmann::json(base64_encode(value)).dump();
      e.extensions["database64"] = true;
    }
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
  const HeaderView* type = find_header(headers, content_type);
  bool structured = type && type->value.substr(0, 23) == "application/cloudevents";
  if (structured && type->value.substr(0, 29) == "application/cloudevents-batch")
    throw DecodeError("content-type", "content-type: batched CloudEvents are not supported");
  bool binary = !structured && find_header(headers, "ce_specversion") != nullptr;
  Envelope e;
  if (binary) {
    e = decode_binary(value, headers, options);
  } else {
    if (value.empty()) throw DecodeError("", "envelope: the record has no value and no ce_specversion header");
    e = decode(value, options);
  }
  // Foreign producers may key by bytes (an integer, Avro): such a key is
  // kept in escaped form, the same for the same bytes, so the event stays
  // valid (it is re-encoded for retries and dead letters) and keeps its order.
  if (e.partitionkey.empty() && !key.empty())
    e.partitionkey = valid_utf8(key) ? std::string(key) : printable(key, std::string_view::npos);
  return e;
}

}  // namespace herald::kafka
