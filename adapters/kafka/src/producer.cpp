#include "producer.hpp"

#include <pthread.h>

#include <algorithm>

#include "herald/errors.hpp"

namespace herald::kafka {

// ---------------------------------------------------------------- deliveries

void BatchDelivery::expect(std::size_t n) {
  std::lock_guard lock(mutex_);
  pending_ += n;
}

void BatchDelivery::forget(std::size_t n) {
  std::lock_guard lock(mutex_);
  pending_ -= n;
  if (pending_ == 0) done_.notify_all();
}

bool retriable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
      return false;
    default:
      return true;
  }
}

void BatchDelivery::on_report(rd_kafka_resp_err_t err, const rd_kafka_message_t& message) {
  std::lock_guard lock(mutex_);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && failed_++ == 0) {
    first_error_ = "kafka: delivery to topic '" + std::string(message.rkt ? rd_kafka_topic_name(message.rkt) : "?") +
                   "' failed: " + describe(err);
    retriable_ = retriable(err);
  }
  if (--pending_ == 0) done_.notify_all();
}

void BatchDelivery::wait() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
}

std::size_t BatchDelivery::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

std::string BatchDelivery::first_error() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

bool BatchDelivery::first_error_retriable() const {
  std::lock_guard lock(mutex_);
  return retriable_;
}

void CallbackDelivery::on_report(rd_kafka_resp_err_t err, const rd_kafka_message_t&) {
  std::unique_ptr<CallbackDelivery> self(this);  // librdkafka held it since produce()
  fn_(err);
}

// ---------------------------------------------------------------- producer

namespace {

// The largest record herald may have to pass on: an event it accepted
// (data up to max_data_bytes, a third more once bytes travel as base64)
// with its attributes and retry or dead-letter headers. librdkafka's own
// default (1,000,000) is below both the broker's default (1 MiB + 12) and
// max_data_bytes' default, so a record herald read could not be forwarded.
std::string record_limit(std::size_t max_data_bytes) {
  constexpr std::size_t librdkafka_default = 1'000'000, librdkafka_max = 1'000'000'000, headroom = 256 * 1024;
  std::size_t limit = std::min(max_data_bytes, librdkafka_max) / 3 * 4 + headroom;
  return std::to_string(std::clamp(limit, librdkafka_default, librdkafka_max));
}

bool user_sets(const KafkaOptions& options, const std::string& name) {
  return options.properties.count(name) || options.producer_properties.count(name);
}

}  // namespace

