#include "rabbit_bus.hpp"

#include <algorithm>
#include <atomic>

#include "consumer.hpp"
#include "dead_letter_queues.hpp"
#include "herald/codec.hpp"
#include "herald/ext/transport.hpp"
#include "publisher.hpp"
#include "settings.hpp"
#include "topology.hpp"

namespace herald::rabbitmq {

namespace {

// What keeps a group from being drained mostly moves on with an event here
// (a delivery, a handler returning, acks sent, a copy confirmed), which wakes
// flush() at once; what other processes of the group take from its queues
// shows only when the broker is asked again, this long after.
constexpr std::chrono::milliseconds flush_recheck{100};

/// Threads: one I/O thread for publishing, one for consuming (started by the
/// first subscribe), one for dead-letter administration (started on first
/// use), and per consumer group as many handler threads as its
/// subscriptions' concurrency. Handlers never run on an I/O thread.
class RabbitBus final : public ext::Transport {
 public:
  RabbitBus(const BusConfig& config, Settings settings)
      : Transport(config.metrics, config.decode, config.source),
        settings_(std::move(settings)),
        topology_(settings_.options),
        publisher_(std::make_unique<Publisher>(settings_, topology_)) {
    publisher_->start();
    consumer_ = std::make_shared<Consumer>(
        settings_, GroupServices{settings_, topology_, *publisher_, metrics(), decode_options(), nullptr, nullptr, nullptr});
    dead_letters_ = std::make_unique<DeadLetterQueues>(settings_, topology_, *publisher_, decode_options());
  }

  ~RabbitBus() override { close(); }

  /// Returns true once (1) every publish of this bus is confirmed, and (2) for
  /// every group this bus subscribes to: no delivery is in flight here
  /// (handler running, ack or retry copy pending), and the group's queue and
  /// the delay queues this bus sent its retries to hold no ready message.
  /// Events taken by other processes of the group are theirs to finish.
  bool flush(std::chrono::milliseconds timeout) override {
    if (closed_.load()) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Consumer::Watch watch(*consumer_);
    while (true) {
      if (!publisher_->wait_idle(deadline)) return false;
      const std::uint64_t seen = watch.changes();  // before asking: a change meanwhile is not missed
      if (consumer_->drained() && publisher_->outstanding() == 0) return true;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      watch.wait(seen, std::min(deadline, now + flush_recheck));
    }
  }

  void close() override {
    if (closed_.exchange(true)) return;
    consumer_->stop();  // running handlers finish first; their retries still publish
    publisher_->wait_idle(std::chrono::steady_clock::now() + settings_.options.publish_timeout);
    dead_letters_->stop();
    publisher_->stop();
  }

  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit) override {
    check_open();
    return dead_letters_->list(group, limit);
  }
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id) override {
    check_open();
    return dead_letters_->replay(group, id);
  }
  std::size_t purge_dead_letters(const std::string& group) override {
    check_open();
    return dead_letters_->purge(group);
  }

  Features features() const override {
    Features f;
    f.name = "rabbitmq";
    f.persistent = true;
    f.broker = true;
    f.ordered_per_key = true;
    f.foreign_bytes = true;
    f.crash_counts_as_attempt = true;  // x-herald-redeliveries: see delivery_handling.cpp
    return f;
  }

 protected:
  void do_publish(ext::Outgoing events) override {
    check_open();
    std::vector<OutMessage> messages;
    messages.reserve(events.size());
    for (const auto& e : events) messages.push_back(message_of(e));
    publisher_->publish(std::move(messages), settings_.options.publish_timeout);
  }
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override {
    check_open();
    return consumer_->subscribe(spec, std::move(invoke));
  }
  GroupBacklog do_backlog(const std::string& group, const std::string&) override {
    check_open();
    return dead_letters_->backlog(group);
  }
  std::size_t do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) override {
    check_open();
    return dead_letters_->hand_over(group, id, hand);
  }

 private:
  void check_open() const {
    if (closed_.load(std::memory_order_acquire)) throw ClosedError("rabbitmq: bus is closed");
  }

  OutMessage message_of(const Envelope& e) const {
    std::string buffer;
    // Room for the JSON and what OutMessage appends, so encoding allocates once.
    buffer.reserve(320 + e.data.size() + e.type.size() + e.id.size() + e.partitionkey.size() + e.subject.size() +
                   e.source.size() + 2 * e.traceparent.size() + e.tracestate.size());
    encode_to(e, buffer);
    const std::size_t body = buffer.size();
    return OutMessage::event(settings_.options.exchange, std::move(buffer), body, e.type, e.id, e.partitionkey,
                             settings_.options.unroutable == Unroutable::error, e.traceparent);
  }

  Settings settings_;
  Topology topology_;
  std::unique_ptr<Publisher> publisher_;
  std::shared_ptr<Consumer> consumer_;
  std::unique_ptr<DeadLetterQueues> dead_letters_;
  std::atomic<bool> closed_{false};
};

}  // namespace

std::unique_ptr<EventBus> make_rabbit_bus(const BusConfig& config) {
  return std::make_unique<RabbitBus>(config, read_settings(config));
}

}  // namespace herald::rabbitmq
