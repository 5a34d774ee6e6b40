// Raw rabbitmq-c baseline; see raw_rabbitmq.hpp.
#include "raw_rabbitmq.hpp"

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
// Debian 12's librabbitmq-dev 0.11.0 still installs the flat, pre-0.11 layout
// (/usr/include/amqp.h, /usr/include/amqp_tcp_socket.h).
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif

#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace herald::bench {
namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr int kFrameMax = 131072;
constexpr long kConnectTimeoutSeconds = 10;
constexpr long kIoTimeoutSeconds = 30;  // RPCs, confirms, deliveries
constexpr const char* kContentType = "application/cloudevents+json";
constexpr const char* kBindingKey = "order.*";

using Clock = std::chrono::steady_clock;

struct ConnectionDeleter {
  void operator()(amqp_connection_state_t conn) const noexcept { amqp_destroy_connection(conn); }
};
// The TCP socket belongs to the connection and is freed with it.
using ConnectionPtr = std::unique_ptr<amqp_connection_state_t_, ConnectionDeleter>;

// rabbitmq-c never writes through these; the const_cast only satisfies its C API.
amqp_bytes_t bytes_of(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

std::string to_string(amqp_bytes_t b) {
  return b.bytes ? std::string(static_cast<const char*>(b.bytes), b.len) : std::string();
}

// "user guest at 127.0.0.1:5672 vhost '/'" -- never the password.
std::string endpoint(const RawRabbitConfig& cfg) {
  return "user " + cfg.user + " at " + cfg.host + ":" + std::to_string(cfg.port) + " vhost '" +
         cfg.vhost + "'";
}

// One connection with one channel. Opened in the constructor; closed politely in
// the destructor unless the broker or the socket already closed it.
class Session {
 public:
  explicit Session(const RawRabbitConfig& cfg) : cfg_(cfg), conn_(amqp_new_connection()) {
    if (!conn_) fail("amqp_new_connection", "out of memory");
    amqp_socket_t* socket = amqp_tcp_socket_new(conn_.get());
    if (!socket) fail("amqp_tcp_socket_new", "out of memory");

    timeval connect_timeout{kConnectTimeoutSeconds, 0};
    const int rc = amqp_socket_open_noblock(socket, cfg_.host.c_str(), cfg_.port, &connect_timeout);
    if (rc != AMQP_STATUS_OK) {
      fail("connect", std::string(amqp_error_string2(rc)) + " (is the broker running? try scripts/brokers/rabbitmq start)");
    }
    timeval io_timeout{kIoTimeoutSeconds, 0};
    amqp_set_handshake_timeout(conn_.get(), &io_timeout);
    amqp_set_rpc_timeout(conn_.get(), &io_timeout);

    check(amqp_login(conn_.get(), cfg_.vhost.c_str(), 0, kFrameMax, /*heartbeat=*/0,
                     AMQP_SASL_METHOD_PLAIN, cfg_.user.c_str(), cfg_.password.c_str()),
          "login");
    connection_open_ = true;
    amqp_channel_open(conn_.get(), kChannel);
    check(amqp_get_rpc_reply(conn_.get()), "channel.open");
    channel_open_ = true;
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  ~Session() {
    // Best effort: a failure to close cleanly must not hide the real error.
    if (channel_open_) {
      const amqp_rpc_reply_t r = amqp_channel_close(conn_.get(), kChannel, AMQP_REPLY_SUCCESS);
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) connection_open_ = false;
    }
    if (connection_open_) amqp_connection_close(conn_.get(), AMQP_REPLY_SUCCESS);
  }

  amqp_connection_state_t get() const { return conn_.get(); }

  // Throws unless `reply` is a normal reply, after tidying up protocol state.
  void check(const amqp_rpc_reply_t& reply, const std::string& what) {
    switch (reply.reply_type) {
      case AMQP_RESPONSE_NORMAL:
        return;
      case AMQP_RESPONSE_NONE:
        fail(what, "no RPC reply from the broker");
      case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        // Socket errors, timeouts, protocol errors: the connection is unusable.
        channel_open_ = connection_open_ = false;
        fail(what, amqp_error_string2(reply.library_error));
      case AMQP_RESPONSE_SERVER_EXCEPTION:
        fail(what, handle_server_method(reply.reply.id, reply.reply.decoded));
    }
    fail(what, "unknown rabbitmq-c reply type");
  }

  // For asynchronous methods arriving outside an RPC (confirm and consume loops):
  // returns normally for methods the caller may ignore, throws on channel or
  // connection close.
  void handle_async_method(const amqp_method_t& method, const std::string& what) {
    if (method.id == AMQP_CHANNEL_CLOSE_METHOD || method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      fail(what, handle_server_method(method.id, method.decoded));
    }
  }

  // After amqp_consume_message reported AMQP_STATUS_UNEXPECTED_STATE: a
  // method other than basic.deliver is waiting. Reads it and acts on it.
  void handle_waiting_method(const std::string& what) {
    amqp_frame_t frame;
    timeval frame_timeout{kIoTimeoutSeconds, 0};
    const int rc = amqp_simple_wait_frame_noblock(conn_.get(), &frame, &frame_timeout);
    if (rc != AMQP_STATUS_OK) fail_status(what, rc);
    if (frame.frame_type == AMQP_FRAME_METHOD) handle_async_method(frame.payload.method, what);
  }

  // Library-level failure outside an RPC (amqp_basic_publish, wait_frame, ...).
  [[noreturn]] void fail_status(const std::string& what, int status) {
    channel_open_ = connection_open_ = false;
    fail(what, amqp_error_string2(status));
  }

  [[noreturn]] void fail(const std::string& what, const std::string& why) const {
    throw std::runtime_error("raw_rabbitmq: " + what + " failed (" + endpoint(cfg_) + "): " + why);
  }

 private:
  // Answers a broker-initiated close and describes it.
  std::string handle_server_method(amqp_method_number_t id, void* decoded) {
    if (id == AMQP_CHANNEL_CLOSE_METHOD) {
      const auto* m = static_cast<const amqp_channel_close_t*>(decoded);
      const std::string text = m ? to_string(m->reply_text) : std::string();
      const int code = m ? m->reply_code : 0;
      amqp_channel_close_ok_t ok{};
      amqp_send_method(conn_.get(), kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      channel_open_ = false;
      return "broker closed the channel: " + std::to_string(code) + " " + text;
    }
    if (id == AMQP_CONNECTION_CLOSE_METHOD) {
      const auto* m = static_cast<const amqp_connection_close_t*>(decoded);
      const std::string text = m ? to_string(m->reply_text) : std::string();
      const int code = m ? m->reply_code : 0;
      amqp_connection_close_ok_t ok{};
      amqp_send_method(conn_.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      channel_open_ = connection_open_ = false;
      return "broker closed the connection: " + std::to_string(code) + " " + text;
    }
    return "unexpected method " + std::string(amqp_method_name(id));
  }

  const RawRabbitConfig& cfg_;
  ConnectionPtr conn_;  // declared first among the handles: destroyed last
  bool connection_open_ = false;
  bool channel_open_ = false;
};

// Tracks which delivery tags (1-based, in publish order on a fresh confirm
// channel) the broker has confirmed. Handles single and multiple acks.
class ConfirmTracker {
 public:
  explicit ConfirmTracker(std::size_t total) : confirmed_flags_(total + 1, 0) {}

  void published() { ++published_; }
  std::uint64_t in_flight() const { return published_ - confirmed_; }

  // Returns false if the tag is not one we are waiting for.
  bool ack(std::uint64_t tag, bool multiple) {
    if (multiple && tag == 0) tag = published_;  // "all outstanding"
    if (tag == 0 || tag > published_) return false;
    if (multiple) {
      for (std::uint64_t t = lowest_; t <= tag; ++t) mark(t);
    } else {
      mark(tag);
    }
    while (lowest_ <= published_ && confirmed_flags_[lowest_]) ++lowest_;
    return true;
  }

 private:
  void mark(std::uint64_t tag) {
    if (!confirmed_flags_[tag]) {
      confirmed_flags_[tag] = 1;
      ++confirmed_;
    }
  }

  std::vector<char> confirmed_flags_;
  std::uint64_t published_ = 0;
  std::uint64_t confirmed_ = 0;
  std::uint64_t lowest_ = 1;  // lowest tag not yet confirmed
};

// Blocks for the next frame and applies it to the tracker.
void await_confirm(Session& session, ConfirmTracker& tracker, const std::vector<std::string>& ids) {
  amqp_connection_state_t conn = session.get();
  amqp_frame_t frame;
  timeval timeout{kIoTimeoutSeconds, 0};
  const int rc = amqp_simple_wait_frame_noblock(conn, &frame, &timeout);
  if (rc == AMQP_STATUS_TIMEOUT) {
    session.fail("waiting for publisher confirms",
                 "none arrived within " + std::to_string(kIoTimeoutSeconds) + "s (" +
                     std::to_string(tracker.in_flight()) + " unconfirmed)");
  }
  if (rc != AMQP_STATUS_OK) session.fail_status("waiting for publisher confirms", rc);

  if (frame.frame_type == AMQP_FRAME_METHOD) {
    const amqp_method_t& method = frame.payload.method;
    if (method.id == AMQP_BASIC_ACK_METHOD) {
      const auto* ack = static_cast<const amqp_basic_ack_t*>(method.decoded);
      if (!tracker.ack(ack->delivery_tag, ack->multiple != 0)) {
        session.fail("publisher confirms",
                     "ack for unknown delivery tag " + std::to_string(ack->delivery_tag));
      }
    } else if (method.id == AMQP_BASIC_NACK_METHOD) {
      const auto* nack = static_cast<const amqp_basic_nack_t*>(method.decoded);
      const std::uint64_t tag = nack->delivery_tag;
      const std::string id = (tag >= 1 && tag <= ids.size()) ? ids[tag - 1] : std::string("?");
      session.fail("publish", "broker nacked delivery tag " + std::to_string(tag) +
                                  (nack->multiple ? " (and earlier)" : "") + ", message_id " + id);
    } else {
      session.handle_async_method(method, "waiting for publisher confirms");
    }
  }
  amqp_maybe_release_buffers(conn);
}

}  // namespace

void raw_rabbitmq_prepare(const RawRabbitConfig& cfg) {
  Session session(cfg);
  amqp_connection_state_t conn = session.get();

  amqp_exchange_declare(conn, kChannel, bytes_of(cfg.exchange), amqp_cstring_bytes("topic"),
                        /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                        amqp_empty_table);
  session.check(amqp_get_rpc_reply(conn), "declaring exchange '" + cfg.exchange + "'");

  amqp_queue_declare(conn, kChannel, bytes_of(cfg.queue), /*passive=*/0, /*durable=*/1,
                     /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
  session.check(amqp_get_rpc_reply(conn), "declaring queue '" + cfg.queue + "'");

  amqp_queue_bind(conn, kChannel, bytes_of(cfg.queue), bytes_of(cfg.exchange),
                  amqp_cstring_bytes(kBindingKey), amqp_empty_table);
  session.check(amqp_get_rpc_reply(conn), "binding queue '" + cfg.queue + "' to exchange '" +
                                              cfg.exchange + "' with '" + kBindingKey + "'");

  amqp_queue_purge(conn, kChannel, bytes_of(cfg.queue));
  session.check(amqp_get_rpc_reply(conn), "purging queue '" + cfg.queue + "'");
}

RawRate raw_rabbitmq_publish(const RawRabbitConfig& cfg, const std::vector<std::string>& bodies,
                             const std::vector<std::string>& routing_keys,
                             const std::vector<std::string>& ids) {
  if (routing_keys.size() != bodies.size() || ids.size() != bodies.size()) {
    throw std::invalid_argument("raw_rabbitmq_publish: bodies, routing_keys and ids must have the same size");
  }
  if (cfg.confirm_window < 1) throw std::invalid_argument("raw_rabbitmq_publish: confirm_window must be >= 1");
  if (bodies.empty()) return {};

  Session session(cfg);
  amqp_connection_state_t conn = session.get();
  amqp_confirm_select(conn, kChannel);
  session.check(amqp_get_rpc_reply(conn), "confirm.select");

  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
  props.content_type = amqp_cstring_bytes(kContentType);
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  const amqp_bytes_t exchange = bytes_of(cfg.exchange);
  const auto window = static_cast<std::uint64_t>(cfg.confirm_window);

  ConfirmTracker tracker(bodies.size());
  const auto start = Clock::now();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    while (tracker.in_flight() >= window) await_confirm(session, tracker, ids);
    props.message_id = bytes_of(ids[i]);
    const int rc = amqp_basic_publish(conn, kChannel, exchange, bytes_of(routing_keys[i]),
                                      /*mandatory=*/0, /*immediate=*/0, &props, bytes_of(bodies[i]));
    if (rc != AMQP_STATUS_OK) {
      session.fail_status("publishing message " + std::to_string(i) + " (message_id " + ids[i] + ")", rc);
    }
    tracker.published();
  }
  while (tracker.in_flight() > 0) await_confirm(session, tracker, ids);
  const auto end = Clock::now();

  return RawRate{bodies.size(), std::chrono::duration<double>(end - start).count()};
}

RawRate raw_rabbitmq_consume(const RawRabbitConfig& cfg, std::size_t count) {
  if (cfg.prefetch < 0 || cfg.prefetch > 65535) {
    throw std::invalid_argument("raw_rabbitmq_consume: prefetch must be in 0..65535");
  }
  if (cfg.ack_batch < 1) throw std::invalid_argument("raw_rabbitmq_consume: ack_batch must be >= 1");
  if (count == 0) return {};

  Session session(cfg);
  amqp_connection_state_t conn = session.get();
  amqp_basic_qos(conn, kChannel, 0, static_cast<std::uint16_t>(cfg.prefetch), /*global=*/0);
  session.check(amqp_get_rpc_reply(conn), "basic.qos");
  amqp_basic_consume(conn, kChannel, bytes_of(cfg.queue), amqp_empty_bytes, /*no_local=*/0,
                     /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  session.check(amqp_get_rpc_reply(conn), "consuming from queue '" + cfg.queue + "'");

  const auto ack_batch = static_cast<std::size_t>(cfg.ack_batch);
  std::size_t received = 0;
  std::size_t unacked = 0;
  std::uint64_t last_tag = 0;
  Clock::time_point first{}, last{};

  while (received < count) {
    amqp_maybe_release_buffers(conn);
    amqp_envelope_t envelope;
    timeval timeout{kIoTimeoutSeconds, 0};
    const amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &timeout, 0);

    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      if (received == 0 && cfg.on_first_message) cfg.on_first_message();
      last = Clock::now();
      if (received == 0) first = last;
      ++received;
      ++unacked;
      last_tag = envelope.delivery_tag;
      amqp_destroy_envelope(&envelope);
      if (unacked >= ack_batch) {
        const int rc = amqp_basic_ack(conn, kChannel, last_tag, /*multiple=*/1);
        if (rc != AMQP_STATUS_OK) session.fail_status("basic.ack", rc);
        unacked = 0;
      }
      continue;
    }

    const std::string what = "waiting for message " + std::to_string(received + 1) + " of " +
                             std::to_string(count) + " from queue '" + cfg.queue + "'";
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_TIMEOUT) {
      session.fail(what, "nothing delivered within " + std::to_string(kIoTimeoutSeconds) +
                             "s (does the queue hold that many messages?)");
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      session.handle_waiting_method(what);
      continue;
    }
    session.check(reply, what);
  }

  if (cfg.on_last_message) cfg.on_last_message();
  if (unacked > 0) {
    const int rc = amqp_basic_ack(conn, kChannel, last_tag, /*multiple=*/1);
    if (rc != AMQP_STATUS_OK) session.fail_status("basic.ack", rc);
  }
  return RawRate{received, std::chrono::duration<double>(last - first).count()};
}

