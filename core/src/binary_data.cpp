// Shared by the binary modes of the Kafka and HTTP bindings.

#include "herald/ext/binary_data.hpp"

#include <nlohmann/json.hpp>

#include "herald/codec.hpp"
#include "herald/errors.hpp"

namespace herald::ext {

bool is_json_media_type(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return type == "application/json" || type == "text/json" ||
         (type.size() > 5 && type.substr(type.size() - 5) == "+json");
}

namespace {

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

}  // namespace


// The data as it travels in binary mode: JSON as it is, a JSON string of a
// text type as its text, base64 data (database64) as its bytes.
std::string binary_data(const Envelope& e) {
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

void set_binary_data(Envelope& e, std::string_view value) {
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

}  // namespace herald::ext
