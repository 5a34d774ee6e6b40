#include "herald/errors.hpp"

namespace herald {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::config: return "config";
    case ErrorCode::decode: return "decode";
    case ErrorCode::publish: return "publish";
    case ErrorCode::transport: return "transport";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::closed: return "closed";
    case ErrorCode::store: return "store";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::handler: return "handler";
    case ErrorCode::schema: return "schema";
  }
  return "unknown";
}

std::string printable(std::string_view text, std::size_t max) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max) return out + "...";
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out.append({'\\', 'x', hex[c >> 4], hex[c & 15]});
  }
  return out;
}

}  // namespace herald