namespace {

// The consumer side of raw_rabbitmq_latency: one sample per delivery, the
// time since the stamp in the body's first eight bytes.
class LatencyConsumer {
 public:
  LatencyConsumer(const RawRabbitConfig& cfg, std::size_t expected) : cfg_(cfg), expected_(expected) {
    thread_ = std::thread([this] {
      try {
        run();
      } catch (...) {
        error_ = std::current_exception();  // rethrown by finish(): nothing escapes the thread
      }
      ready_.store(true);
      received_.store(expected_ + 1);  // wakes a waiting publisher; finish() reports the error
    });
  }
  LatencyConsumer(const LatencyConsumer&) = delete;
  LatencyConsumer& operator=(const LatencyConsumer&) = delete;
  ~LatencyConsumer() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  // Waits (up to a deadline) for `pred` over the count received so far.
  template <class Pred>
  void wait(Pred pred, const char* what) {
    const auto deadline = Clock::now() + std::chrono::seconds(kIoTimeoutSeconds);
    while (!pred(received_.load())) {
      if (Clock::now() > deadline) throw std::runtime_error(std::string("raw_rabbitmq latency: ") + what);
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // polling a counter with a deadline
    }
  }
  bool ready() const { return ready_.load(); }

  std::vector<double> finish() {
    wait([&](std::size_t n) { return n >= expected_; }, "not every message was delivered");
    stop_.store(true);
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    std::lock_guard lock(mutex_);
    return std::move(samples_);
  }

