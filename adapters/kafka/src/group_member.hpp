#pragma once
// One subscription = one member of a Kafka consumer group.
//
// Threads: a poll thread takes records from librdkafka, decodes them, skips
// types the pattern does not match, and hands the rest to `concurrency`
// lanes (a record's key picks its lane, so one key is handled in order).
// Handlers run on the lanes. Offsets are committed per partition up to the
// lowest record not yet finished, every commit_interval, before partitions
// are given up in a rebalance, and when the member stops.
//
// A failed handler is retried in process after the policy's backoff while
// its key waits (other keys go on) and its partition is paused. After
// in_process_attempts runs the record moves to `<topic>.retry.<group>`
// (retry_topic=true); past the last attempt it goes to `<topic>.dlq` with
// the dead-letter record in its headers. An undecodable record goes to the
// dead-letter topic at once (reason decode_error, raw bytes kept), and so
// does one that decodes but cannot be encoded again for those topics.
//
// A lane never waits for the broker's admin: the topics a subscription
// names are made at start, and one first needed later (a wildcard pattern
// meeting a new family) is made by the bus's TopicCreator while the lane
// goes on; the record settles when it is written.
//
// Writing to the retry or dead-letter topic is tried again while the error
// may clear; when the topic refuses the record for good (too large, not
// authorized) a dead letter without the event's data takes its place
// (reason forward_error), and if even that is refused the record is given
// up with a log line: its offset is committed either way.
//
// Where a new group starts: before it joins, a durable group that has no
// committed offset on the event topics that exist now commits their ends
// (StartFrom::latest), so it reads what is published after subscribe and
// every member after it starts from there; topics made later are read from
// their beginning (all of it came after). A group with offsets keeps them.
//
// An ephemeral subscription (a group of its own, one member) commits
// nothing: it keeps its positions here, starts at the ends of the topics
// that exist at subscribe (or their beginning: StartFrom::earliest), retries
// in process only (no retry topic), logs and counts a dead letter instead of
// writing it, and deletes its group from the broker when it stops.
//
// Under back-pressure (max_in_flight records not finished) that lasts, the
// member pauses its partitions and keeps polling, so it still takes part in
// rebalances; the record that brings the count down to half wakes it. When it gives partitions up, records not started yet are left
// to the next owner; it waits only for those already running (and those
// before them, so the committed offset covers everything it handled).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus_services.hpp"
#include "group_claim.hpp"
#include "herald/bus.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/handler_gate.hpp"
#include "herald/pattern.hpp"
#include "lanes.hpp"

namespace herald::kafka {

class GroupMember final : public ClientHooks, public std::enable_shared_from_this<GroupMember> {
  struct PassKey {};

 public:
  /// Joins the group; returns once the member has its partitions (possibly
  /// none, when the group has more members than partitions). Throws
  /// TimeoutError after subscribe_timeout, TransportError or ConfigError.
  static std::shared_ptr<GroupMember> start(std::shared_ptr<BusServices> bus, const SubscribeSpec& spec, Invoker invoke);

  GroupMember(PassKey, std::shared_ptr<BusServices> bus, const SubscribeSpec& spec, Invoker invoke);
  ~GroupMember() override;

  /// Takes no more records, waits for running handlers, commits what was
  /// handled and leaves the group. Idempotent. Called from one of this
  /// member's own handlers it returns at once and the bus finishes the job.
  void stop();

  const std::string& group_id() const noexcept { return group_id_; }
  /// Whether the member reads every event topic (pattern starting with a wildcard).
  bool reads_every_topic() const noexcept;

  /// For flush: nothing taken here is unfinished, and the group's committed
  /// offsets reach the end of every partition of its topics. Blocks for
  /// broker round trips (bounded by `timeout`).
  bool caught_up(std::chrono::milliseconds timeout);
  /// Commit handled offsets now rather than at the next interval.
  void commit_soon();
  /// Reads the cluster's topic list again so the subscription sees topics
  /// created a moment ago (a new event topic for a pattern, a retry topic).
  void refresh_topics();

  /// librdkafka callbacks; they run on the poll thread (or on the stopping
  /// thread while it closes the consumer).
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets);

  struct Partition;
  struct Item;
  struct Tracker;
  struct Fallback;

 private:
  using PartitionPtr = std::shared_ptr<Partition>;
  using ItemPtr = std::unique_ptr<Item>;
  struct LaneTask {
    ItemPtr item;            // a record to handle, or
    std::string resume_key;  // the key whose retry wait is over
  };
  enum class Outcome { done, waiting };

