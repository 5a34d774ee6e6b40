#pragma once
// One consumer group as seen by one bus: its queue, the subscriptions
// (members) of this bus in it, the channel it consumes on (group.cpp), its
// acks (ack_batcher.hpp), and what happens to each delivery: decode, handler,
// core's verdict carried out by copies to a delay or dead-letter queue
// (delivery_handling.cpp). Private to herald::rabbitmq.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ack_batcher.hpp"
#include "delivery_tags.hpp"
#include "herald/bus.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/handler_gate.hpp"
#include "herald/ext/keyed_executor.hpp"
#include "job.hpp"
#include "publisher.hpp"

namespace herald::rabbitmq {

class Group;

/// One subscription. Shared between the caller's Subscription handle, the
/// group and the workers running its handler.
struct Member {
  std::uint64_t id = 0;
  std::string pattern;
  Invoker invoke;
  RetryPolicy retry;
  int concurrency = 1;
  ext::HandlerGate gate;  // closed by cancel(), which waits for running handlers
};

/// What groups need from their bus.
struct GroupServices {
  const Settings& settings;
  const Topology& topology;
  Publisher& publisher;
  Metrics& metrics;
  DecodeOptions decode;
  std::function<void()> wake_io;   // acks are due: the I/O thread sends them now
  std::function<void()> nudge_io;  // acks are waiting: make sure they go within ack_delay
  std::function<void()> progressed;  // a worker went idle or a move settled: a flush may look again
  /// Sends the group's waiting acks and returns once the broker has them
  /// (see Group::ack_originals_first). Not from the I/O thread.
  std::function<void(Group&)> acks_to_broker;
};

/// One consuming channel of a group: on its queue, or on its queue of
/// redelivered messages. I/O thread only.
struct GroupChannel {
  amqp_channel_t channel = 0;
  std::string consumer_tag;
  std::uint16_t prefetch = 0;           // of the running consumer
  DeliveryTags outstanding;  // delivered, not acked yet
};

class Group {
 public:
  /// channels[main_channel] consumes the group queue with the group's
  /// prefetch; channels[redelivered_channel] consumes `<queue>.redelivered`
  /// one message at a time, so a message that crashes its consumer is the
  /// only one in flight there and only its count grows.
  static constexpr int main_channel = 0;
  static constexpr int redelivered_channel = 1;

  /// `ephemeral`: a subscription of this process only (see Topology): an
  /// exclusive queue, no redelivered queue, expiring delay and dead-letter
  /// queues.
  Group(std::string name, std::string queue, GroupServices& services, bool ephemeral = false);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  const std::string& name() const noexcept { return name_; }
  const std::string& queue() const noexcept { return queue_; }
  bool ephemeral() const noexcept { return ephemeral_; }
  /// Consuming channels: an ephemeral group has no redelivered queue (a
  /// crash takes its queue along, so what comes again came on this connection).
  int channels_used() const noexcept { return ephemeral_ ? 1 : 2; }

  // Members (thread-safe).
  void add(std::shared_ptr<Member> member);
  /// Returns whether members are left.
  bool remove(const std::shared_ptr<Member>& member);
  std::vector<std::string> patterns() const;
  int concurrency() const;
  bool has_members() const;
  /// basic.qos prefetch for the group's consumer.
  std::uint16_t prefetch() const;

  // Deliveries (I/O thread): collected while frames are read, handed to the
  // workers together by hand_over().
  void deliver(int source, Delivery&& delivery);
  void hand_over();
  /// A new channel consumes for the group: deliveries of older ones are stale.
  void set_generation(std::uint64_t generation) noexcept { generation_.store(generation); }
  std::uint64_t generation() const noexcept { return generation_.load(); }
  /// The channel is gone (or its connection): queued deliveries will come
  /// again from the broker, and what it delivers again because of it runs
  /// in its place (see lost_here).
  void channel_lost();
  // Acks (see AckBatcher).
  std::vector<Ack> take_acks() { return acks_.take(); }
  bool has_acks() const noexcept { return acks_.any(); }
  bool acks_due() const noexcept { return acks_.due(); }
  bool acks_overdue(std::chrono::steady_clock::time_point now) const noexcept { return acks_.overdue(now); }
  void set_channel_state(int source, std::size_t unacked, std::size_t window) noexcept {
    acks_.set_channel_state(source, unacked, window);
  }

