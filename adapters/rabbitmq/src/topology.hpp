#pragma once
// Names and declarations of what herald creates on the broker:
//
//   exchange (topic, durable) ──binding key = pattern──▶ <prefix><group>   (classic or quorum)
//      │ alternate-exchange (unroutable=keep)                 ▲ dead-letter exchange "" after the TTL
//      ▼                                                      │
//   <exchange>.unroutable (fanout) ──▶ <exchange>.unroutable  <queue>.retry.<n>  (per-message TTL)
//                                                          <queue>.redelivered (prefetch 1)
//                                                          <queue>.dlq        (dead letters)
//
// With queue_type=quorum every queue is a quorum queue (replicated, so it
// survives the loss of a cluster node). Every declaration is idempotent; one that conflicts with what exists gives
// a ConfigError that names the object and the difference. Private to
// herald::rabbitmq.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "message.hpp"

namespace herald::rabbitmq {

class Topology {
 public:
  explicit Topology(const RabbitOptions& options) : options_(options) {}

  const std::string& exchange() const noexcept { return options_.exchange; }
  std::string unroutable_name() const { return options_.exchange + ".unroutable"; }
  std::string group_queue(const std::string& group) const { return options_.queue_prefix + group; }
  static std::string retry_queue(const std::string& queue, int attempt) {
    return queue + ".retry." + std::to_string(attempt);
  }
  static std::string dead_letter_queue(const std::string& queue) { return queue + ".dlq"; }
  /// Where deliveries that ended without an outcome (a crash) wait, to be
  /// handled one at a time.
  static std::string redelivered_queue(const std::string& queue) { return queue + ".redelivered"; }

  /// The topic exchange, and in unroutable=keep mode its alternate exchange and queue.
  void declare_exchange(Connection& c, amqp_channel_t channel) const;
  /// The group's queue (type, single active consumer, expiry from the options).
  void declare_group_queue(Connection& c, amqp_channel_t channel, const std::string& queue) const;
  void bind(Connection& c, amqp_channel_t channel, const std::string& queue, const std::string& pattern) const;
  /// Delay queue for attempt `attempt`: messages wait their TTL, then go back to `queue`.
  std::shared_ptr<const QueueDecl> retry_decl(const std::string& queue, int attempt) const;
  std::shared_ptr<const QueueDecl> dead_letter_decl(const std::string& queue) const;
  std::shared_ptr<const QueueDecl> redelivered_decl(const std::string& queue) const;

  // An ephemeral subscription (SubscribeSpec::ephemeral) leaves nothing
  // behind: its queue is exclusive to the consumer's connection and
  // auto-deleted, so it goes with its consumer or the process. Its delay and
  // dead-letter queues, which other connections publish to, carry an
  // x-expires and are declared again before every message (the expiry counts
  // from the last declaration), so each outlives what it holds. All classic:
  // quorum queues cannot be exclusive, and a subscription that ends with its
  // connection gains nothing from replicas.

  /// The queue of an ephemeral subscription: exclusive, auto-delete, not durable.
  void declare_ephemeral_queue(Connection& c, amqp_channel_t channel, const std::string& queue) const;
  /// Its delay queue for attempt `attempt`, gone `max_delay` + a minute after its last message arrived.
  std::shared_ptr<const QueueDecl> ephemeral_retry_decl(const std::string& queue, int attempt,
                                                        std::chrono::milliseconds max_delay) const;
  /// Its dead-letter queue, gone `dead_letter_expires` (default a day) after the last dead letter or read.
  std::shared_ptr<const QueueDecl> ephemeral_dead_letter_decl(const std::string& queue) const;
  /// Declares a durable queue with the arguments of `decl`. A kept queue, or
  /// one of any existing type, is declared on a channel of its own, and one
  /// that exists with another x-expires (kept) or x-queue-type (any existing
  /// type), as declared by an earlier version, is used as it is.
  void declare(Connection& c, amqp_channel_t channel, const QueueDecl& decl) const;
  /// Ready messages in `queue`, or nullopt when it does not exist. A missing
  /// queue closes the channel: the caller must open it again.
  static std::optional<std::uint32_t> ready_count(Connection& c, amqp_channel_t channel, const std::string& queue);

 private:
  // x-expires: `queue_expires` only on queues a consumer keeps alive (the
  // group's), `dead_letter_expires` on kept ones; nothing consumes those, so
  // queue_expires would delete them with their messages.
  void add_expiry(Headers& arguments) const;
  void add_kept_expiry(Headers& arguments) const;
  /// x-queue-type=quorum when queue_type=quorum.
  void add_replication(QueueDecl& decl) const;
  void declare_on(Connection& c, amqp_channel_t channel, const QueueDecl& decl) const;
  const RabbitOptions& options_;
};

}  // namespace herald::rabbitmq
