#pragma once
// The publishes of one confirm-mode channel that the broker has not
// confirmed yet, and which of them it returned (mandatory, unroutable).
//
// A basic.return names no publish: only exchange, routing key and the
// message's properties, and neither message ids nor keys are unique (a
// foreign message without id moved to a delay queue twice, an event
// published again). What is reliable is the order: RabbitMQ sends the return
// of a publish and then, in the same turn of its channel process, the
// confirm of that publish, whose delivery tag is the publish's sequence
// number (alone, or as a multiple ack ending at it when nothing older is
// open). So a return waits for the next confirm and goes to the publish that
// confirm names. Private to herald::rabbitmq.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace herald::rabbitmq {

/// What a basic.return said about a message.
struct Returned {
  int reply_code = 0;
  std::string reply_text;
  std::string exchange;
  std::string routing_key;
  std::string message_id;
};

template <class Slot>
class Unconfirmed {
 public:
  struct Entry {
    std::uint64_t seq = 0;
    Slot slot;
    // Views into the message the slot names (alive as long as the slot).
    std::string_view exchange, routing_key, message_id;
    bool done = false;
    std::optional<Returned> returned;
  };

  /// A publish just sent; returns its sequence number (the broker's delivery tag).
  std::uint64_t sent(Slot slot, std::string_view exchange, std::string_view routing_key, std::string_view message_id) {
    entries_.push_back(Entry{next_seq_, std::move(slot), exchange, routing_key, message_id, false, std::nullopt});
    ++open_;
    return next_seq_++;
  }

  /// A basic.return: it precedes the confirm of the same publish.
  void returned(Returned r) {
    if (returns_.size() >= max_waiting_returns) returns_.pop_front();  // a confirm that never came: keep memory bounded
    returns_.push_back(std::move(r));
  }

  /// A basic.ack (`ack`) or basic.nack: calls settle(Entry&, bool ack) for
  /// each publish it confirms, in order.
  template <class Settle>
  void confirm(std::uint64_t tag, bool multiple, bool ack, Settle&& settle) {
    if (entries_.empty()) return;
    attribute_returns(tag, multiple);
    if (multiple) {
      for (auto& e : entries_) {
        if (e.seq > tag) break;
        if (!e.done) finish(e, ack, settle);
      }
    } else if (tag >= entries_.front().seq && tag - entries_.front().seq < entries_.size()) {
      Entry& e = entries_[static_cast<std::size_t>(tag - entries_.front().seq)];
      if (!e.done) finish(e, ack, settle);
    }
    while (!entries_.empty() && entries_.front().done) entries_.pop_front();
  }

  /// The oldest publish not confirmed yet, or nullptr.
  Entry* oldest_open() {
    for (auto& e : entries_)
      if (!e.done) return &e;
    return nullptr;
  }
  /// Marks `e` settled outside a confirm (the caller failed it).
  void drop(Entry& e) {
    if (e.done) return;
    e.done = true;
    --open_;
  }

  /// The channel is gone: the slots of every publish not confirmed, in
  /// order. Forgets everything and numbers from 1 again (a new channel).
  std::deque<Slot> take_open() {
    std::deque<Slot> out;
    for (auto& e : entries_)
      if (!e.done) out.push_back(std::move(e.slot));
    entries_.clear();
    returns_.clear();
    open_ = 0;
    next_seq_ = 1;
    return out;
  }

  /// Publishes sent and not confirmed.
  std::size_t open() const noexcept { return open_; }

 private:
  Entry* find(std::uint64_t seq) {
    if (entries_.empty() || seq < entries_.front().seq || seq - entries_.front().seq >= entries_.size()) return nullptr;
    return &entries_[static_cast<std::size_t>(seq - entries_.front().seq)];
  }
  static bool matches(const Entry& e, const Returned& r) {
    return !e.done && !e.returned && e.exchange == r.exchange && e.routing_key == r.routing_key &&
           e.message_id == r.message_id;
  }
  // The returns received so far belong to publishes this confirm covers: the
  // newest to the publish it names; should several wait (a broker that
  // batches confirms), the others to the latest matching publishes before it.
  void attribute_returns(std::uint64_t tag, bool multiple) {
    if (returns_.empty()) return;
    const std::uint64_t first = multiple ? 0 : tag;
    while (!returns_.empty()) {
      Returned& r = returns_.back();
      Entry* target = nullptr;
      if (Entry* named = find(tag); named && matches(*named, r)) {
        target = named;
      } else {
        for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
          if (it->seq > tag || it->seq < first) continue;
          if (matches(*it, r)) {
            target = &*it;
            break;
          }
        }
      }
      if (!target) break;  // not covered by this confirm: wait for the next
      target->returned = std::move(r);
      returns_.pop_back();
    }
  }

  template <class Settle>
  void finish(Entry& e, bool ack, Settle& settle) {
    e.done = true;
    --open_;
    settle(e, ack);
  }

  static constexpr std::size_t max_waiting_returns = 4096;
  std::deque<Entry> entries_;  // by ascending seq
  std::deque<Returned> returns_;  // received, waiting for their confirm
  std::uint64_t next_seq_ = 1;
  std::size_t open_ = 0;
};

}  // namespace herald::rabbitmq
