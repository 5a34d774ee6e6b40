#pragma once
// The one place that includes rabbitmq-c, plus conversions between its byte
// views and std::string. Private to herald::rabbitmq.

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/ssl_socket.h>
#include <rabbitmq-c/tcp_socket.h>
#else
// Debian 12's librabbitmq-dev 0.11.0 installs the flat, pre-0.12 layout.
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#endif

#include <string>
#include <string_view>

namespace herald::rabbitmq {

/// A view for rabbitmq-c, which never writes through it (its C API is not const-correct).
inline amqp_bytes_t bytes_of(std::string_view s) noexcept {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

inline std::string to_string(amqp_bytes_t b) {
  return b.bytes ? std::string(static_cast<const char*>(b.bytes), b.len) : std::string();
}

inline std::string_view to_view(amqp_bytes_t b) noexcept {
  return b.bytes ? std::string_view(static_cast<const char*>(b.bytes), b.len) : std::string_view();
}

/// AMQP reply codes herald branches on.
inline constexpr int reply_not_found = 404;
inline constexpr int reply_access_refused = 403;
inline constexpr int reply_precondition_failed = 406;
inline constexpr int reply_resource_locked = 405;

}  // namespace herald::rabbitmq
