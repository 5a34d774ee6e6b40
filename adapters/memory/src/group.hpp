#pragma once
// What the in-process broker keeps per subscription and per consumer group,
// and the units of work its group executor runs. Private to herald::memory.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "herald/ext/transport.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/handler_gate.hpp"

namespace herald::memory {

using EventPtr = std::shared_ptr<const Envelope>;

/// One subscription.
struct Member {
  std::uint64_t id = 0;
  std::string pattern;
  Invoker invoke;
  RetryPolicy retry;
  int concurrency = 1;
  ext::HandlerGate gate;  // closed by cancel(), which waits for running handlers
};
using MemberPtr = std::shared_ptr<Member>;

struct Group;

/// Where one event goes inside one group. `event` points into `owner`, or,
/// for an inline delivery that never waits, at the publisher's own envelope.
/// `group` is not counted: a group lives as long as the broker (the route
/// table never drops one), and everything that runs a task holds the broker.
/// A count per task was raised on the publisher's thread and lowered on the
/// worker's, a cache line the two threads passed back and forth per event.
struct Task {
  const Envelope* event = nullptr;
  EventPtr owner;
  Group* group = nullptr;
  std::shared_ptr<const std::vector<MemberPtr>> members;  // members whose pattern matched
  // Made at the first failure. Nearly every delivery succeeds at once, and a
  // DeliveryState in place (104 bytes, three strings) was two thirds of the
  // task, which the publisher zeroes and every hand-off moves; without it a
  // task is 64 bytes.
  std::unique_ptr<DeliveryState> failures;
  DeliveryState& state() {
    if (!failures) failures = std::make_unique<DeliveryState>();
    return *failures;
  }
  // In its group's `unfinished` count and admitted (the bus's pending count,
  // which flush() waits on). An inline delivery on the publisher's thread is
  // counted only once it must wait for a retry: the adds and subtracts
  // around a handler that succeeds at once (four atomic operations) were a
  // measurable part of an inline publish, for figures no other thread could
  // act on: its publish() has not returned.
  bool counted = true;
};

/// A unit of a group's work: handle one unkeyed event, or run the queue of
/// one partition key.
struct Work {
  Task task;
  std::string key;
  bool keyed = false;
};

/// Events with the same partitionkey wait in one queue per group; the head
/// runs (or waits for its retry) while the rest queue behind it.
///
/// The fields sit on cache lines by who writes them. An idle worker spins
/// reading `backlog_size` while the publisher takes `work_mutex` and appends
/// to `backlog`; on one line, every append took the line from the spinner
/// and every spin read took it back, a round trip between the cores per
/// event on each side.
struct Group {
  std::string name;
  std::atomic<std::uint64_t> next{0};
  // Work of this group running on the pool at most `limit` at once (the sum
  // of its members' concurrency), so a slow group cannot take every worker.
  std::atomic<int> limit{1};

  // For backlog(): deliveries to this group not yet handled or
  // dead-lettered, and how many of them wait for a retry's delay. Counted up
  // by publishers, down by workers.
  alignas(64) std::atomic<std::int64_t> unfinished{0};
  std::atomic<std::int64_t> waiting{0};

  // The hand-off: publishers append, a worker swaps the whole backlog out.
  alignas(64) std::mutex work_mutex;
  int running = 0;
  std::deque<Work> backlog;

  // What an idle worker spins on (group_executor.cpp).
  alignas(64) std::atomic<std::size_t> backlog_size{0};
  std::atomic<bool> spinning{false};

  alignas(64) std::mutex keys_mutex;
  std::unordered_map<std::string, std::deque<Task>> keys;
};

}  // namespace herald::memory
