#include "ack_batcher.hpp"

namespace herald::rabbitmq {

bool AckBatcher::add(const Ack& ack) {
  std::lock_guard lock(mutex_);
  if (acks_.empty())
    first_pending_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  acks_.push_back(ack);
  any_.store(true, std::memory_order_release);
  pending_.store(acks_.size(), std::memory_order_relaxed);
  return acks_.size() >= batch_.load(std::memory_order_relaxed);
}

std::vector<Ack> AckBatcher::take() {
  std::lock_guard lock(mutex_);
  std::vector<Ack> out;
  out.swap(acks_);
  any_.store(false, std::memory_order_release);
  pending_.store(0, std::memory_order_relaxed);
  return out;
}

bool AckBatcher::due() const noexcept {
  if (!any()) return false;
  if (pending_.load(std::memory_order_relaxed) >= batch_.load(std::memory_order_relaxed)) return true;
  for (std::size_t source = 0; source < window_.size(); ++source) {
    std::size_t window = window_[source].load(std::memory_order_relaxed);
    if (window && unacked_[source].load(std::memory_order_relaxed) >= window) return true;
  }
  return false;
}

bool AckBatcher::overdue(std::chrono::steady_clock::time_point now) const noexcept {
  return any() && now.time_since_epoch().count() - first_pending_.load(std::memory_order_relaxed) >=
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(ack_delay).count();
}

}  // namespace herald::rabbitmq
