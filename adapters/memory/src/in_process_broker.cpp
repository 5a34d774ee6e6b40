#include "in_process_broker.hpp"

#include "herald/errors.hpp"

namespace herald::memory {

InProcessBroker::InProcessBroker(MemoryOptions options, std::shared_ptr<Scheduler> scheduler,
                                 std::shared_ptr<Metrics> metrics)
    : options_(options),
      scheduler_(std::move(scheduler)),
      metrics_(std::move(metrics)),
      admission_(options_),
      pool_(static_cast<std::size_t>(options.workers)) {}

void InProcessBroker::remove(const MemberPtr& m) {
  if (!routes_.remove(m)) return;
  // No new delivery picks it (the gate is shut for them), and handlers of it
  // on other threads finish first; one cancelling from inside itself is not
  // waited for.
  m->gate.close();
}

void InProcessBroker::publish(std::vector<Envelope>& events) {
  for (auto& e : events) publish_one(e);
}

void InProcessBroker::publish_one(Envelope& event) {
  if (closed_.load(std::memory_order_acquire)) throw ClosedError("memory: bus is closed");
  const Routes& routes = routes_.routes_for(event.type);
  if (routes->empty()) return;
  admission_.reserve(routes->size());
  auto ptr = events_.copy(event, true);
  for (const auto& r : *routes) submit(Task{ptr.get(), ptr, r.group.get(), r.members});
}

void InProcessBroker::publish_ref(const Envelope& event) {
  if (closed_.load(std::memory_order_acquire)) throw ClosedError("memory: bus is closed");
  const Routes& routes = routes_.routes_for(event.type);
  if (routes->empty()) return;
  if (!options_.inline_dispatch || !event.partitionkey.empty()) {
    admission_.reserve(routes->size());
    auto ptr = events_.copy(const_cast<Envelope&>(event), false);  // the one copy an asynchronous delivery needs
    for (const auto& r : *routes) submit(Task{ptr.get(), ptr, r.group.get(), r.members});
    return;
  }
  // Not admitted (counted) until one must wait for a retry: see Task::counted.
  for (const auto& r : *routes) run_unkeyed(Task{&event, nullptr, r.group.get(), r.members, nullptr, false});
}

void InProcessBroker::replay(const std::string& group_name, std::vector<DeadLetter> letters) {
  std::vector<std::string> types;
  types.reserve(letters.size());
  for (const auto& l : letters) types.push_back(l.event.type);
  std::vector<std::shared_ptr<const std::vector<MemberPtr>>> members;
  auto group = routes_.group(group_name, types, members);
  if (!group) throw NotFoundError("memory: no subscriber in group '" + group_name + "' to replay to");
  admission_.reserve(letters.size());
  for (std::size_t i = 0; i < letters.size(); ++i) {
    auto event = std::make_shared<const Envelope>(std::move(letters[i].event));
    submit(Task{event.get(), event, group.get(), members[i]});
  }
}

GroupBacklog InProcessBroker::backlog(const std::string& group_name) {
  GroupBacklog b;
  b.known = true;
  std::vector<std::shared_ptr<const std::vector<MemberPtr>>> none;
  auto group = routes_.group(group_name, {}, none);
  b.dead = dead_letters_.list(group_name).size();
  b.exists = group != nullptr || b.dead > 0;
  if (!group) return b;
  // Two relaxed reads: a figure of the moment, as a queue depth is.
  const std::int64_t waiting = std::max<std::int64_t>(0, group->waiting.load(std::memory_order_relaxed));
  const std::int64_t unfinished = std::max<std::int64_t>(0, group->unfinished.load(std::memory_order_relaxed));
  b.retrying = static_cast<std::uint64_t>(waiting);
  b.pending = static_cast<std::uint64_t>(std::max<std::int64_t>(0, unfinished - waiting));
  return b;
}

void InProcessBroker::close() {
  if (closed_.exchange(true)) return;
  // Handlers already queued on the pool finish; waiting retries are
  // dead-lettered by the timer callback seeing closed_, or now if the
  // scheduler never fires again.
  pool_.join();
  std::unordered_map<std::uint64_t, std::function<void()>> stranded;
  {
    std::lock_guard lock(waiting_mutex_);
    stranded.swap(waiting_);
  }
  for (auto& [_, abandon] : stranded) abandon();
}

}  // namespace herald::memory