  /// No more handler runs: queued deliveries, and one a worker took at this
  /// very moment, stay unacked in the workers' queue; they run after
  /// reopen_intake(), or the broker requeues them when the channel closes.
  /// Waits for running handlers unless called from one of them.
  void close_intake();
  /// Undoes close_intake() (a member joined while the last one was leaving).
  void reopen_intake();
  ext::KeyedExecutor<Job>& workers() noexcept { return workers_; }
  /// Retry, redelivery and dead-letter copies whose originals wait for the
  /// broker's confirm of the copy.
  std::size_t moving() const;
  /// Delay queues this bus sent retries of the group to.
  std::vector<std::string> retry_queues() const;

  // I/O thread state.
  GroupChannel channels[2];
  std::set<std::string> bound;  // patterns bound on the current connection
  std::string error;            // why the last (re)subscribe failed
  bool consuming() const noexcept { return channels[main_channel].channel != 0; }
  std::string queue_of(int source) const {
    return source == main_channel ? queue_ : Topology::redelivered_queue(queue_);
  }

 private:
  /// False when the group is closing: the job was not run (see close_intake).
  bool handle(Job& job);
  /// What a worker does with a job that threw (not expected: handlers'
  /// exceptions are outcomes): the broker gets it back, redelivered and so
  /// counted, and logs say why.
  void abandon(Job& job, const std::string& what);
  void handle_delivery(Job& job);
  void set_concurrency(int total);
  std::shared_ptr<Member> pick(const std::string& type);
  void ack(const Job& job);
  /// Queues the ack (or requeue) of a delivery for the I/O thread.
  void settle(std::uint64_t generation, int source, std::uint64_t tag, std::string_view message_id, bool requeue);
  /// Makes sure waiting acks go: now when the broker waits for them, else within ack_delay.
  void acks_waiting();
  // The copies that carry out a verdict; each settles the original through move().
  void dead_letter(Job& job, const DeadLetter& letter);
  void retry(Job& job, const DeliveryState& state, std::chrono::milliseconds delay, const RetryPolicy& policy);
  void redeliver_later(Job& job, const DeliveryState& state);
  /// Hands `message` (a copy of the job's delivery) to the publisher; the
  /// original is acked once the broker confirmed the copy, requeued when it
  /// did not. Returns at once, except for a `redelivery` (the copy goes to
  /// the redelivered queue): then once the original is settled.
  void move(Job& job, OutMessage message, bool redelivery = false);
  /// Before a copy from the redelivered queue runs: waits until every
  /// redelivery moved by this bus is confirmed and the broker has the acks of
  /// their originals.
  void ack_originals_first();
  void wait_for_moves();

  std::string name_;
  std::string queue_;
  GroupServices& services_;
  bool ephemeral_ = false;

  mutable std::shared_mutex members_mutex_;
  std::vector<std::shared_ptr<Member>> members_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Member>>> by_type_;  // cache, cleared on change
  std::atomic<std::uint64_t> next_{0};

  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> closing_{false};

  std::atomic<int> total_concurrency_{0};
  AckBatcher acks_;

  // Deliveries of the main channel this bus took and did not finish, by
  // message id (see lost_here). `lost`: its channel went away meanwhile.
  struct Unfinished {
    int live = 0;
    bool lost = false;
  };
  void took(const Delivery& d, int source);
  void finished(int source, std::string_view message_id);
  /// A redelivery of a message this bus held when its channel was lost (a
  /// broker node died, a connection broke, the broker closed the channel):
  /// once per such loss, true.
  bool lost_here(const Job& job);
  std::mutex unfinished_mutex_;
  std::unordered_map<std::string, Unfinished> unfinished_;
  // Redeliveries not known here that still count as lost here after the last
  // channel loss: the broker had sent them, the connection lost them.
  std::size_t lost_in_flight_ = 0;

  mutable std::mutex moves_mutex_;
  std::condition_variable moves_done_;
  std::size_t moving_ = 0;
  std::size_t redelivering_ = 0;  // of moving_, copies to the redelivered queue

  mutable std::mutex retry_mutex_;
  std::set<std::string> retry_queues_;

  std::vector<Job> incoming_;  // I/O thread only

  // I/O thread only: after a lost channel, deliveries that were not
  // redeliveries, until one that is comes (see late_redelivery); empty when
  // not watching.
  std::optional<std::size_t> fresh_since_loss_;
  /// Says, once per loss, when a redelivery comes after events that were
  /// not: the broker handed later events out before what the lost consumer
  /// held, and order per key may be broken.
  void late_redelivery(const Delivery& d);

  ext::KeyedExecutor<Job> workers_;  // last: its threads use everything above
};

}  // namespace herald::rabbitmq
