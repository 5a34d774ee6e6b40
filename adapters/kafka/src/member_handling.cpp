#include "member_parts.hpp"

#include <algorithm>
#include <vector>

namespace herald::kafka {

using member_detail::epoch_ms_now;

namespace {

// The envelope this lane decodes its next record into. A record that is
// done gives its envelope back (reclaim below), so the strings keep their
// storage from record to record: a fresh envelope per record cost a malloc
// and a free for every attribute longer than fifteen bytes (the id, the
// traceparent, the data...), a sixth of a lane's time. It is lent by
// pointer: moving the fields to and from the record, and fetching the lines
// of the record that held them, cost about a tenth of a lane.
// A record that waits for a retry keeps its envelope; the next decode makes
// a new one.
std::unique_ptr<Envelope>& lane_spare() {
  thread_local std::unique_ptr<Envelope> spare;
  return spare;
}

void reclaim(GroupMember::Item* item) {
  if (item && item->event_ && !lane_spare()) lane_spare() = std::move(item->event_);
}

}  // namespace

bool GroupMember::decode(Item& item) {
  item.decoded = true;
  const rd_kafka_message_t& m = *item.message;
  const Partition& partition = *item.partition;
  std::string_view key(static_cast<const char*>(m.key), m.key ? m.key_len : 0);
  std::string_view value(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  HeaderViews headers = read_headers(&m);
  std::unique_ptr<Envelope>& spare = lane_spare();
  item.event_ = spare ? std::move(spare) : std::make_unique<Envelope>();
  try {
    decode_record_into(key, value, headers, bus_->decode, *item.event_);
  } catch (const std::exception& ex) {
    item.decode_error = ex.what();
    // An undecodable record carries no envelope (event() makes an empty
    // one when asked); the spare keeps the storage.
    lane_spare() = std::move(item.event_);
  }
  if (item.decode_error.empty()) {
    thread_local std::vector<int> hits;
    hits.clear();
    pattern_.match(item.event().type, hits);
    if (hits.empty()) return false;  // not for this subscription
  }

  // Only herald writes retry topics; on an event topic such headers would
  // be someone else's.
  if (partition.retry_topic)
    item.state = DeliveryState::read_headers([&](std::string_view name) -> std::optional<std::string> {
      if (const HeaderView* h = find_header(headers, name)) return std::string(h->value);
      return std::nullopt;
    });
  return true;
}

// Where the record first arrived, for its retry and dead-letter headers:
// filled when a record fails, not for every record (a copy of the topic
// name each, where nearly all succeed).
void GroupMember::fill_origin(Item& item) const {
  if (!item.state.origin_topic.empty()) return;  // read from a retry topic's headers
  const Partition& partition = *item.partition;
  item.state.origin_topic = partition.retry_topic && !item.event().type.empty()
                                ? bus_->naming.event_topic(item.event().type)
                                : partition.topic;
  item.state.origin_partition = partition.id;
  item.state.origin_offset = item.offset;
}

void GroupMember::run_lane(std::size_t lane, LaneTask& task) {
  auto& parked = parked_[lane];
  if (task.item) {
    // Nearly always nothing waits: no hash of the key then.
    auto it = parked.empty() ? parked.end() : parked.find(task.item->park_key);
    if (it != parked.end()) {
      bool pile_up;
      {
        std::lock_guard lock(tracker_->mutex);
        task.item->uncount();
        task.item->behind = true;
        pile_up = ++task.item->partition->parked == max_parked;
      }
      it->second.push_back(std::move(task.item));  // its key waits for a retry: queue behind
      if (pile_up) {
        pause_dirty_.store(true);
        if (queue_) rd_kafka_queue_yield(queue_.get());
      }
      return;
    }
    if (attempt(lane, task.item) == Outcome::waiting) {
      std::string key = task.item->park_key;
      parked[key].push_back(std::move(task.item));
      return;
    }
    reclaim(task.item.get());
    return;
  }
  auto it = parked.find(task.resume_key);
  if (it == parked.end()) return;
  auto& queue = it->second;
  {
    std::lock_guard lock(tracker_->mutex);
    --queue.front()->partition->waiting;
  }
  pause_dirty_.store(true);
  if (queue_) rd_kafka_queue_yield(queue_.get());
  while (!queue.empty()) {
    {
      std::lock_guard lock(tracker_->mutex);
      queue.front()->count();
      if (queue.front()->behind) {
        queue.front()->behind = false;
        --queue.front()->partition->parked;
      }
    }
    if (attempt(lane, queue.front()) == Outcome::waiting) return;
    reclaim(queue.front().get());
    queue.pop_front();
  }
  parked.erase(it);
}

GroupMember::Outcome GroupMember::attempt(std::size_t lane, ItemPtr& item) {
  Partition& p = *item->partition;
  {
    std::lock_guard lock(tracker_->mutex);
    if (p.revoked) return Outcome::done;  // dropped: the next owner reads it again
    if (p.releasing && item->offset > p.highest_started) return Outcome::done;  // likewise, nothing after it ran
    p.highest_started = std::max(p.highest_started, item->offset);
  }
  auto finish = [&] {
    std::lock_guard lock(tracker_->mutex);
    if (!p.revoked) p.window.finish(item->offset);
    item->uncount();
  };
  if (!item->decoded && !decode(*item)) {
    finish();  // a type this subscription does not want: committed with the rest
    return Outcome::done;
  }

  if (item->state.not_before_ms > 0) {
    std::int64_t wait = item->state.not_before_ms - epoch_ms_now();
    item->state.not_before_ms = 0;
    if (wait > 0) {
      wait_then_resume(lane, *item, std::chrono::milliseconds(wait));
      return Outcome::waiting;
    }
  }
  // Verdicts reached without running the handler.
  if (!item->decode_error.empty()) {
    fill_origin(*item);
    refuse(DeadLetterReason::decode_error, item->state, counters(item->event().type), item->decode_error);
    dead_letter(item, DeadLetterReason::decode_error);
    return Outcome::done;
  }
  if (exhausted(spec_.retry, item->state)) {  // from a retry topic, under a policy lowered since
    fill_origin(*item);
    refuse(DeadLetterReason::max_attempts, item->state, counters(item->event().type));
    dead_letter(item, DeadLetterReason::max_attempts);
    return Outcome::done;
  }

  auto pass = gate_.enter();
  if (!pass) return Outcome::done;  // stopping: not finished, so not committed; the next owner reads it
  Attempt result;
  {
    // What core's process span reports beside the event.
    const ext::DeliveryInfo info{.destination = p.topic,
                                .kafka_key = item->event().partitionkey,
                                .kafka_offset = item->offset,
                                .partition = p.id};
    ext::DeliveryScope delivery(info);
    result = invoke_(item->event());
  }
  pass.release();
  ++item->runs_here;
  if (result.ok) {
    // The verdict is ack: no look-up of the counters (a lock and a map) per record.
    finish();
    return Outcome::done;
  }
  fill_origin(*item);
  const Verdict verdict = decide(spec_.retry, item->state, result, counters(item->event().type));
  if (verdict.kind == Verdict::Kind::dead_letter) {
    dead_letter(item, verdict.reason);
    return Outcome::done;
  }
  if (retry_topic_ && item->runs_here >= bus_->options.in_process_attempts) {
    move_to_retry_topic(item, verdict.delay);
    return Outcome::done;
  }
  wait_then_resume(lane, *item, verdict.delay);
  return Outcome::waiting;
}

ConsumerCounters& GroupMember::counters(const std::string& type) const {
  return bus_->metrics->consumer(type, spec_.group);
}

void GroupMember::wait_then_resume(std::size_t lane, Item& item, std::chrono::milliseconds delay) {
  {
    std::lock_guard lock(tracker_->mutex);
    ++item.partition->waiting;
    item.uncount();
  }
  pause_dirty_.store(true);
  if (queue_) rd_kafka_queue_yield(queue_.get());
  std::weak_ptr<GroupMember> weak = weak_from_this();
  bus_->scheduler->run_after(delay, [weak, lane, key = item.park_key] {
    if (auto self = weak.lock(); self && !self->stopping_.load()) self->lanes_->push(lane, LaneTask{nullptr, key});
  });
}

}  // namespace herald::kafka
