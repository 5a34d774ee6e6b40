#pragma once
// Which offsets of one partition may be committed: records are taken in
// offset order but finish in any order (several lanes, retries), and a
// commit must never pass a record that is not finished.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

namespace herald::kafka {

/// Not thread-safe: the owner locks.
///
/// \code
///   OffsetWindow w;
///   w.take(10); w.take(11); w.take(12);
///   w.finish(11);        // committable() == 10: 10 is not finished
///   w.finish(10);        // committable() == 12
/// \endcode
class OffsetWindow {
 public:
  /// A record was taken; offsets come in increasing order.
  void take(std::int64_t offset) { window_.emplace_back(offset, false); }

  /// A taken record is finished (handled, skipped, moved or dead-lettered).
  void finish(std::int64_t offset) {
    auto it = std::lower_bound(window_.begin(), window_.end(), offset,
                               [](const auto& entry, std::int64_t o) { return entry.first < o; });
    if (it != window_.end() && it->first == offset) it->second = true;
    while (!window_.empty() && window_.front().second) {
      committable_ = window_.front().first + 1;
      window_.pop_front();
    }
  }

  /// The offset to commit (the next record to read after a restart): the
  /// first unfinished record, or one past the last taken when all are
  /// finished; -1 before any record was taken.
  std::int64_t committable() const noexcept {
    return window_.empty() ? committable_ : std::max(committable_, window_.front().first);
  }

  /// Records taken and not finished, or finished behind an unfinished one.
  std::size_t size() const noexcept { return window_.size(); }

 private:
  std::deque<std::pair<std::int64_t, bool>> window_;  // offset, finished?
  std::int64_t committable_ = -1;
};

}  // namespace herald::kafka
