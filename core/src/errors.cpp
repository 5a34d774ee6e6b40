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
  }
  return "unknown";
}

}  // namespace herald
