#pragma once
// The acks of one consumer group on their way from the workers to the I/O
// thread, batched like the raw client does: one frame acks many deliveries.
// Workers add, the I/O thread takes them when a batch is full, when the
// broker waits for them (a channel's prefetch window is used up), or after
// ack_delay. Thread-safe. Private to herald::rabbitmq.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

namespace herald::rabbitmq {

/// The longest an ack waits for others to share its frame.
inline constexpr std::chrono::milliseconds ack_delay{2};

/// A finished delivery, for the I/O thread to ack (or requeue).
struct Ack {
  std::uint64_t generation = 0;
  int source = 0;  // which of the group's channels (Group::main_channel, redelivered_channel)
  std::uint64_t tag = 0;
  bool requeue = false;
};

class AckBatcher {
 public:
  /// Acks that make a batch worth a frame of its own.
  void set_batch(std::size_t n) noexcept { batch_.store(n, std::memory_order_relaxed); }
  /// Queues `ack`; returns whether a batch is full.
  bool add(const Ack& ack);
  std::vector<Ack> take();
  bool any() const noexcept { return any_.load(std::memory_order_acquire); }
  /// Acks that should go now: a full batch, or the broker waits for them
  /// because a channel's prefetch window is used up.
  bool due() const noexcept;
  /// Acks that waited long enough for a batch: send anyway.
  bool overdue(std::chrono::steady_clock::time_point now) const noexcept;
  /// The I/O thread's view of a consuming channel: deliveries unacked and its prefetch window.
  void set_channel_state(int source, std::size_t unacked, std::size_t window) noexcept {
    unacked_[static_cast<std::size_t>(source)].store(unacked, std::memory_order_relaxed);
    window_[static_cast<std::size_t>(source)].store(window, std::memory_order_relaxed);
  }

 private:
  std::mutex mutex_;
  std::vector<Ack> acks_;
  std::atomic<bool> any_{false};
  std::atomic<std::size_t> batch_{1};  // wake the I/O thread at this many acks
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::chrono::steady_clock::rep> first_pending_{0};  // when the oldest waiting ack was queued
  std::array<std::atomic<std::size_t>, 2> unacked_{};  // per channel, as the broker counts them
  std::array<std::atomic<std::size_t>, 2> window_{};   // per channel prefetch
};

}  // namespace herald::rabbitmq
