#pragma once
// One AMQP connection: socket (TCP or TLS), login, channels, and rabbitmq-c
// replies turned into herald errors. Not thread-safe: each connection belongs
// to one I/O thread (see io_loop.hpp). Private to herald::rabbitmq.

#include <memory>
#include <set>
#include <string>

#include "amqp.hpp"
#include "herald/errors.hpp"
#include "settings.hpp"

namespace herald::rabbitmq {

/// The connection is unusable (socket error, heartbeat timeout, the broker
/// closed it). The I/O loop reconnects.
class ConnectionLost : public TransportError {
 public:
  using TransportError::TransportError;
};

class Connection {
 public:
  /// Connects to `settings.endpoint.hosts[host_index]` and logs in; `role`
  /// names the connection in the broker's UI ("herald publisher"). Throws
  /// TransportError when unreachable, ConfigError when login is refused.
  Connection(const Settings& settings, std::size_t host_index, const std::string& role);
  /// Closes politely when still open.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  amqp_connection_state_t get() const noexcept { return state_.get(); }
  int sockfd() const noexcept;
  bool usable() const noexcept { return usable_; }
  /// "amqp://guest:***@127.0.0.1:5672/": where this connection goes, without the password.
  const std::string& where() const noexcept { return where_; }

  /// A fresh channel number (never reused on this connection).
  amqp_channel_t next_channel();
  void open_channel(amqp_channel_t channel);
  /// Best effort; a broken connection is left to the destructor.
  void close_channel(amqp_channel_t channel) noexcept;
  bool channel_open(amqp_channel_t channel) const { return open_channels_.count(channel) > 0; }

  /// Throws unless `reply` is normal. A channel the broker closed raises
  /// ConfigError (403, 405, 406: access, lock, conflicting declaration),
  /// NotFoundError (404) or TransportError, and stays closed; anything that
  /// breaks the connection raises ConnectionLost.
  void check(const amqp_rpc_reply_t& reply, amqp_channel_t channel, const std::string& what);
  /// For functions returning a library status (publish, ack): ConnectionLost unless OK.
  void check_status(int status, const std::string& what);
  /// A channel.close or connection.close that arrived outside an RPC: answers
  /// it and throws like check().
  [[noreturn]] void on_close_method(const amqp_method_t& method, amqp_channel_t channel, const std::string& what);
  /// For the I/O loop: the connection died.
  [[noreturn]] void lost(const std::string& what, const std::string& why);

 private:
  struct StateDeleter {
    void operator()(amqp_connection_state_t s) const noexcept { amqp_destroy_connection(s); }
  };
  [[noreturn]] void server_close(amqp_method_number_t id, const void* decoded, amqp_channel_t channel,
                                 const std::string& what);

  std::unique_ptr<amqp_connection_state_t_, StateDeleter> state_;
  std::string where_;
  bool usable_ = false;
  amqp_channel_t last_channel_ = 0;
  std::set<amqp_channel_t> open_channels_;
};

/// rabbitmq-c's text for a status, with errno for socket errors.
std::string status_text(int status);

}  // namespace herald::rabbitmq
