#include "ingress_parse.hpp"

#include <cctype>

#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "herald/ext/binary_data.hpp"

namespace herald::admin {

namespace {

constexpr std::size_t max_quoted = 64;
constexpr std::string_view structured_json = "application/cloudevents+json";
constexpr std::string_view batch_json = "application/cloudevents-batch+json";

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

// The media type without parameters, lower case: "application/cloudevents+json".
std::string media_type(std::string_view value) {
  value = value.substr(0, value.find(';'));
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return lowered(value);
}

[[noreturn]] void refuse(std::string message, std::optional<std::size_t> index = {}, int status = 400) {
  throw IngressRefusal{status, std::move(message), index};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// HTTP binding, 3.1.3.2: header values are percent-encoded UTF-8.
std::string percent_decoded(std::string_view value, std::string_view header) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out += value[i];
      continue;
    }
    int high = i + 2 < value.size() ? hex_digit(value[i + 1]) : -1;
    int low = high >= 0 ? hex_digit(value[i + 2]) : -1;
    if (low < 0) refuse("header " + std::string(header) + ": bad percent escape at byte " + std::to_string(i));
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  if (!valid_utf8(out)) refuse("header " + std::string(header) + ": not UTF-8 once percent-decoded");
  return out;
}

Envelope decode_one(std::string_view text, const DecodeOptions& options, std::optional<std::size_t> index) {
  DecodeOptions strict = options;
  strict.accept_legacy = false;  // CloudEvents only: the legacy envelope is herald's own past
  try {
    return decode(text, strict);
  } catch (const DecodeError& e) {
    refuse(e.what(), index);
  }
}

Envelope binary_event(const HeaderFields& headers, std::string_view body, const DecodeOptions& options) {
  Envelope e;
  e.specversion.clear();
  e.datacontenttype.clear();
  for (const auto& [raw_name, raw_value] : headers) {
    if (raw_name.size() <= 3 || !iequals(raw_name.substr(0, 3), "ce-")) continue;
    const std::string name = lowered(raw_name.substr(3));
    const std::string header = "ce-" + name;
    if (!valid_attribute_name(name)) refuse("header " + excerpt(header) + ": not a CloudEvents attribute name (a-z, 0-9)");
    std::string value = percent_decoded(raw_value, header);
    if (name == "datacontenttype") refuse("header ce-datacontenttype: binary mode carries it as content-type");
    if (const ext::Attribute* a = ext::find_attribute(name)) {
      if (a->is_text() && !(e.*(a->text)).empty()) refuse("header " + header + " is given twice");
      try {
        ext::set_from_text(e, *a, value);
      } catch (const DecodeError& ex) {
        refuse(std::string("header ") + header + ": " + ex.what());
      }
    } else {
      if (name == "data" || name == "database64")
        refuse("header " + header + ": reserved for the data");
      if (!e.extensions.emplace(name, std::move(value)).second) refuse("header " + header + " is given twice");
    }
  }
  if (e.specversion.empty()) refuse("header ce-specversion is missing");
  if (auto type = header_value(headers, "content-type")) e.datacontenttype.assign(*type);
  if (e.datacontenttype.empty()) e.datacontenttype = "application/json";
  if (!body.empty()) {
    if (body.size() > options.max_data_bytes)
      refuse("data: " + std::to_string(body.size()) + " bytes exceeds the limit of " +
             std::to_string(options.max_data_bytes));
    try {
      ext::set_binary_data(e, body);
    } catch (const DecodeError& ex) {
      refuse(ex.what());
    }
  }
  try {
    validate(e, options);
  } catch (const DecodeError& ex) {
    refuse(ex.what());
  }
  return e;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The text of each element of a JSON array of objects; decode() checks each.
// Brackets inside strings do not count; mismatched ones are decode()'s to find.
std::vector<std::string_view> split_batch(std::string_view body) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < body.size() && is_space(body[i])) ++i;
  };
  skip();
  if (i == body.size() || body[i] != '[') refuse("the batch is not a JSON array");
  ++i;
  skip();
  if (i < body.size() && body[i] == ']') {
    ++i;
  } else {
    for (;;) {
      skip();
      const std::size_t index = out.size();
      if (i == body.size()) refuse("the batch ends before its closing ']'");
      if (body[i] != '{') refuse("batch[" + std::to_string(index) + "]: not a JSON object", index);
      const std::size_t start = i;
      std::size_t depth = 0;
      bool in_string = false;
      for (; i < body.size(); ++i) {
        char c = body[i];
        if (in_string) {
          if (c == '\\')
            ++i;
          else if (c == '"')
            in_string = false;
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
          ++i;
          break;
        }
      }
      if (depth != 0 || i > body.size()) refuse("batch[" + std::to_string(index) + "]: the object does not end", index);
      out.push_back(body.substr(start, i - start));
      skip();
      if (i == body.size()) refuse("the batch ends before its closing ']'");
      if (body[i] == ']') {
        ++i;
        break;
      }
      if (body[i] != ',') refuse("batch[" + std::to_string(index) + "]: expected ',' or ']' after it", index);
      ++i;
    }
  }
  skip();
  if (i != body.size()) refuse("text after the batch's closing ']'");
  return out;
}

}  // namespace

std::string excerpt(std::string_view text) {
  if (text.size() <= max_quoted) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, max_quoted)) + "...' (" + std::to_string(text.size()) + " bytes)";
}

std::optional<std::string_view> header_value(const HeaderFields& headers, std::string_view name) {
  std::optional<std::string_view> found;
  for (const auto& [n, v] : headers) {
    if (!iequals(n, name)) continue;
    if (found) refuse("header " + std::string(name) + " is given twice");
    found = v;
  }
  return found;
}

ParsedEvents parse_ingress(const HeaderFields& headers, std::string_view body, const DecodeOptions& options) {
  ParsedEvents parsed;
  const auto content_type = header_value(headers, "content-type");
  const std::string type = content_type ? media_type(*content_type) : std::string();
  if (type == structured_json) {
    parsed.mode = IngressMode::structured;
    parsed.events.push_back(decode_one(body, options, std::nullopt));
  } else if (type == batch_json) {
    parsed.mode = IngressMode::batch;
    auto items = split_batch(body);
    parsed.events.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      try {
        parsed.events.push_back(decode_one(items[i], options, i));
      } catch (IngressRefusal& r) {
        r.message = "batch[" + std::to_string(i) + "]: " + r.message;
        throw;
      }
    }
  } else if (type.rfind("application/cloudevents", 0) == 0) {
    refuse("content-type " + excerpt(type) + ": only the JSON event format is read (" + std::string(structured_json) +
               ", " + std::string(batch_json) + ")",
           std::nullopt, 415);
  } else if (header_value(headers, "ce-specversion")) {
    parsed.mode = IngressMode::binary;
    parsed.events.push_back(binary_event(headers, body, options));
  } else {
    refuse("not a CloudEvent: no ce-specversion header (binary mode) and content-type " +
           (content_type ? excerpt(*content_type) : std::string("absent")) + " is neither " +
           std::string(structured_json) + " nor " + std::string(batch_json));
  }
  return parsed;
}

}  // namespace herald::admin
