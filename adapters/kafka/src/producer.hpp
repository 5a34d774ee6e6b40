#pragma once
// The bus's one idempotent producer and the thread that serves its delivery
// reports. Every record gets exactly one report (librdkafka's promise, within
// message.timeout.ms); a Delivery receives it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "binding.hpp"
#include "client_config.hpp"
#include "handles.hpp"

namespace herald::kafka {

/// Whether producing may succeed if tried again (broker away, leader moving,
/// timeout); false for errors that never clear (too large, not authorized,
/// fatal).
bool retriable(rd_kafka_resp_err_t err);

/// Receives delivery reports, on the producer's poll thread. Must not block.
class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual void on_report(rd_kafka_resp_err_t err, const rd_kafka_message_t& message) = 0;
};

/// Counts the reports of many records; the publisher waits on it.
class BatchDelivery final : public Delivery {
 public:
  void expect(std::size_t n);
  /// Takes back records whose produce call failed (they get no report).
  void forget(std::size_t n);
  void on_report(rd_kafka_resp_err_t err, const rd_kafka_message_t& message) override;
  /// Blocks until every expected report arrived.
  void wait();
  std::size_t failed() const;
  /// The first failure as text, "" when none.
  std::string first_error() const;
  bool first_error_retriable() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable done_;
  std::size_t pending_ = 0;
  std::size_t failed_ = 0;
  std::string first_error_;
  bool retriable_ = true;
};

/// Runs `fn` with the report's error, then frees itself. For records
/// nobody waits for (dead letters and retries from consumers).
class CallbackDelivery final : public Delivery {
 public:
  using Fn = std::function<void(rd_kafka_resp_err_t)>;
  explicit CallbackDelivery(Fn fn) : fn_(std::move(fn)) {}
  void on_report(rd_kafka_resp_err_t err, const rd_kafka_message_t& message) override;

 private:
  Fn fn_;
};

/// Thread-safe. Owns its poll thread; close() (or the destructor) delivers
/// or fails everything still queued before the handle goes.
class Producer final : public ClientHooks {
 public:
  /// message.max.bytes (unless the options set it) fits an event with
  /// `max_data_bytes` of data, so every record herald accepts can be passed on.
  Producer(const KafkaOptions& options, std::shared_ptr<const Redactor> redactor, std::size_t max_data_bytes);
  ~Producer() override;

  /// Queues one record for `topic` (partition -1: by key). Blocks while
  /// librdkafka's queue is full. Throws PublishError (fatal producer error,
  /// bad record) or ClosedError; then `delivery` gets no report.
  void produce(const std::string& topic, std::int32_t partition, const OutRecord& record, Delivery& delivery);
  /// Same, handing a CallbackDelivery to librdkafka.
  void produce(const std::string& topic, std::int32_t partition, const OutRecord& record,
               std::unique_ptr<CallbackDelivery> delivery);

  /// Waits for every report of `delivery`, with linger.ms over for the
  /// records queued meanwhile: a batch published whole is a batch already,
  /// and its caller sends nothing more until the reports are in, so waiting
  /// for more records to join it would only delay it.
  void wait_sent(BatchDelivery& delivery);

  /// Records produced and not yet reported.
  std::size_t outstanding() const noexcept { return outstanding_.load(std::memory_order_acquire); }
  /// Waits until outstanding() == 0; false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout);
  /// Waits up to `timeout` for outstanding reports, fails the rest, stops the thread.
  void close(std::chrono::milliseconds timeout);

  rd_kafka_t* handle() const noexcept { return rk_.get(); }

 private:
  static void delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  rd_kafka_topic_t* topic_handle(const std::string& topic);
  void poll_loop();
  /// Cuts the poll thread's current wait short.
  void wake_poller();
  [[noreturn]] void fail_fatal(const std::string& topic);

  KafkaPtr rk_;
  std::shared_mutex topics_mutex_;
  std::map<std::string, TopicPtr, std::less<>> topics_;
  std::atomic<std::size_t> outstanding_{0};
  std::mutex idle_mutex_;
  std::condition_variable idle_;    // outstanding_ reached 0
  std::condition_variable room_;    // reports were served: room in the queue
  std::atomic<std::uint64_t> served_{0};  // polls that served reports (or other events)
  std::atomic<int> room_waiters_{0};      // publishers waiting on room_
  std::atomic<int> senders_{0};           // publishers in wait_sent(): the poll thread flushes
  std::atomic<bool> closed_{false};
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace herald::kafka