  void join();
  void teardown();
  void poll_loop();
  void take(MessagePtr message);
  /// Decodes on the lane; false when the type is not for this subscription.
  bool decode(Item& item);
  void fill_origin(Item& item) const;
  void dispatch();
  void drop_pending();
  void apply_pauses();
  void commit(bool async);
  /// Before joining: where a new group starts (see the header comment).
  /// Throws TransportError (retriable when it may clear) or ConfigError.
  void place_start(std::chrono::steady_clock::time_point deadline);
  /// The ends of the existing event topics this subscription reads.
  PartitionEnds topic_ends(std::chrono::steady_clock::time_point deadline);
  /// An ephemeral member's own positions as offsets for rd_kafka_assign.
  void place_assignment(rd_kafka_topic_partition_list_t* list);
  void delete_ephemeral_group();
  /// The ephemeral member's dead letter: logged and counted, not written.
  void drop_dead_letter(ItemPtr& item, DeadLetterReason reason);
  void release_partitions(bool commit_first);
  void on_message_error(const rd_kafka_message_t& message);

  void run_lane(std::size_t lane, LaneTask& task);
  Outcome attempt(std::size_t lane, ItemPtr& item);
  void wait_then_resume(std::size_t lane, Item& item, std::chrono::milliseconds delay);
  void dead_letter(ItemPtr& item, DeadLetterReason reason);
  void move_to_retry_topic(ItemPtr& item, std::chrono::milliseconds delay);
  /// Fills `record` with the item's event; false (the item now carries a
  /// decode error) when the event cannot be encoded in the bus's mode.
  bool encode(Item& item, OutRecord& record);
  void produce_reliably(const std::string& topic, std::shared_ptr<const OutRecord> record, ItemPtr& item,
                        std::shared_ptr<const Fallback> fallback);
  /// Writes the record once its topic exists (made off this thread when it is new).
  void retry_produce(std::string topic, std::shared_ptr<const OutRecord> record, PartitionPtr partition,
                     std::int64_t offset, std::shared_ptr<const Fallback> fallback, bool last_resort);
  void produce_now(std::string topic, std::shared_ptr<const OutRecord> record, PartitionPtr partition,
                   std::int64_t offset, std::shared_ptr<const Fallback> fallback, bool last_resort);
  /// `topic` refused the record for good: write the fallback instead, or give up.
  void refused(const std::string& topic, const std::string& why, PartitionPtr partition, std::int64_t offset,
               std::shared_ptr<const Fallback> fallback, bool last_resort);
  /// The event topic a record belongs to (where it first arrived, or its type's).
  std::string event_topic_for(const Item& item, const std::string& type) const;
  std::string dlq_topic_for(const Item& item, const std::string& type) const;
  std::size_t lane_for(std::string_view key) const;
  ConsumerCounters& counters(const std::string& type) const;

  std::shared_ptr<BusServices> bus_;
  const SubscribeSpec spec_;
  const std::string group_id_;
  const TopicSelection selection_;
  const Invoker invoke_;
  const bool ephemeral_;
  /// Moves records to the retry topic (an ephemeral member retries in process only).
  const bool retry_topic_;
  std::shared_ptr<Tracker> tracker_;
  // Ephemeral only, guarded by tracker_->mutex: the next offset to read per
  // partition (what a durable group would have committed), from the topics'
  // ends at subscribe on.
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> positions_;

  // Reset only by teardown, under client_mutex_ held exclusively; flush's
  // broker queries hold it shared.
  std::shared_mutex client_mutex_;
  KafkaPtr rk_;
  QueuePtr queue_;  // the consumer queue, for waking the poll thread

  // Poll thread only (and the stopping thread once the poll thread is gone).
  std::map<std::pair<std::string, std::int32_t>, PartitionPtr> partitions_;
  // Offsets taken this poll round, counted in their partition's window when
  // the round's records go to the lanes.
  std::vector<std::pair<Partition*, std::int64_t>> taken_;
  std::vector<std::vector<LaneTask>> lane_batches_;
  const rd_kafka_topic_t* last_rkt_ = nullptr;  // the partition looked up last
  std::int32_t last_partition_id_ = -1;
  PartitionPtr last_partition_;
  PatternTrie pattern_;  // read by the lanes, never changed after start

  // Lane threads only: keys waiting for a retry, with what queued behind them.
  std::vector<std::unordered_map<std::string, std::deque<ItemPtr>>> parked_;
  std::unique_ptr<Lanes<LaneTask>> lanes_;

  std::mutex state_mutex_;
  std::condition_variable state_changed_;
  bool assigned_ = false;     // a first assignment arrived
  bool rebalancing_ = true;   // partitions given up, new ones not yet assigned

  bool backpressure_ = false;  // poll thread only: every partition paused until the lanes drain
  std::unique_ptr<GroupClaim> claim_;  // this group's pattern in this process, until teardown

  std::atomic<bool> pause_dirty_{false};
  std::atomic<bool> commit_now_{false};
  std::atomic<bool> outside_commit_{false};  // place_start committed: its report is not news
  std::atomic<bool> stop_polling_{false};
  std::atomic<bool> stopping_{false};
  ext::HandlerGate gate_;  // stop() waits for running handlers, and knows when it runs inside one
  std::mutex teardown_mutex_;
  bool torn_down_ = false;
  std::thread poller_;
};

}  // namespace herald::kafka