 private:
  void run() {
    Session session(cfg_);
    amqp_connection_state_t conn = session.get();
    amqp_basic_qos(conn, kChannel, 0, static_cast<std::uint16_t>(cfg_.prefetch), 0);
    session.check(amqp_get_rpc_reply(conn), "basic.qos");
    amqp_basic_consume(conn, kChannel, bytes_of(cfg_.queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    session.check(amqp_get_rpc_reply(conn), "consuming from queue '" + cfg_.queue + "'");
    ready_.store(true);
    while (!stop_.load() && received_.load() < expected_) {
      amqp_maybe_release_buffers(conn);
      amqp_envelope_t envelope;
      timeval timeout{0, 100'000};  // to look at stop_ now and then
      const amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &timeout, 0);
      if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        const auto now = Clock::now().time_since_epoch().count();
        std::int64_t sent = 0;
        if (envelope.message.body.len >= sizeof sent) std::memcpy(&sent, envelope.message.body.bytes, sizeof sent);
        {
          std::lock_guard lock(mutex_);
          samples_.push_back(std::chrono::duration<double, std::micro>(Clock::duration(now - sent)).count());
        }
        const int rc = amqp_basic_ack(conn, kChannel, envelope.delivery_tag, 0);
        amqp_destroy_envelope(&envelope);
        if (rc != AMQP_STATUS_OK) session.fail_status("basic.ack", rc);
        received_.fetch_add(1);
        continue;
      }
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) continue;
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        session.handle_waiting_method("latency consumer");
        continue;
      }
      session.check(reply, "latency consumer");
    }
  }