Producer::Producer(const KafkaOptions& options, std::shared_ptr<const Redactor> redactor, std::size_t max_data_bytes)
    : ClientHooks(std::move(redactor)) {
  ConfPtr conf = make_conf(options, ClientRole::producer, *this);
  if (!user_sets(options, "message.max.bytes")) {
    char errstr[512] = {0};
    if (rd_kafka_conf_set(conf.get(), "message.max.bytes", record_limit(max_data_bytes).c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
      throw ConfigError(std::string("kafka: message.max.bytes: ") + errstr);
  }
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::delivery_report);
  rk_ = make_client(RD_KAFKA_PRODUCER, std::move(conf), this->redactor());
  poller_ = std::thread([this] { poll_loop(); });
}

Producer::~Producer() { close(std::chrono::seconds(10)); }

void Producer::delivery_report(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* self = static_cast<Producer*>(static_cast<ClientHooks*>(opaque));
  if (auto* delivery = static_cast<Delivery*>(message->_private)) delivery->on_report(message->err, *message);
  if (self->outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(self->idle_mutex_);
    self->idle_.notify_all();
  }
}

void Producer::poll_loop() {
  pthread_setname_np(pthread_self(), "herald-reports");
  // close() ends the poll at once (a yield on the main queue); the timeout
  // only bounds a wait whose wake-up got lost.
  while (!stop_.load(std::memory_order_acquire)) {
    if (senders_.load(std::memory_order_acquire) > 0) {
      // rd_kafka_flush serves reports as rd_kafka_poll does, and while it
      // runs the broker threads send what is queued without waiting out
      // linger.ms. It returns at once when nothing is outstanding (the
      // sender is about to wake): poll briefly then rather than spin.
      if (rd_kafka_flush(rk_.get(), 10) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_poll(rk_.get(), 1);
    } else if (rd_kafka_poll(rk_.get(), 1000) <= 0) {
      continue;
    }
    // The reports served freed room in the queue (librdkafka frees it once
    // a report's callback returned): publishers waiting for room try again.
    // No notification per report on the hot path: one per poll, and only
    // when somebody waits.
    served_.fetch_add(1);
    if (room_waiters_.load() > 0) {
      std::lock_guard lock(idle_mutex_);
      room_.notify_all();
    }
  }
}

rd_kafka_topic_t* Producer::topic_handle(const std::string& topic) {
  {
    std::shared_lock lock(topics_mutex_);
    auto it = topics_.find(topic);
    if (it != topics_.end()) return it->second.get();
  }
  std::unique_lock lock(topics_mutex_);
  auto& slot = topics_[topic];
  if (!slot) {
    slot.reset(rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr));
    if (!slot) {
      topics_.erase(topic);
      throw PublishError("kafka: topic '" + topic + "': " + describe(rd_kafka_last_error()), false);
    }
  }
  return slot.get();
}

void Producer::fail_fatal(const std::string& topic) {
  char reason[512] = {0};
  rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
  throw PublishError("kafka: producer failed fatally, cannot publish to '" + topic + "': " + describe(err) + ": " +
                         redactor()(reason),
                     false);
}

void Producer::produce(const std::string& topic, std::int32_t partition, const OutRecord& record, Delivery& delivery) {
  if (closed_.load(std::memory_order_acquire)) throw ClosedError("kafka: bus is closed");
  rd_kafka_topic_t* rkt = topic_handle(topic);
  HeadersPtr headers;
  if (!record.headers.empty()) {
    headers.reset(rd_kafka_headers_new(record.headers.size()));
    for (const auto& [name, value] : record.headers)
      rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
  }
  outstanding_.fetch_add(1, std::memory_order_acq_rel);
  for (;;) {
    const std::uint64_t served = served_.load();
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(record.key.empty() ? nullptr : record.key.data(), record.key.size()),
        RD_KAFKA_V_VALUE(record.value.empty() ? nullptr : const_cast<char*>(record.value.data()), record.value.size()),
        RD_KAFKA_V_HEADERS(headers.get()), RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (void)headers.release();  // librdkafka owns them now
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !closed_.load(std::memory_order_acquire)) {
      // Full until the poll thread serves reports: wait for it to have served some.
      std::unique_lock lock(idle_mutex_);
      room_waiters_.fetch_add(1);
      room_.wait(lock, [&] { return served_.load() != served || closed_.load(); });
      room_waiters_.fetch_sub(1);
      continue;
    }
    if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(idle_mutex_);
      idle_.notify_all();
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) fail_fatal(topic);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) throw ClosedError("kafka: bus is closed");
    throw PublishError("kafka: cannot queue a record for topic '" + topic + "': " + describe(err), retriable(err));
  }
}

void Producer::produce(const std::string& topic, std::int32_t partition, const OutRecord& record,
                       std::unique_ptr<CallbackDelivery> delivery) {
  produce(topic, partition, record, *delivery);
  (void)delivery.release();  // freed by its own on_report
}

void Producer::wait_sent(BatchDelivery& delivery) {
  if (senders_.fetch_add(1, std::memory_order_acq_rel) == 0) wake_poller();  // it flushes from now on
  delivery.wait();
  senders_.fetch_sub(1, std::memory_order_acq_rel);
}

void Producer::wake_poller() {
  // A yield on the main queue ends the poll thread's rd_kafka_poll at once.
  if (QueuePtr main{rd_kafka_queue_get_main(rk_.get())}) rd_kafka_queue_yield(main.get());
}

bool Producer::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(idle_mutex_);
  return idle_.wait_for(lock, timeout, [&] { return outstanding_.load(std::memory_order_acquire) == 0; });
}

void Producer::close(std::chrono::milliseconds timeout) {
  if (closed_.exchange(true)) {
    if (poller_.joinable() && poller_.get_id() != std::this_thread::get_id()) poller_.join();
    return;
  }
  {
    std::lock_guard lock(idle_mutex_);
    room_.notify_all();  // publishers waiting for room fail now
  }
  if (!wait_idle(timeout)) {
    // Whatever is left fails now, so nobody waits on a report forever.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    wait_idle(std::chrono::seconds(5));
  }
  stop_.store(true, std::memory_order_release);
  wake_poller();
  if (poller_.joinable()) poller_.join();
  rd_kafka_poll(rk_.get(), 0);  // reports that raced with the stop
}

}  // namespace herald::kafka
