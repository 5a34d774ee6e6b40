#pragma once
// The subscriptions of one memory bus and, per event type, the groups and
// members it goes to. Publishing threads look routes up on every event; a
// per-thread copy of the last answer keeps that off the shared lock.
// Thread-safe. Private to herald::memory.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "group.hpp"
#include "herald/pattern.hpp"

namespace herald::memory {

struct Route {
  std::shared_ptr<Group> group;
  std::shared_ptr<const std::vector<MemberPtr>> members;
};
using Routes = std::shared_ptr<const std::vector<Route>>;

class RouteTable {
 public:
  MemberPtr add(const SubscribeSpec& spec, Invoker invoke);
  /// False when `member` was not subscribed (removed already).
  bool remove(const MemberPtr& member);

  /// Where an event of `type` goes: one route per group with a matching member.
  Routes routes_for(const std::string& type);

  /// For replay: the group `name` (nullptr when it has no subscription) and,
  /// per type asked, its members that accept it.
  std::shared_ptr<Group> group(const std::string& name, const std::vector<std::string>& types,
                               std::vector<std::shared_ptr<const std::vector<MemberPtr>>>& members);

 private:
  Routes lookup(const std::string& type);

  static inline std::atomic<std::uint64_t> next_id_{1};
  const std::uint64_t id_ = next_id_.fetch_add(1);  // tells the per-thread caches of two buses apart
  std::atomic<std::uint64_t> generation_{0};        // changes with every subscription change

  std::shared_mutex mutex_;
  struct GroupEntry {
    std::shared_ptr<Group> group;
    std::vector<MemberPtr> members;
    int concurrency = 0;
  };
  std::map<std::string, GroupEntry> groups_;
  std::unordered_map<std::uint64_t, std::pair<MemberPtr, std::string>> members_;
  std::uint64_t member_ids_ = 0;
  PatternTrie trie_;
  std::unordered_map<std::string, Routes> routes_;
};

}  // namespace herald::memory
