#pragma once
// The thread that owns one AMQP connection. Everything that touches the
// connection runs here: frames are read and assembled into messages, posted
// tasks run, and a lost connection is re-opened with backoff. Private to
// herald::rabbitmq.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "message.hpp"
#include "settings.hpp"

namespace herald::rabbitmq {

/// What an I/O loop drives (publisher, consumer, admin). Every callback runs
/// on the loop's thread.
class LoopClient {
 public:
  virtual ~LoopClient() = default;
  /// A new connection is up: open channels, declare, resume. Throwing makes
  /// the loop drop the connection and try again later.
  virtual void on_connected(Connection& connection) = 0;
  /// The connection is gone; `why` names the cause (never a password).
  virtual void on_disconnected(const std::string& why) = 0;
  /// A method other than content (basic.ack, basic.nack, basic.cancel, ...).
  virtual void on_method(Connection&, amqp_channel_t, const amqp_method_t&) {}
  /// A complete content message (`kind`: AMQP_BASIC_DELIVER_METHOD or AMQP_BASIC_RETURN_METHOD).
  virtual void on_message(Connection&, amqp_method_number_t kind, Delivery&& message) = 0;
  /// The frames available right now have been handled (deliveries may be handed on in one go).
  virtual void on_frames_done() {}
  /// The broker closed a channel outside an RPC; `error` says why.
  virtual void on_channel_closed(Connection&, amqp_channel_t, const std::string& /*error*/) {}
  /// Work that is not a posted task (sending queued publishes, acks). Returns
  /// true when it did something.
  virtual bool on_idle(Connection*) { return false; }
  /// Whether on_idle has something to do right now (checked before sleeping).
  virtual bool has_work() const { return false; }
  /// Longest sleep while nothing happens (work that may wait a little, like acks).
  virtual std::chrono::milliseconds max_sleep() const { return std::chrono::milliseconds(200); }
};

class IoLoop {
 public:
  using Task = std::function<void(Connection*)>;

  IoLoop(std::string role, const Settings& settings, LoopClient& client);
  /// Stops and joins.
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  /// Starts the thread and waits for the first connection. Throws its error
  /// (TransportError, ConfigError) and leaves nothing running when it fails.
  void start();
  /// Runs `task` on the I/O thread, with the connection or nullptr while
  /// disconnected. Thread-safe.
  void post(Task task);
  /// Runs `fn` on the I/O thread and returns its result; rethrows what it
  /// threw. Must not be called from the I/O thread.
  template <class R>
  R call(std::function<R(Connection*)> fn) {
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    post([promise, fn = std::move(fn)](Connection* c) {
      try {
        if constexpr (std::is_void_v<R>) {
          fn(c);
          promise->set_value();
        } else {
          promise->set_value(fn(c));
        }
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    });
    return future.get();
  }
  /// Makes the loop call on_idle soon. Thread-safe and cheap when the loop is awake.
  void wake() noexcept;
  /// wake(), but only when the loop sleeps for longer than `at_most`.
  void nudge(std::chrono::milliseconds at_most) noexcept {
    if (sleep_ms_.load(std::memory_order_relaxed) > at_most.count()) wake();
  }
  /// Runs the remaining tasks, closes the connection and joins. Idempotent.
  void stop();

  bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }
  bool on_loop_thread() const noexcept { return std::this_thread::get_id() == thread_id_.load(); }
  /// Why the last connection attempt failed or the connection was lost ("" when none).
  std::string last_error() const;
  /// Successful connections so far (1 after start; +1 per reconnect).
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  void run();
  bool try_connect();
  void drop_connection(const std::string& why);
  bool run_tasks();
  bool read_frames();
  void handle_frame(amqp_frame_t& frame);
  void sleep_until_woken(std::chrono::milliseconds timeout);
  void set_error(const std::string& why);

  std::string role_;
  bool reconnecting_ = false;  // the connection was lost: say so when it is back
  const Settings& settings_;
  LoopClient& client_;

  std::unique_ptr<Connection> connection_;
  // Content being assembled per channel (method, then header, then body frames).
  struct Partial {
    amqp_method_number_t kind = 0;  // 0: nothing in progress
    Delivery message;
    std::uint64_t body_size = 0;
    bool have_header = false;
  };
  std::vector<Partial> partial_;  // by channel number (a handful; no allocation per message)
  Partial& partial(amqp_channel_t channel) {
    if (channel >= partial_.size()) partial_.resize(channel + 1u);
    return partial_[channel];
  }

  int wake_fd_ = -1;
  std::atomic<bool> sleeping_{false};
  std::atomic<long long> sleep_ms_{0};  // timeout of the current sleep
  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;
  std::atomic<bool> has_tasks_{false};
  bool stopped_ = false;  // guarded by tasks_mutex_: the thread has finished

  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::thread::id> thread_id_{};
  mutable std::mutex error_mutex_;
  std::string last_error_;

  std::size_t next_host_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_attempt_{};

  // First connection handshake with start().
  std::mutex start_mutex_;
  std::condition_variable start_cv_;
  bool first_done_ = false;
  std::exception_ptr first_error_;

  std::thread thread_;
};

}  // namespace herald::rabbitmq
