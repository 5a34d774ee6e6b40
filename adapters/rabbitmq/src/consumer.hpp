#pragma once
// Consuming on the consumer's own connection and thread: one channel and one
// basic.consume per group, acks sent back from the workers through the I/O
// thread, and everything resubscribed after a reconnect. Private to
// herald::rabbitmq.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "group.hpp"

namespace herald::rabbitmq {

class Consumer final : public LoopClient, public std::enable_shared_from_this<Consumer> {
 public:
  Consumer(const Settings& settings, GroupServices services);
  ~Consumer() override;

  /// Declares the group's queue and binding and starts consuming; returns
  /// once the broker consumes for it. Connects on first use. Throws
  /// TransportError (unreachable), ConfigError (conflicting queue).
  Subscription subscribe(const SubscribeSpec& spec, Invoker invoke);
  /// Whether this bus's groups have nothing in flight and nothing waiting in
  /// their queues and retry queues (see RabbitBus::flush).
  bool drained();
  /// While one lives, what drained() looks at is watched: changes() counts
  /// its changes (deliveries handed to workers, handlers returning, acks
  /// sent, copies confirmed) and wait() returns at the next one.
  class Watch {
   public:
    explicit Watch(Consumer& c) : c_(c) { c_.watchers_.fetch_add(1); }
    ~Watch() { c_.watchers_.fetch_sub(1); }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    std::uint64_t changes() const;
    /// Until the count is past `seen`, or `until`.
    void wait(std::uint64_t seen, std::chrono::steady_clock::time_point until) const;

   private:
    Consumer& c_;
  };
  /// Finishes running handlers, acks them, closes the channels and the connection.
  void stop();

  // LoopClient (I/O thread)
  void on_connected(Connection& c) override;
  void on_disconnected(const std::string& why) override;
  void on_method(Connection& c, amqp_channel_t channel, const amqp_method_t& method) override;
  void on_message(Connection& c, amqp_method_number_t kind, Delivery&& message) override;
  void on_channel_closed(Connection& c, amqp_channel_t channel, const std::string& error) override;
  void on_frames_done() override;
  bool on_idle(Connection* c) override;
  bool has_work() const override;
  std::chrono::milliseconds max_sleep() const override;

 private:
  void start_loop();
  void setup(Connection& c, Group& g);
  /// setup(), recording a failure in the group instead of throwing (a lost connection still throws).
  void try_setup(Connection& c, Group& g);
  void consume(Connection& c, Group& g, int source);
  void send_acks(Connection& c, Group& g);
  /// send_acks, then a round trip on the group's main channel.
  void acks_to_broker(Connection& c, Group& g);
  void unsubscribe(const std::shared_ptr<Member>& member, const std::string& group);
  /// Closes the group's channels (when `c` is given) and forgets their state.
  void forget_channels(Connection* c, Group& g);
  /// Publishes the channels' unacked counts and windows to the workers.
  static void share_channel_state(Group& g);

  const Settings& settings_;
  GroupServices services_;
  IoLoop loop_;
  std::mutex start_mutex_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<std::uint64_t> member_ids_{0};

  // I/O thread only.
  std::map<std::string, std::shared_ptr<Group>> groups_;
  std::map<amqp_channel_t, std::pair<std::shared_ptr<Group>, int>> by_channel_;  // → group, source
  std::uint64_t generations_ = 0;
  amqp_channel_t probe_channel_ = 0;  // for passive declares of queues that may not exist

  /// Something drained() looks at changed: wakes the watches (cheap without any).
  void changed() noexcept;
  std::atomic<int> watchers_{0};
  mutable std::mutex changes_mutex_;
  mutable std::condition_variable changes_cv_;
  std::uint64_t changes_ = 0;

  // Groups whose last member left from inside its own handler: their worker
  // threads are joined here, later, from another thread.
  std::mutex retired_mutex_;
  std::vector<std::shared_ptr<Group>> retired_;
};

}  // namespace herald::rabbitmq
