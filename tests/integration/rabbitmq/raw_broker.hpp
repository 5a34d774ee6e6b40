#pragma once
// Test support: a plain rabbitmq-c connection for looking at (and tampering
// with) the broker behind herald's back. Throws std::runtime_error with the
// broker's reason on any failure. Not thread-safe.

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "test_options.hpp"

namespace herald::test {

class RawBroker {
 public:
  using Value = std::variant<std::string, long long>;
  using Table = std::vector<std::pair<std::string, Value>>;

  struct Message {
    std::string routing_key;
    std::string body;
    std::string message_id;
    std::string content_type;
    bool redelivered = false;
    std::map<std::string, std::string> headers;  // strings and integers, as text
  };

  explicit RawBroker(const std::string& url = amqp_url()) : conn_(amqp_new_connection()) {
    Url u = Url::parse(url);
    amqp_socket_t* socket = amqp_tcp_socket_new(conn_.get());
    if (!socket || amqp_socket_open(socket, u.host.c_str(), u.port ? u.port : 5672) != AMQP_STATUS_OK)
      throw std::runtime_error("raw broker: cannot connect to " + redact_url(url));
    check(amqp_login(conn_.get(), u.path.empty() ? "/" : u.path.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                     u.user.c_str(), u.password.c_str()),
          "login");
    open_channel();
  }
  ~RawBroker() {
    amqp_channel_close(conn_.get(), channel_, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_.get(), AMQP_REPLY_SUCCESS);
  }
  RawBroker(const RawBroker&) = delete;
  RawBroker& operator=(const RawBroker&) = delete;

  /// Ready messages in `queue`, or nullopt when it does not exist.
  std::optional<std::uint32_t> count(const std::string& queue) {
    auto* ok = amqp_queue_declare(conn_.get(), channel_, bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn_.get());
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      reopen_after_close();
      return std::nullopt;
    }
    check(r, "checking queue " + queue);
    return ok->message_count;
  }

