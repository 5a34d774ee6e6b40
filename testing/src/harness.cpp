#include "herald/testing/harness.hpp"

#include <sstream>
#include <stdexcept>
#include <thread>

namespace herald::testing {

namespace {

// Dead letters are few in a test; the cap only bounds a runaway one.
constexpr std::size_t dead_letter_read_limit = 100000;

using Consumer = MetricsSnapshot::Consumer;

std::uint64_t sum_consumers(const MetricsSnapshot& s, const std::string& type, const std::string& group,
                            std::uint64_t Consumer::*field) {
  std::uint64_t n = 0;
  for (const auto& [key, c] : s.consumed) {
    if ((type.empty() || key.first == type) && (group.empty() || key.second == group)) n += c.*field;
  }
  return n;
}

bool is_memory(const std::string& url) { return url.rfind("memory:", 0) == 0; }

}  // namespace

bool Count::wait_for(std::uint64_t n, std::chrono::milliseconds timeout) const {
  // Polling the bus's counters: they have no notification, and the deadline,
  // not the pause, is what a test asserts on.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count() < n) {
    if (std::chrono::steady_clock::now() >= deadline) return count() >= n;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

Harness::Harness(EventBus& bus, std::shared_ptr<ManualScheduler> clock)
    : bus_(&bus),
      clock_(std::move(clock)),
      scheduled_before_(clock_ ? clock_->scheduled() : 0),
      baseline_(bus.metrics().snapshot()) {}

Harness::Harness(BusConfig config) {
  if (!config.scheduler && config.routes.empty() && is_memory(config.url)) {
    clock_ = std::make_shared<ManualScheduler>();
    config.scheduler = clock_;
  }
  owned_ = make_bus(config);
  bus_ = owned_.get();
  if (clock_) scheduled_before_ = clock_->scheduled();
  baseline_ = bus_->metrics().snapshot();
}

Harness::~Harness() = default;

std::uint64_t Harness::since_start(const std::function<std::uint64_t(const MetricsSnapshot&)>& read) const {
  std::uint64_t now = read(bus_->metrics().snapshot());
  std::uint64_t before = read(baseline_);
  return now > before ? now - before : 0;
}

Count Harness::published(const std::string& type) const {
  return Count([this, type] {
    return since_start([&](const MetricsSnapshot& s) -> std::uint64_t {
      if (type.empty()) return s.total_published();
      auto it = s.published.find(type);
      return it == s.published.end() ? 0 : it->second;
    });
  });
}

Count Harness::consumed(const std::string& type, const std::string& group) const {
  return Count([this, type, group] {
    return since_start([&](const MetricsSnapshot& s) { return sum_consumers(s, type, group, &Consumer::delivered); });
  });
}

Count Harness::failed(const std::string& type, const std::string& group) const {
  return Count([this, type, group] {
    return since_start([&](const MetricsSnapshot& s) { return sum_consumers(s, type, group, &Consumer::failed_attempts); });
  });
}

Count Harness::retried(const std::string& type, const std::string& group) const {
  return Count([this, type, group] {
    return since_start([&](const MetricsSnapshot& s) { return sum_consumers(s, type, group, &Consumer::retried); });
  });
}

Count Harness::dead_lettered(const std::string& type, const std::string& group) const {
  return Count([this, type, group] {
    return since_start([&](const MetricsSnapshot& s) { return sum_consumers(s, type, group, &Consumer::dead_lettered); });
  });
}

Count Harness::dead_letters(const std::string& group) const {
  return Count([this, group] { return static_cast<std::uint64_t>(bus_->dead_letters(group, dead_letter_read_limit).size()); });
}

bool Harness::no_dead_letters() const {
  if (dead_lettered({}, {}).count() != 0) return false;
  // Letters the counters do not see: decode errors before any handler ran.
  std::vector<std::string> groups;
  {
    std::lock_guard lock(recorded_->mutex);
    for (const auto& [group, runs] : recorded_->runs) groups.push_back(group);
  }
  for (const auto& group : groups) {
    if (dead_letters(group).count() != 0) return false;
  }
  return true;
}

Handler Harness::handler(const std::string& group, Handler fn) {
  {
    std::lock_guard lock(recorded_->mutex);
    recorded_->runs[group];  // a group that saw nothing is still known
  }
  return [recorded = recorded_, group, fn = std::move(fn)](const Envelope& e) {
    try {
      fn(e);
    } catch (...) {
      std::lock_guard lock(recorded->mutex);
      ++recorded->runs[group][e.id].failed;
      throw;
    }
    std::lock_guard lock(recorded->mutex);
    ++recorded->runs[group][e.id].applied;
  };
}

bool Harness::each_event_applied_once(const std::string& group) const {
  std::lock_guard lock(recorded_->mutex);
  auto it = recorded_->runs.find(group);
  if (it == recorded_->runs.end() || it->second.empty()) return false;
  for (const auto& [id, runs] : it->second) {
    if (runs.applied != 1) return false;
  }
  return true;
}

int Harness::applications(const std::string& group, const std::string& id) const {
  std::lock_guard lock(recorded_->mutex);
  auto g = recorded_->runs.find(group);
  if (g == recorded_->runs.end()) return 0;
  auto r = g->second.find(id);
  return r == g->second.end() ? 0 : r->second.applied;
}

void Harness::advance(std::chrono::milliseconds by) {
  if (!clock_) throw std::logic_error("herald::testing::Harness::advance: the bus runs in real time (no ManualScheduler)");
  // A worker counts a failed attempt, then decides on it: a retry (counted,
  // then its timer handed to the clock) or a dead letter. Moving the clock
  // before a retry's timer is on it leaves that timer behind, due a whole
  // delay after the move. So wait until every failure counted is decided
  // and every retry has its timer (one each); a caller that waited only for
  // the failure could otherwise move the clock too early.
  auto since = [&](std::uint64_t Consumer::*field) {
    return since_start([&](const MetricsSnapshot& s) { return sum_consumers(s, "", "", field); });
  };
  auto ready = [&] {
    // The failures first: the verdicts read after them can only have grown.
    const auto failures = since(&Consumer::failed_attempts);
    const auto retries = since(&Consumer::retried);
    return retries + since(&Consumer::dead_lettered) >= failures && clock_->scheduled() - scheduled_before_ >= retries;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!ready() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  clock_->advance(by);
}

bool Harness::settle(const Count& count, std::uint64_t n, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds step) {
  if (!clock_) return count.wait_for(n, timeout);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // A short real wait between steps lets the workers take what fell due
  // before the clock moves again.
  while (!count.wait_for(n, std::chrono::milliseconds(10))) {
    if (std::chrono::steady_clock::now() >= deadline) return count.count() >= n;
    clock_->advance(step);
  }
  return true;
}

std::string Harness::summary() const {
  MetricsSnapshot now = bus_->metrics().snapshot();
  std::ostringstream out;
  for (const auto& [type, n] : now.published) {
    auto before = baseline_.published.count(type) ? baseline_.published.at(type) : 0;
    out << "published " << type << ": " << (n - before) << "\n";
  }
  for (const auto& [key, c] : now.consumed) {
    Consumer before;
    if (auto it = baseline_.consumed.find(key); it != baseline_.consumed.end()) before = it->second;
    out << "group " << key.second << ", " << key.first << ": consumed " << (c.delivered - before.delivered)
        << ", failed " << (c.failed_attempts - before.failed_attempts) << ", retried " << (c.retried - before.retried)
        << ", dead-lettered " << (c.dead_lettered - before.dead_lettered) << "\n";
  }
  std::lock_guard lock(recorded_->mutex);
  for (const auto& [group, runs] : recorded_->runs) {
    for (const auto& [id, r] : runs) {
      if (r.applied != 1) out << "group " << group << ", event " << id << ": applied " << r.applied << " times\n";
    }
  }
  return out.str();
}

}  // namespace herald::testing
