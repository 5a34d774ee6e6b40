#pragma once
// Listing, replaying and purging `<queue>.dlq` on a connection and thread of
// their own, started on first use. Private to herald::rabbitmq.

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "herald/dead_letter.hpp"
#include "publisher.hpp"

namespace herald::rabbitmq {

class DeadLetterQueues final : public LoopClient {
 public:
  DeadLetterQueues(const Settings& settings, const Topology& topology, Publisher& publisher, DecodeOptions decode);
  ~DeadLetterQueues() override;

  /// Up to `limit` letters, oldest first. Reads them with basic.get and puts
  /// them back in place (nack, requeue) in one go: nothing is lost, but
  /// another reader at the same moment sees fewer.
  std::vector<DeadLetter> list(const std::string& group, std::size_t limit);
  /// Republishes the letters present when it starts (all, or the one with
  /// event id `id`) to the group's queue, each acked only after the broker
  /// confirmed its copy. Letters that arrive meanwhile, including replayed
  /// ones that failed again, wait for the next replay.
  /// Throws NotFoundError when the group has no queue.
  std::size_t replay(const std::string& group, const std::optional<std::string>& id);
  std::size_t purge(const std::string& group);
  /// Ready messages in the group's queue and its redelivered queue
  /// (pending), its delay queues (retrying) and its dead-letter queue, by
  /// passive declarations. Messages a running consumer holds unacked are not
  /// counted: AMQP does not tell them.
  GroupBacklog backlog(const std::string& group);
  /// As replay, but each letter goes to `hand` and is acked after it returned.
  std::size_t hand_over(const std::string& group, const std::optional<std::string>& id,
                        const std::function<void(const DeadLetter&)>& hand);
  void stop();

  // LoopClient (I/O thread)
  void on_connected(Connection& c) override;
  void on_disconnected(const std::string& why) override;
  void on_message(Connection&, amqp_method_number_t, Delivery&&) override {}

 private:
  struct Got {
    std::uint64_t tag = 0;
    Delivery message;
  };
  template <class R>
  R run(std::function<R(Connection&, amqp_channel_t)> fn);
  amqp_channel_t channel(Connection& c);
  std::optional<Got> get(Connection& c, amqp_channel_t ch, const std::string& queue);
  DeadLetter letter_of(const Got& got) const;
  /// Takes the `present` letters of `dlq` one by one: `take` handles one and
  /// returns whether it did (the letter is acked: `what` names the ack) or
  /// left it (requeued at the end). A throw from `take` requeues it and the
  /// rest. Returns how many were taken.
  std::size_t take_present(Connection& c, amqp_channel_t ch, const std::string& dlq, std::uint32_t present,
                           const char* what, const std::function<bool(const Got&)>& take);

  const Settings& settings_;
  const Topology& topology_;
  Publisher& publisher_;
  DecodeOptions decode_;
  IoLoop loop_;
  std::mutex start_mutex_;
  bool started_ = false;
  bool stopped_ = false;
  amqp_channel_t channel_ = 0;  // I/O thread only
};

}  // namespace herald::rabbitmq
