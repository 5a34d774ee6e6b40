#include "route_table.hpp"

#include <algorithm>
#include <mutex>

namespace herald::memory {

MemberPtr RouteTable::add(const SubscribeSpec& spec, Invoker invoke) {
  auto m = std::make_shared<Member>();
  m->pattern = spec.pattern;
  m->invoke = std::move(invoke);
  m->retry = spec.retry;
  std::unique_lock lock(mutex_);
  m->id = ++member_ids_;
  auto& g = groups_[spec.group];
  if (!g.group) {
    g.group = std::make_shared<Group>();
    g.group->name = spec.group;
  }
  g.members.push_back(m);
  g.concurrency += spec.concurrency;
  m->concurrency = spec.concurrency;
  g.group->limit = g.concurrency;
  trie_.add(spec.pattern, static_cast<int>(m->id));
  members_[m->id] = {m, spec.group};
  routes_.clear();
  generation_.fetch_add(1);
  return m;
}

bool RouteTable::remove(const MemberPtr& m) {
  std::unique_lock lock(mutex_);
  auto it = members_.find(m->id);
  if (it == members_.end()) return false;
  auto& g = groups_[it->second.second];
  std::erase(g.members, m);
  g.concurrency -= m->concurrency;
  g.group->limit = std::max(1, g.concurrency);
  trie_.remove(m->pattern, static_cast<int>(m->id));
  members_.erase(it);
  routes_.clear();
  generation_.fetch_add(1);
  return true;
}

Routes RouteTable::routes_for(const std::string& type) {
  // Publishing threads usually send the same type again and again: a
  // per-thread copy of the last routes, valid while no subscription changed,
  // saves the shared lock and the hash on the hot path.
  struct Cached {
    std::uint64_t table = 0, generation = 0;
    std::string type;
    Routes routes;
  };
  thread_local Cached cached;
  std::uint64_t generation = generation_.load();
  if (cached.table == id_ && cached.generation == generation && cached.type == type) return cached.routes;
  Routes routes = lookup(type);
  cached.table = id_;
  cached.generation = generation;
  cached.type = type;
  cached.routes = routes;
  return routes;
}

Routes RouteTable::lookup(const std::string& type) {
  {
    std::shared_lock lock(mutex_);
    auto it = routes_.find(type);
    if (it != routes_.end()) return it->second;
  }
  std::unique_lock lock(mutex_);
  std::vector<int> ids;
  trie_.match(type, ids);
  std::map<std::string, std::vector<MemberPtr>> by_group;
  for (int id : ids) {
    auto it = members_.find(static_cast<std::uint64_t>(id));
    if (it != members_.end()) by_group[it->second.second].push_back(it->second.first);
  }
  auto routes = std::make_shared<std::vector<Route>>();
  for (auto& [name, members] : by_group)
    routes->push_back({groups_[name].group, std::make_shared<const std::vector<MemberPtr>>(std::move(members))});
  if (routes_.size() > 10'000) routes_.clear();  // bound the cache against endless distinct types
  routes_[type] = routes;
  return routes;
}

std::shared_ptr<Group> RouteTable::group(const std::string& name, const std::vector<std::string>& types,
                                         std::vector<std::shared_ptr<const std::vector<MemberPtr>>>& members) {
  std::shared_lock lock(mutex_);
  auto it = groups_.find(name);
  for (const auto& type : types) {
    auto accepting = std::make_shared<std::vector<MemberPtr>>();
    if (it != groups_.end())
      for (const auto& m : it->second.members)
        if (matches(m->pattern, type)) accepting->push_back(m);
    members.push_back(std::move(accepting));
  }
  return it == groups_.end() ? nullptr : it->second.group;
}

}  // namespace herald::memory
