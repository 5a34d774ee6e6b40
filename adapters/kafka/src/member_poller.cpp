#include "member_parts.hpp"

#include <algorithm>
#include <functional>
#include <pthread.h>

namespace herald::kafka {

namespace {

constexpr std::size_t poll_batch = 1000;
// librdkafka's poll takes an int of milliseconds; a long commit interval is
// waited for in several polls.
constexpr std::chrono::milliseconds max_poll_wait{10'000};
// How long full lanes may keep the poll thread waiting before the member
// pauses its partitions and polls again (for the group's sake).
constexpr std::chrono::milliseconds backpressure_patience{100};

}  // namespace

void GroupMember::poll_loop() {
  pthread_setname_np(pthread_self(), "herald-poll");
  auto last_commit = std::chrono::steady_clock::now();
  while (!stop_polling_.load(std::memory_order_acquire)) {
    if (pause_dirty_.exchange(false)) apply_pauses();
    auto now = std::chrono::steady_clock::now();
    if (commit_now_.exchange(false) || now - last_commit >= bus_->options.commit_interval) {
      commit(true);
      last_commit = now;
    }
    // Back-pressure: at max_in_flight records not finished, take no more
    // until half are done. Lanes that drain fast (the usual case) get there
    // in moments: wait for that, keeping what librdkafka has fetched
    // already (a pause drops it, and fetching it again costs far more).
    // Lanes that stay full: pause every partition and keep polling, so
    // rebalances are served and the group does not evict a member that is
    // only busy.
    const std::size_t limit = bus_->options.max_in_flight;
    Tracker& t = *tracker_;
    if (backpressure_) {
      // Asked again each round: the one wake-up may have gone to a count
      // that rose since (records of partitions assigned meanwhile).
      t.want_room.store(true);
      if (t.in_flight.load() <= t.low_water) {
        backpressure_ = false;
        t.want_room.store(false);
        apply_pauses();
      }
    } else if (t.in_flight.load() >= limit) {
      t.want_room.store(true);
      {
        std::unique_lock lock(t.room_mutex);
        t.room.wait_for(lock, backpressure_patience,
                        [&] { return stop_polling_.load() || t.in_flight.load() <= t.low_water; });
      }
      if (t.in_flight.load() > t.low_water) {
        // Paused: the record that brings in_flight down to low_water ends the poll below.
        backpressure_ = true;
        apply_pauses();
      } else {
        t.want_room.store(false);
      }
    }
    // Everything else that needs this thread ends the poll (stop, pauses,
    // commit_soon, room under back-pressure): only the commit interval is a timer.
    // Rounded up: a wait cut to 0 ms would spin through the last millisecond.
    auto wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(last_commit + bus_->options.commit_interval -
                                                                        std::chrono::steady_clock::now()),
                           std::chrono::milliseconds(0), max_poll_wait);
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk_.get(), static_cast<int>(wait.count()));
    std::size_t n = 0;
    while (raw) {
      take(MessagePtr(raw));
      if (++n >= poll_batch || stop_polling_.load(std::memory_order_relaxed)) break;
      raw = rd_kafka_consumer_poll(rk_.get(), 0);
    }
    dispatch();
  }
}

void GroupMember::on_message_error(const rd_kafka_message_t& message) {
  switch (message.err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:  // a subscribed topic not created yet
      return;
    default:
      log(rd_kafka_name(rk_.get()), "CONSUME",
          "group '" + group_id_ + "': " + describe(message.err) + ": " + rd_kafka_message_errstr(&message));
  }
}

std::size_t GroupMember::lane_for(std::string_view key) const {
  return lanes_->size() == 1 ? 0 : std::hash<std::string_view>{}(key) % lanes_->size();
}

void GroupMember::take(MessagePtr message) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    on_message_error(*message);
    return;
  }
  // Records come in runs from one partition: look it up once per run.
  if (message->rkt != last_rkt_ || message->partition != last_partition_id_) {
    auto found = partitions_.find({rd_kafka_topic_name(message->rkt), message->partition});
    if (found == partitions_.end()) return;  // from a partition given up a moment ago
    last_rkt_ = message->rkt;
    last_partition_id_ = message->partition;
    last_partition_ = found->second;
  }
  const PartitionPtr& partition = last_partition_;

  auto item = std::make_unique<Item>(partition);
  item->offset = message->offset;
  // Records of one key share a lane (and so run in order); records without
  // a key keep their partition's order. herald writes partitionkey as key.
  std::string_view key(static_cast<const char*>(message->key), message->key ? message->key_len : 0);
  std::string base = key.empty() ? partition->topic + "/" + std::to_string(partition->id) : std::string(key);
  std::size_t lane = lane_for(base);
  // A record waiting in the retry topic must not hold up its key's new records.
  item->park_key = partition->retry_topic ? "retry\x1f" + base : std::move(base);
  item->message = std::move(message);
  taken_.emplace_back(partition.get(), item->offset);
  lane_batches_[lane].push_back(LaneTask{std::move(item), {}});
}

void GroupMember::dispatch() {
  if (taken_.empty()) return;
  {
    std::lock_guard lock(tracker_->mutex);
    for (const auto& [partition, offset] : taken_) partition->window.take(offset);
    for (auto& batch : lane_batches_)
      for (auto& task : batch) task.item->count();
  }
  taken_.clear();
  for (std::size_t lane = 0; lane < lane_batches_.size(); ++lane)
    if (!lane_batches_[lane].empty() && !lanes_->push(lane, lane_batches_[lane])) lane_batches_[lane].clear();
}

void GroupMember::drop_pending() {
  taken_.clear();
  for (auto& batch : lane_batches_) batch.clear();
}

void GroupMember::apply_pauses() {
  PartitionListPtr pause = make_partition_list(), resume = make_partition_list();
  {
    std::lock_guard lock(tracker_->mutex);
    for (auto& [id, p] : partitions_) {
      const bool retry_wait = p->waiting > 0 && (p->retry_topic || p->parked >= max_parked);
      bool want = (retry_wait || backpressure_) && !p->revoked;
      if (want == p->paused) continue;
      p->paused = want;
      rd_kafka_topic_partition_list_add(want ? pause.get() : resume.get(), p->topic.c_str(), p->id);
    }
  }
  if (pause->cnt) rd_kafka_pause_partitions(rk_.get(), pause.get());
  if (resume->cnt) rd_kafka_resume_partitions(rk_.get(), resume.get());
}

}  // namespace herald::kafka
