#pragma once
// The pieces of a GroupMember its files share: the records on their way
// through it, the partitions they came from, and the counts that tie them.
//
//   group_member.cpp      start and stop
//   member_poller.cpp     the poll thread: taking records, handing them to lanes, pausing
//   member_offsets.cpp    the partition book: commits, rebalances, catching up
//   member_handling.cpp   the lanes: decoding, running handlers, carrying out verdicts
//   member_forwarder.cpp  writing to the retry and dead-letter topics
//   member_start.cpp      where a new group starts; what an ephemeral member keeps instead of commits

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "group_member.hpp"
#include "herald/ext/delivery.hpp"
#include "offset_window.hpp"

namespace herald::kafka {

/// Records queued behind waiting keys that make an event topic's partition
/// pause (see Partition::parked): memory stays bounded during long retries.
inline constexpr int max_parked = 1000;

namespace member_detail {

inline std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// librdkafka's callbacks; the member is their opaque.
void rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions, void* opaque);
void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, void* opaque);

}  // namespace member_detail

/// Counts shared by the member, its partitions and work in flight.
struct GroupMember::Tracker {
  std::mutex mutex;                   // guards every Partition's progress fields
  std::condition_variable drained;    // some partition's pending count reached 0
  bool draining = false;              // someone waits on `drained` (guarded by mutex)
  std::atomic<std::size_t> in_flight{0};  // records taken and not finished or dropped

  // Back-pressure: the poll thread waits for in_flight to fall to low_water,
  // and records settling wake it then (never a wake-up per record otherwise).
  std::size_t low_water = 0;
  std::atomic<bool> want_room{false};
  std::mutex room_mutex;
  std::condition_variable room;
  rd_kafka_queue_t* wake = nullptr;  // guarded by room_mutex: ends the poll thread's poll

  // With mutex held: one pending record of a partition is settled.
  void release(int& pending) {
    if (--pending == 0 && draining) drained.notify_all();
  }
  /// A record is finished or dropped. The record that makes room wakes the
  /// poll thread; one wake-up per wait (the count only falls meanwhile).
  void settled() {
    if (in_flight.fetch_sub(1) - 1 <= low_water && want_room.load() && want_room.exchange(false)) wake_poller();
  }
  void wake_poller() {
    std::lock_guard lock(room_mutex);
    room.notify_all();
    if (wake) rd_kafka_queue_yield(wake);
  }
};

/// One assigned partition. Progress fields are guarded by tracker->mutex.
struct GroupMember::Partition {
  Partition(std::shared_ptr<Tracker> t, std::string name, std::int32_t partition, bool retry)
      : tracker(std::move(t)), topic(std::move(name)), id(partition), retry_topic(retry) {}
  const std::shared_ptr<Tracker> tracker;
  const std::string topic;
  const std::int32_t id;
  const bool retry_topic;

  bool revoked = false;  // given up: records still here are dropped, results no longer count
  // Being given up: records not started yet are left to the next owner,
  // unless one after them already started (the commit must cover it).
  bool releasing = false;
  std::int64_t highest_started = -1;
  OffsetWindow window;
  std::int64_t commit_sent = -1;
  std::int64_t committed = -1;
  // Records that will settle by themselves: queued on a lane, in a handler,
  // or waiting for a produce report. A rebalance waits for them. Not
  // counted: records waiting for a retry, and those queued behind them.
  int pending = 0;
  int waiting = 0;  // records waiting for a retry
  // Records of their keys queued behind them. An event topic's partition is
  // paused only when these pile up (other keys must keep flowing past a
  // retry, also those not fetched yet); a retry topic's while any waits.
  int parked = 0;
  bool paused = false;  // poll thread only: what librdkafka was told
};

/// One record on its way through the member.
struct GroupMember::Item {
  explicit Item(PartitionPtr p) : partition(std::move(p)) {
    partition->tracker->in_flight.fetch_add(1, std::memory_order_acq_rel);
  }
  ~Item() {
    if (counted) {
      std::lock_guard lock(partition->tracker->mutex);
      partition->tracker->release(partition->pending);
    }
    if (!handed_off) partition->tracker->settled();
  }
  // With tracker->mutex held: the record is (no longer) pending.
  void count() {
    if (!counted) ++partition->pending;
    counted = true;
  }
  void uncount() {
    if (counted) partition->tracker->release(partition->pending);
    counted = false;
  }
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;

  PartitionPtr partition;
  std::int64_t offset = -1;
  std::string park_key;
  bool behind = false;  // queued behind its key's record waiting for a retry (counted in partition->parked)
  /// The record as taken from librdkafka, decoded on the lane and kept
  /// while the record is here: when it cannot be decoded, or its event not
  /// encoded again for the retry or dead-letter topic, its bytes go to the
  /// dead letter.
  MessagePtr message;
  bool decoded = false;
  /// The decoded event; an empty Envelope (no id) for a record that could
  /// not be decoded.
  Envelope& event() {
    if (!event_) event_ = std::make_unique<Envelope>();
    return *event_;
  }
  // Lent by the lane's spare at the decode (member_handling.cpp), not made
  // with the Item: the poll thread then writes a few lines of an Item, not
  // the 584 bytes of an optional Envelope the lane would fetch from its
  // core, and a record gives its envelope back by a pointer, not a move of
  // every field.
  std::unique_ptr<Envelope> event_;
  std::string decode_error;  // set: the record could not be decoded
  // Failed runs so far (counting earlier deliveries, from a retry topic's
  // headers), when the record may run again, and where it first arrived.
  DeliveryState state;
  int runs_here = 0;  // handler runs of this delivery
  bool counted = false;     // in its partition's pending count
  bool handed_off = false;  // a produce report finishes it, not this object
};

/// What goes to the dead-letter topic when the retry or dead-letter topic
/// refuses a record for good: the dead letter without the event's data.
struct GroupMember::Fallback {
  std::string topic;  // the dead-letter topic
  std::string key;
  Envelope event;       // its attributes, no data; empty id for a record that was not decoded
  std::string type;     // the event's type, for the metrics (also when `event` is left empty)
  DeliveryState state;  // the record's story so far (attempts, errors, origin)
  bool counted = false;  // the dead letter is in the metrics already
};

}  // namespace herald::kafka
