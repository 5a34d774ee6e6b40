#include "member_parts.hpp"

#include "herald/errors.hpp"

namespace herald::kafka {

using member_detail::epoch_ms_now;

namespace {

constexpr std::chrono::seconds produce_retry_delay{1};

// The record as it arrived, for a dead letter: herald's own retry and
// dead-letter headers of an earlier hop are left out (the new ones follow).
void copy_raw(const rd_kafka_message_t& m, OutRecord& record) {
  record.key.clear();
  record.value.clear();
  record.headers.clear();
  if (m.key) record.key.assign(static_cast<const char*>(m.key), m.key_len);
  if (m.payload) record.value.assign(static_cast<const char*>(m.payload), m.len);
  for (const auto& h : read_headers(&m))
    if (!DeliveryState::is_bookkeeping(h.name)) record.headers.emplace_back(std::string(h.name), std::string(h.value));
}

}  // namespace

bool GroupMember::encode(Item& item, OutRecord& record) {
  try {
    encode_record(item.event(), bus_->options.mode, record);
    return true;
  } catch (const std::exception& ex) {
    // A foreign record can decode and still not encode (a header that is
    // not UTF-8 for structured mode, data_base64 that is not base64 for
    // binary mode): it travels on as its bytes, like an undecodable one.
    item.decode_error = std::string("the event cannot be encoded again for the retry or dead-letter topic: ") + ex.what();
    if (!item.state.last_error.empty()) item.decode_error += " (the handler failed with: " + item.state.last_error + ")";
    item.state.last_error = item.decode_error;
    return false;
  }
}

void GroupMember::dead_letter(ItemPtr& item, DeadLetterReason reason) {
  if (ephemeral_) return drop_dead_letter(item, reason);
  auto record = std::make_shared<OutRecord>();
  // Counted already: a record that cannot be written again changes only the reason.
  if (item->decode_error.empty() && !encode(*item, *record)) reason = DeadLetterReason::decode_error;
  const bool decoded = item->decode_error.empty();
  if (!decoded) copy_raw(*item->message, *record);
  // The record holds the event now: the letter keeps its attributes only.
  Envelope attributes = std::move(item->event());
  attributes.data = std::string();
  DeadLetter d = dead_letter_for(attributes, spec_.group, item->state, reason);
  for (auto& [name, value] : d.to_headers()) record->headers.emplace_back(name, std::move(value));
  std::string topic = dlq_topic_for(*item, attributes.type);
  auto fallback = std::make_shared<Fallback>();
  fallback->topic = topic;
  fallback->key = record->key;
  fallback->type = attributes.type;
  if (decoded) fallback->event = std::move(attributes);
  fallback->state = std::move(item->state);
  fallback->counted = true;
  produce_reliably(topic, std::move(record), item, std::move(fallback));
}

void GroupMember::move_to_retry_topic(ItemPtr& item, std::chrono::milliseconds delay) {
  auto record = std::make_shared<OutRecord>();
  if (!encode(*item, *record)) {
    // Not retried after all: dead-lettered as it arrived.
    refuse(DeadLetterReason::decode_error, item->state, counters(item->event().type));
    return dead_letter(item, DeadLetterReason::decode_error);
  }
  item->state.not_before_ms = epoch_ms_now() + delay.count();
  item->state.write_headers(
      [&](std::string_view name, std::string value) { record->headers.emplace_back(std::string(name), std::move(value)); });
  item->state.not_before_ms = 0;
  const std::string event_topic = event_topic_for(*item, item->event().type);
  std::string topic = bus_->naming.retry_topic(event_topic, group_id_);

  auto fallback = std::make_shared<Fallback>();
  fallback->topic = bus_->naming.dlq_topic(event_topic);
  fallback->key = record->key;
  fallback->type = item->event().type;
  fallback->event = std::move(item->event());  // the record holds the data
  fallback->event.data = std::string();
  fallback->state = std::move(item->state);
  produce_reliably(topic, std::move(record), item, std::move(fallback));
}

std::string GroupMember::event_topic_for(const Item& item, const std::string& type) const {
  const std::string& origin = item.state.origin_topic;
  return bus_->naming.is_event_topic(origin) ? origin : bus_->naming.event_topic(type.empty() ? "unknown" : type);
}

std::string GroupMember::dlq_topic_for(const Item& item, const std::string& type) const {
  return bus_->naming.dlq_topic(event_topic_for(item, type));
}

void GroupMember::produce_reliably(const std::string& topic, std::shared_ptr<const OutRecord> record, ItemPtr& item,
                                   std::shared_ptr<const Fallback> fallback) {
  // From here the produce report settles the record (its pending and in-flight counts).
  item->handed_off = true;
  item->counted = false;
  retry_produce(topic, std::move(record), item->partition, item->offset, std::move(fallback), false);
}

void GroupMember::retry_produce(std::string topic, std::shared_ptr<const OutRecord> record, PartitionPtr partition,
                                std::int64_t offset, std::shared_ptr<const Fallback> fallback, bool last_resort) {
  if (bus_->creator.ready(topic)) return produce_now(std::move(topic), std::move(record), std::move(partition), offset,
                                                     std::move(fallback), last_resort);
  // A topic not made yet: the creator's thread makes it, and the lane goes on.
  std::weak_ptr<GroupMember> weak = weak_from_this();
  bus_->creator.when_ready(topic, [weak, topic, record, partition, offset, fallback, last_resort](const std::string& error) {
    auto self = weak.lock();
    if (!self || (self->stopping_.load() && error == TopicCreator::closing)) {
      // Uncommitted: the next owner handles it again.
      std::lock_guard lock(partition->tracker->mutex);
      partition->tracker->release(partition->pending);
      partition->tracker->settled();
      return;
    }
    // When it could not be made the write fails too and is tried again; say why once here.
    if (!error.empty() && !self->stopping_.load()) self->log(rd_kafka_name(self->rk_.get()), "TOPIC", error);
    self->produce_now(topic, record, partition, offset, fallback, last_resort);
  });
}

void GroupMember::produce_now(std::string topic, std::shared_ptr<const OutRecord> record, PartitionPtr partition,
                              std::int64_t offset, std::shared_ptr<const Fallback> fallback, bool last_resort) {
  std::weak_ptr<GroupMember> weak = weak_from_this();
  // Ends the record's bookkeeping here, whether it was written or not.
  auto release = [partition] {
    std::lock_guard lock(partition->tracker->mutex);
    partition->tracker->release(partition->pending);
    partition->tracker->settled();
  };
  // Errors that may clear (broker away, leader moving, timeout): the same
  // record again in a second, for as long as it takes.
  auto again = [weak, topic, record, partition, offset, fallback, last_resort, release](const std::string& why) {
    auto self = weak.lock();
    if (!self || self->stopping_.load()) return release();  // uncommitted: the next owner handles it again
    self->log(rd_kafka_name(self->rk_.get()), "PRODUCE",
              "group '" + self->group_id_ + "': cannot write to '" + topic + "' (" + why + "); trying again in 1 s");
    self->bus_->scheduler->run_after(produce_retry_delay, [weak, topic, record, partition, offset, fallback, last_resort, release] {
      auto s = weak.lock();
      if (!s || s->stopping_.load()) return release();
      s->retry_produce(topic, record, partition, offset, fallback, last_resort);
    });
  };
  // Errors that never clear: write the fallback or give up, off the
  // producer's thread (the write may wait for room in the producer's queue,
  // which only that thread frees).
  auto give_up = [weak, topic, partition, offset, fallback, last_resort, release](const std::string& why) {
    auto self = weak.lock();
    if (!self || self->stopping_.load()) return release();
    self->bus_->scheduler->run_after(std::chrono::milliseconds(0), [weak, topic, partition, offset, fallback, last_resort, release, why] {
      auto s = weak.lock();
      if (!s || s->stopping_.load()) return release();
      s->refused(topic, why, partition, offset, fallback, last_resort);
    });
  };
  try {
    bus_->producer->produce(topic, RD_KAFKA_PARTITION_UA, *record,
                            std::make_unique<CallbackDelivery>([partition, offset, again, give_up, release](rd_kafka_resp_err_t err) {
                              if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
                                return retriable(err) ? again(describe(err)) : give_up(describe(err));
                              {
                                std::lock_guard lock(partition->tracker->mutex);
                                if (!partition->revoked) partition->window.finish(offset);
                              }
                              release();
                            }));
  } catch (const ClosedError&) {
    release();  // the bus is closing: uncommitted, the next owner handles it again
  } catch (const Error& ex) {
    ex.retriable() ? again(ex.what()) : give_up(ex.what());
  } catch (const std::exception& ex) {
    again(ex.what());
  }
}

void GroupMember::refused(const std::string& topic, const std::string& why, PartitionPtr partition, std::int64_t offset,
                          std::shared_ptr<const Fallback> fallback, bool last_resort) {
  const DeliveryState& was = fallback->state;
  const std::string what = (fallback->event.id.empty() ? std::string("a record") : "event '" + fallback->event.id + "'") +
                           " (from '" + was.origin_topic + "' partition " + std::to_string(was.origin_partition) +
                           " offset " + std::to_string(was.origin_offset) + ")";
  if (last_resort) {
    log(rd_kafka_name(rk_.get()), "PRODUCE",
        "group '" + group_id_ + "': '" + topic + "' refuses the dead letter of " + what + " for good (" + why +
            "); the record is given up and its offset committed");
    {
      std::lock_guard lock(partition->tracker->mutex);
      if (!partition->revoked) partition->window.finish(offset);
      partition->tracker->release(partition->pending);
    }
    partition->tracker->settled();
    return;
  }
  log(rd_kafka_name(rk_.get()), "PRODUCE",
      "group '" + group_id_ + "': '" + topic + "' refuses " + what + " for good (" + why +
          "); writing its dead letter without the data to '" + fallback->topic + "'");
  DeliveryState state = was;
  // The cause first: the header keeps 4096 bytes.
  std::string error = "not written to '" + topic + "': " + why + "; dead-lettered without its data after: " + was.last_error;
  // A record on its way to the retry topic becomes a dead letter only now.
  if (fallback->counted) state.last_error = std::move(error);
  else refuse(DeadLetterReason::forward_error, state, counters(fallback->type), std::move(error));
  DeadLetter d = dead_letter_for(fallback->event, spec_.group, state, DeadLetterReason::forward_error);
  d.routing_key = fallback->type;

  auto record = std::make_shared<OutRecord>();
  if (!fallback->event.id.empty()) {
    // The attributes as ce_ headers keep the event's id and type visible;
    // without data it is not the event any more, so it is not replayed.
    Envelope attributes = fallback->event;
    attributes.data.clear();
    attributes.extensions.erase("database64");
    try {
      encode_record(attributes, BindingMode::binary, *record);
    } catch (const std::exception&) {
      record->headers.clear();  // an extension that cannot be written: the dead-letter headers still are
    }
  }
  record->key = fallback->key;
  record->value.clear();
  for (auto& [name, value] : d.to_headers()) record->headers.emplace_back(name, std::move(value));
  std::string dlq = fallback->topic;
  retry_produce(std::move(dlq), std::move(record), std::move(partition), offset, std::move(fallback), true);
}

}  // namespace herald::kafka
