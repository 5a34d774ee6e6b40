#pragma once
// The bookkeeping of a failover test: publishers stamp each event with its
// key and a per-key sequence number; the consumer's (idempotent) effect
// records what it applied. Afterwards every key must show 0, 1, ..., n-1 in
// that order (nothing lost, nothing applied twice, order per key held), and
// the failover time is how long after the kill every key had an event
// published after the kill applied again.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "herald/envelope.hpp"

namespace herald::test {

class StreamCheck {
 public:
  using Clock = std::chrono::steady_clock;

  /// Publisher side: the event `seq` of `key`.
  Envelope make(const std::string& type, const std::string& key, int seq) {
    Envelope e = Envelope::make(type, {{"key", key}, {"seq", seq}});
    e.partitionkey = key;
    return e;
  }

  /// Publisher side: a publish of `key` from `seq` on started at `when`.
  void published(const std::string& key, int seq, Clock::time_point when) {
    std::lock_guard lock(mutex_);
    if (killed_ && when >= kill_time_ && !first_after_kill_.count(key)) first_after_kill_[key] = seq;
  }

  /// Consumer side: the effect of an event (called once per event in effect).
  void applied(const Envelope& e) {
    const auto payload = e.payload();
    const std::string key = payload.at("key").get<std::string>();
    const int seq = payload.at("seq").get<int>();
    std::lock_guard lock(mutex_);
    applied_[key].push_back(seq);
    ++effects_;
    auto first = first_after_kill_.find(key);
    if (first != first_after_kill_.end() && seq >= first->second && !resumed_.count(key)) resumed_[key] = Clock::now();
  }

  void kill_happened() {
    std::lock_guard lock(mutex_);
    killed_ = true;
    kill_time_ = Clock::now();
  }

  int effects() const {
    std::lock_guard lock(mutex_);
    return effects_;
  }

  /// Keys whose applied sequence is not exactly 0..n-1 with n = `per_key`.
  std::vector<std::string> broken_keys(int per_key) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> broken;
    for (const auto& [key, seqs] : applied_)
      if (!counts_up(seqs, per_key)) broken.push_back(key + " (" + describe(seqs) + ")");
    return broken;
  }

  /// Keys whose applied events are not each of 0..n-1 exactly once, in
  /// whatever order (n = `per_key`).
  std::vector<std::string> lost_or_repeated(int per_key) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> wrong;
    for (const auto& [key, seqs] : applied_) {
      std::vector<int> sorted = seqs;
      std::sort(sorted.begin(), sorted.end());
      if (!counts_up(sorted, per_key)) wrong.push_back(key + " (" + std::to_string(seqs.size()) + " applied)");
    }
    return wrong;
  }

  std::size_t keys() const {
    std::lock_guard lock(mutex_);
    return applied_.size();
  }

  /// Kill to the moment the last key flowed again; negative if one never did.
  std::chrono::milliseconds failover_time() const {
    std::lock_guard lock(mutex_);
    if (first_after_kill_.empty()) return std::chrono::milliseconds(-1);
    Clock::time_point last = kill_time_;
    for (const auto& [key, seq] : first_after_kill_) {
      auto it = resumed_.find(key);
      if (it == resumed_.end()) return std::chrono::milliseconds(-1);
      if (it->second > last) last = it->second;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(last - kill_time_);
  }

 private:
  // Exactly 0, 1, ..., per_key - 1.
  static bool counts_up(const std::vector<int>& seqs, int per_key) {
    if (static_cast<int>(seqs.size()) != per_key) return false;
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (seqs[i] != static_cast<int>(i)) return false;
    return true;
  }

  // The first place the sequence goes wrong, for the failure message.
  static std::string describe(const std::vector<int>& seqs) {
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (seqs[i] != static_cast<int>(i))
        return std::to_string(seqs.size()) + " applied; at position " + std::to_string(i) + " came " +
               std::to_string(seqs[i]);
    return std::to_string(seqs.size()) + " applied";
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::vector<int>> applied_;
  int effects_ = 0;
  bool killed_ = false;
  Clock::time_point kill_time_;
  std::map<std::string, int> first_after_kill_;
  std::map<std::string, Clock::time_point> resumed_;
};

/// Runs `scripts/brokers/<broker> <args>`; returns its output, throws when it fails.
std::string broker_script(const std::string& broker, const std::string& args);

/// The three-node cluster of `broker` (scripts/brokers/<broker> cluster) for
/// one test. A cluster already running (scripts/test starts them) is used and
/// left whole: a node the test killed is brought back. One this test had to
/// start is stopped at the end, so a plain `ctest` leaves no cluster holding
/// its ports for a later `scripts/test` to trip on.
class ClusterForTest {
 public:
  explicit ClusterForTest(std::string broker);
  ~ClusterForTest();
  ClusterForTest(const ClusterForTest&) = delete;
  ClusterForTest& operator=(const ClusterForTest&) = delete;

 private:
  std::string broker_;
  bool started_here_ = false;
};

}  // namespace herald::test
