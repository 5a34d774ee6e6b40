#pragma once
// The delivery tags of one channel that are not acked yet, and which acks to
// send for the ones that finished. Tags arrive in increasing order; handlers
// finish in any order. Private to herald::rabbitmq.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace herald::rabbitmq {

class DeliveryTags {
 public:
  /// A new delivery (its tag is above every tag seen before on the channel).
  void add(std::uint64_t tag) { tags_.emplace_back(tag, false); }
  bool empty() const noexcept { return tags_.empty(); }
  std::size_t size() const noexcept { return tags_.size(); }
  bool contains(std::uint64_t tag) const { return find(tag) != tags_.end(); }
  /// Forgets a tag (nacked); returns whether it was outstanding.
  bool erase(std::uint64_t tag) {
    auto it = find(tag);
    if (it == tags_.end()) return false;
    tags_.erase(it);
    return true;
  }
  /// Marks `tag` handled; returns false when it is not outstanding.
  bool finish(std::uint64_t tag) {
    auto it = find(tag);
    if (it == tags_.end() || it->second) return false;
    it->second = true;
    return true;
  }
  /// The acks for everything finished: (tag, multiple). One multiple ack
  /// covers the finished run at the front; a finished tag behind a running one
  /// is acked alone. Removes what it returns.
  std::vector<std::pair<std::uint64_t, bool>> take_acks() {
    std::vector<std::pair<std::uint64_t, bool>> out;
    std::size_t run = 0;
    std::uint64_t last = 0;
    while (!tags_.empty() && tags_.front().second) {
      last = tags_.front().first;
      tags_.pop_front();
      ++run;
    }
    if (run) out.emplace_back(last, run > 1);
    for (auto it = tags_.begin(); it != tags_.end();) {
      if (it->second) {
        out.emplace_back(it->first, false);
        it = tags_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  void clear() noexcept { tags_.clear(); }

 private:
  using Entry = std::pair<std::uint64_t, bool>;  // tag, finished
  std::deque<Entry>::iterator find(std::uint64_t tag) {
    auto it = std::lower_bound(tags_.begin(), tags_.end(), tag, [](const Entry& e, std::uint64_t t) { return e.first < t; });
    return it != tags_.end() && it->first == tag ? it : tags_.end();
  }
  std::deque<Entry>::const_iterator find(std::uint64_t tag) const {
    auto it = std::lower_bound(tags_.begin(), tags_.end(), tag, [](const Entry& e, std::uint64_t t) { return e.first < t; });
    return it != tags_.end() && it->first == tag ? it : tags_.end();
  }
  std::deque<Entry> tags_;
};

}  // namespace herald::rabbitmq