  const RawRabbitConfig& cfg_;
  const std::size_t expected_;
  std::atomic<bool> stop_{false}, ready_{false};
  std::atomic<std::size_t> received_{0};
  std::mutex mutex_;
  std::vector<double> samples_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace

RawLatency raw_rabbitmq_latency(const RawRabbitConfig& cfg, double rate, double seconds) {
  const LatencySchedule schedule(rate, seconds);
  raw_rabbitmq_prepare(cfg);
  LatencyConsumer consumer(cfg, schedule.total());
  consumer.wait([&](std::size_t) { return consumer.ready(); }, "the consumer did not start");

  Session session(cfg);
  amqp_connection_state_t conn = session.get();
  amqp_confirm_select(conn, kChannel);
  session.check(amqp_get_rpc_reply(conn), "confirm.select");
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/octet-stream");
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  const amqp_bytes_t exchange = bytes_of(cfg.exchange);
  const amqp_bytes_t key = amqp_cstring_bytes("order.created");
  std::string body(300, 'x');  // about herald's latency event on the wire
  const std::vector<std::string> no_ids;
  ConfirmTracker tracker(schedule.total());
  const auto window = static_cast<std::uint64_t>(std::max(1, cfg.confirm_window));
  auto publish = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      while (tracker.in_flight() >= window) await_confirm(session, tracker, no_ids);
      const std::int64_t now = Clock::now().time_since_epoch().count();
      std::memcpy(body.data(), &now, sizeof now);
      const int rc = amqp_basic_publish(conn, kChannel, exchange, key, 0, 0, &props, bytes_of(body));
      if (rc != AMQP_STATUS_OK) session.fail_status("latency publish", rc);
      tracker.published();
    }
  };
  publish(LatencySchedule::warm_up);
  consumer.wait([&](std::size_t n) { return n >= LatencySchedule::warm_up; }, "the warm-up was not delivered");
  const double achieved = schedule.run(publish);
  while (tracker.in_flight() > 0) await_confirm(session, tracker, no_ids);
  return schedule.result(consumer.finish(), achieved);
}

}  // namespace herald::bench
