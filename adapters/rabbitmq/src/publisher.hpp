#pragma once
// Publishing with confirms on the publisher's own connection and thread.
// Callers hand over whole batches and either block until the broker confirmed
// every message or are called back when it did (or failed); the I/O thread
// keeps up to `confirm_window` messages in flight, and resends what was not
// confirmed when the connection comes back (at-least-once). Private to
// herald::rabbitmq.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "confirms.hpp"
#include "io_loop.hpp"
#include "topology.hpp"

namespace herald::rabbitmq {

class Publisher final : public LoopClient {
 public:
  Publisher(const Settings& settings, const Topology& topology);
  ~Publisher() override;

  /// Connects and declares the exchange. Throws TransportError / ConfigError.
  void start();
  /// Fails what is still waiting with ClosedError and stops the thread.
  void stop();

  /// Blocks until the broker confirmed every message. Throws PublishError
  /// (nack, unroutable: naming the routing key), ConfigError (a queue to
  /// declare conflicts), TimeoutError after `timeout` (naming the broker and
  /// why it is unreachable), ClosedError after stop(). Thread-safe.
  void publish(std::vector<OutMessage> messages, std::chrono::milliseconds timeout);
  /// Called once: true when the broker confirmed every message of the
  /// batch, false when one failed or `timeout` passed first (or the bus
  /// closed). Runs on the I/O thread, or on the caller's when the publisher
  /// has stopped; it must not block.
  using Done = std::function<void(bool confirmed)>;
  /// Hands the batch over and returns at once; `done` reports the outcome.
  /// Messages not sent when it fails are dropped. Thread-safe.
  void publish_async(std::vector<OutMessage> messages, std::chrono::milliseconds timeout, Done done);
  /// Waits until every message handed over so far is confirmed or failed.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  /// Messages handed over and not yet confirmed or failed.
  std::size_t outstanding() const noexcept { return outstanding_.load(); }

  // LoopClient (I/O thread)
  void on_connected(Connection& c) override;
  void on_disconnected(const std::string& why) override;
  void on_method(Connection& c, amqp_channel_t channel, const amqp_method_t& method) override;
  void on_message(Connection& c, amqp_method_number_t kind, Delivery&& message) override;
  void on_channel_closed(Connection& c, amqp_channel_t channel, const std::string& error) override;
  bool on_idle(Connection* c) override;
  bool has_work() const override;
  std::chrono::milliseconds max_sleep() const override;

 private:
  struct Batch;
  struct Slot {
    std::shared_ptr<Batch> batch;
    std::size_t index = 0;
  };

  /// Why a message failed, as data: exceptions are not handed between threads.
  struct Failure {
    ErrorCode code = ErrorCode::publish;
    std::string message;
    bool retriable = false;
    static Failure of(std::exception_ptr error);  // on the thread that caught it
    [[noreturn]] void raise() const;              // a fresh exception on the caller's thread
  };

  void settle(Unconfirmed<Slot>::Entry& p, bool ack);
  void open_confirm_channel(Connection& c);
  /// After a nack, once the channel's publishes are confirmed (or after
  /// `renew_wait`): closes the channel and publishes on a new one.
  bool renew_channel_when_drained(Connection& c);
  void finish(const Slot& slot, const Failure* failure = nullptr);
  /// Hands a batch's slots to the I/O thread (fails them when it has
  /// finished); an asynchronous one fails at `deadline`.
  void enqueue(const std::shared_ptr<Batch>& batch, std::optional<std::chrono::steady_clock::time_point> deadline);
  /// Reports an asynchronous batch's outcome.
  void complete(Batch& batch, Done done, bool confirmed);
  /// Fails the asynchronous batches whose time is up (I/O thread).
  void expire(std::chrono::steady_clock::time_point now);

  const Settings& settings_;
  const Topology& topology_;
  IoLoop loop_;

  // I/O thread only.
  amqp_channel_t channel_ = 0;
  std::deque<Slot> queue_;        // to send, in order
  Unconfirmed<Slot> unconfirmed_;  // sent, not confirmed yet
  std::set<std::string> declared_;  // queues declared on this connection
  // Asynchronous batches by deadline, until they complete or expire.
  std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<Batch>> deadlines_;
  // A nack may come from the channel's state of a quorum queue, which
  // RabbitMQ keeps per channel and does not refresh (see
  // renew_channel_when_drained): a new channel starts clean.
  bool renew_ = false;
  std::chrono::steady_clock::time_point renew_by_{};

  std::atomic<std::size_t> outstanding_{0};
  std::atomic<bool> stopped_{false};
  std::mutex idle_mutex_;
  std::condition_variable idle_cv_;
};

}  // namespace herald::rabbitmq