  /// The broker's answer to a passive declare of `queue`: 0 when it exists
  /// and this connection may use it, else the reply code that closed the
  /// channel (404: no such queue, 405: another connection holds it exclusively).
  int passive_declare_code(const std::string& queue) {
    amqp_queue_declare(conn_.get(), channel_, bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn_.get());
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      const int code = static_cast<const amqp_channel_close_t*>(r.reply.decoded)->reply_code;
      reopen_after_close();
      return code;
    }
    check(r, "checking queue " + queue);
    return 0;
  }

  void declare_queue(const std::string& name, const Table& arguments = {}) {
    Encoded args(arguments);
    amqp_queue_declare(conn_.get(), channel_, bytes(name), 0, 1, 0, 0, args.table());
    check(amqp_get_rpc_reply(conn_.get()), "declaring queue " + name);
  }
  void bind(const std::string& queue, const std::string& exchange, const std::string& key) {
    amqp_queue_bind(conn_.get(), channel_, bytes(queue), bytes(exchange), bytes(key), amqp_empty_table);
    check(amqp_get_rpc_reply(conn_.get()), "binding " + queue);
  }
  void delete_queue(const std::string& name) {
    amqp_queue_delete(conn_.get(), channel_, bytes(name), 0, 0);
    check(amqp_get_rpc_reply(conn_.get()), "deleting queue " + name);
  }
  void delete_exchange(const std::string& name) {
    amqp_exchange_delete(conn_.get(), channel_, bytes(name), 0);
    check(amqp_get_rpc_reply(conn_.get()), "deleting exchange " + name);
  }

  /// Publishes and waits for the broker's confirm.
  void publish(const std::string& exchange, const std::string& routing_key, const std::string& body,
               const Table& headers = {}, const std::string& message_id = {}) {
    if (!confirming_) {
      amqp_confirm_select(conn_.get(), channel_);
      check(amqp_get_rpc_reply(conn_.get()), "confirm.select");
      confirming_ = true;
    }
    Encoded h(headers);
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.content_type = amqp_cstring_bytes("application/cloudevents+json");
    if (!headers.empty()) {
      props._flags |= AMQP_BASIC_HEADERS_FLAG;
      props.headers = h.table();
    }
    if (!message_id.empty()) {
      props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
      props.message_id = bytes(message_id);
    }
    if (amqp_basic_publish(conn_.get(), channel_, bytes(exchange), bytes(routing_key), 0, 0, &props, bytes(body)) !=
        AMQP_STATUS_OK)
      throw std::runtime_error("raw broker: publish failed");
    amqp_frame_t frame;
    while (true) {
      timeval timeout{10, 0};
      if (amqp_simple_wait_frame_noblock(conn_.get(), &frame, &timeout) != AMQP_STATUS_OK)
        throw std::runtime_error("raw broker: no confirm");
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) break;
      if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) throw std::runtime_error("raw broker: publish nacked");
    }
    amqp_maybe_release_buffers(conn_.get());
  }

  /// basic.get; acks it unless `ack` is false (then it stays unacked until
  /// the channel closes: see requeue_unacked()).
  std::optional<Message> get(const std::string& queue, bool ack = true) {
    amqp_rpc_reply_t r = amqp_basic_get(conn_.get(), channel_, bytes(queue), 0);
    check(r, "basic.get " + queue);
    if (r.reply.id != AMQP_BASIC_GET_OK_METHOD) return std::nullopt;
    const auto* ok = static_cast<const amqp_basic_get_ok_t*>(r.reply.decoded);
    Message m;
    std::uint64_t tag = ok->delivery_tag;
    m.redelivered = ok->redelivered;
    m.routing_key = str(ok->routing_key);
    amqp_message_t msg;
    check(amqp_read_message(conn_.get(), channel_, &msg, 0), "reading message");
    m.body = str(msg.body);
    if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) m.message_id = str(msg.properties.message_id);
    if (msg.properties._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) m.content_type = str(msg.properties.content_type);
    if (msg.properties._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < msg.properties.headers.num_entries; ++i) {
        const auto& e = msg.properties.headers.entries[i];
        const auto& v = e.value;
        if (v.kind == AMQP_FIELD_KIND_UTF8 || v.kind == AMQP_FIELD_KIND_BYTES)
          m.headers[str(e.key)] = str(v.value.bytes);
        else if (v.kind == AMQP_FIELD_KIND_I64)
          m.headers[str(e.key)] = std::to_string(v.value.i64);
        else if (v.kind == AMQP_FIELD_KIND_I32)
          m.headers[str(e.key)] = std::to_string(v.value.i32);
      }
    }
    amqp_destroy_message(&msg);
    if (ack) amqp_basic_ack(conn_.get(), channel_, tag, 0);
    amqp_maybe_release_buffers(conn_.get());
    return m;
  }

  /// Closes the channel: unacked messages go back to their queues, redelivered.
  void requeue_unacked() {
    amqp_channel_close(conn_.get(), channel_, AMQP_REPLY_SUCCESS);
    ++channel_;
    open_channel();
  }

 private:
  struct Deleter {
    void operator()(amqp_connection_state_t c) const noexcept { amqp_destroy_connection(c); }
  };
  // A table whose entries point into `values`.
  class Encoded {
   public:
    explicit Encoded(const Table& t) : source_(t) {
      for (const auto& [k, v] : source_) {
        amqp_table_entry_t e{};
        e.key = bytes(k);
        if (const auto* s = std::get_if<std::string>(&v)) {
          e.value.kind = AMQP_FIELD_KIND_UTF8;
          e.value.value.bytes = bytes(*s);
        } else {
          e.value.kind = AMQP_FIELD_KIND_I64;
          e.value.value.i64 = std::get<long long>(v);
        }
        entries_.push_back(e);
      }
    }
    amqp_table_t table() { return amqp_table_t{static_cast<int>(entries_.size()), entries_.data()}; }

   private:
    const Table& source_;
    std::vector<amqp_table_entry_t> entries_;
  };

  static amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }
  static std::string str(amqp_bytes_t b) { return b.bytes ? std::string(static_cast<char*>(b.bytes), b.len) : ""; }

  void open_channel() {
    amqp_channel_open(conn_.get(), channel_);
    check(amqp_get_rpc_reply(conn_.get()), "channel.open");
    confirming_ = false;
  }
  void reopen_after_close() {
    amqp_channel_close_ok_t ok{};
    amqp_send_method(conn_.get(), channel_, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    ++channel_;
    open_channel();
  }
  void check(const amqp_rpc_reply_t& r, const std::string& what) {
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
    std::string why = "failed";
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      const auto* m = static_cast<const amqp_channel_close_t*>(r.reply.decoded);
      why = std::to_string(m->reply_code) + " " + str(m->reply_text);
      reopen_after_close();
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      why = amqp_error_string2(r.library_error);
    }
    throw std::runtime_error("raw broker: " + what + ": " + why);
  }

  std::unique_ptr<amqp_connection_state_t_, Deleter> conn_;
  amqp_channel_t channel_ = 1;
  bool confirming_ = false;
};

/// Options isolating a test on the shared broker: its own exchange, queues
/// named `herald.it.<group>`, deleted by the broker some minutes later
/// (dead-letter and delay queues too).
inline BusConfig isolated_config(const std::string& ns, const std::map<std::string, std::string>& extra = {}) {
  BusConfig c = BusConfig::from_url(amqp_url());
  c.options["exchange"] = "herald.it." + ns;
  c.options["queue_prefix"] = "herald.it.";
  c.options["queue_expires"] = "10m";
  c.options["dead_letter_expires"] = "10m";
  for (const auto& [k, v] : extra) c.options[k] = v;
  return c;
}

/// Whether publishing `type` finds no queue (the bus has unroutable=error):
/// how the ephemeral tests see that a queue is gone.
inline bool unroutable(EventBus& bus, const std::string& type) {
  try {
    bus.publish(Envelope::make(type, {}));
    return false;
  } catch (const PublishError&) {
    return true;
  }
}

}  // namespace herald::test
