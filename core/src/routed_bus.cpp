#include "herald/routed_bus.hpp"

#include <algorithm>
#include <set>

#include "cross_target_dedup.hpp"
#include "herald/errors.hpp"
#include "herald/idempotency_store.hpp"
#include "herald/pattern.hpp"

namespace herald {

// The routes and what they resolve to, immutable once built: shared with the
// filters of subscriptions, which may run after a reconfiguration of nothing.
struct RoutedBus::Table {
  std::vector<Route> routes;
  std::vector<std::string> urls;                      // target i's URL
  std::vector<std::vector<std::size_t>> publish_to;   // per route: target indices
  std::vector<std::vector<char>> reads;               // per route: reads[r][target]
  PatternTrie trie;                                   // pattern → route index

  std::size_t index_of(const std::string& url) const {
    return static_cast<std::size_t>(std::find(urls.begin(), urls.end(), url) - urls.begin());
  }
  // The first route matching `type`, or routes.size().
  std::size_t route_of(std::string_view type) const {
    std::vector<int> hits;
    trie.match(type, hits);
    if (hits.empty()) return routes.size();
    return static_cast<std::size_t>(*std::min_element(hits.begin(), hits.end()));
  }
  // The route of an event about to be published; ConfigError when none matches.
  std::size_t route_for_publish(const std::string& type) const {
    const std::size_t r = route_of(type);
    if (r == routes.size())
      throw ConfigError("routed bus: no route matches type '" + type + "' (add a route, or a last route '#')");
    return r;
  }
  bool reads_from(std::string_view type, std::size_t target) const {
    std::size_t r = route_of(type);
    return r < routes.size() && reads[r][target];
  }
  std::vector<std::size_t> read_targets() const {
    std::vector<std::size_t> out;
    for (std::size_t t = 0; t < urls.size(); ++t)
      for (const auto& r : reads)
        if (r[t]) {
          out.push_back(t);
          break;
        }
    return out;
  }
};

RoutedBus::RoutedBus(std::vector<Route> routes, std::vector<Target> targets, std::shared_ptr<Metrics> metrics,
                     DecodeOptions decode, std::string default_source, std::shared_ptr<IdempotencyStore> marks)
    : Transport(std::move(metrics), decode, std::move(default_source)),
      targets_(std::move(targets)),
      marks_(marks ? std::move(marks)
                   : std::make_shared<MemoryIdempotencyStore>(1'000'000, std::chrono::hours(1))) {
  if (routes.empty()) throw ConfigError("config: the route table is empty");
  validate_routes(routes);
  auto table = std::make_shared<Table>();
  for (const auto& t : targets_) {
    if (!t.bus) throw ConfigError("config: target '" + redact_url(t.url) + "' has no bus");
    if (table->index_of(t.url) != table->urls.size())
      throw ConfigError("config: target '" + redact_url(t.url) + "' is given twice");
    table->urls.push_back(t.url);
  }
  std::vector<char> named(targets_.size(), 0);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    auto resolve = [&](const std::string& url) {
      std::size_t t = table->index_of(url);
      if (t == table->urls.size())
        throw ConfigError("config: " + route_name(routes, i) + ": no bus for target '" + redact_url(url) + "'");
      named[t] = 1;
      return t;
    };
    std::vector<std::size_t> publish;
    for (const auto& url : routes[i].publish) publish.push_back(resolve(url));
    std::vector<char> reads(targets_.size(), 0);
    for (const auto& url : routes[i].read_from()) reads[resolve(url)] = 1;
    table->publish_to.push_back(std::move(publish));
    table->reads.push_back(std::move(reads));
    table->trie.add(routes[i].match, static_cast<int>(i));
  }
  for (std::size_t t = 0; t < targets_.size(); ++t)
    if (!named[t]) throw ConfigError("config: target '" + redact_url(targets_[t].url) + "' is named by no route");
  table->routes = std::move(routes);
  table_ = std::move(table);
}

RoutedBus::~RoutedBus() { close(); }

const std::vector<Route>& RoutedBus::routes() const noexcept { return table_->routes; }

const Route* RoutedBus::route_for(std::string_view type) const {
  std::size_t r = table_->route_of(type);
  return r < table_->routes.size() ? &table_->routes[r] : nullptr;
}

EventBus& RoutedBus::target(std::string_view url) const {
  for (const auto& t : targets_)
    if (t.url == url) return *t.bus;
  throw NotFoundError("routed bus: no target '" + redact_url(url) + "'");
}

std::vector<std::string> RoutedBus::subscribe_targets(std::string_view pattern) const {
  const Table& table = *table_;
  std::vector<char> wanted(table.urls.size(), 0);
  std::vector<std::string> earlier;
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    // Types this route takes (it matches them, no earlier route does) that
    // the subscription wants: a route shadowed for this pattern adds nothing.
    if (find_type({std::string(pattern), table.routes[r].match}, earlier))
      for (std::size_t t = 0; t < table.urls.size(); ++t) wanted[t] |= table.reads[r][t];
    earlier.push_back(table.routes[r].match);
  }
  std::vector<std::string> out;
  for (std::size_t t = 0; t < table.urls.size(); ++t)
    if (wanted[t]) out.push_back(table.urls[t]);
  return out;
}

void RoutedBus::check_routed(const std::vector<Envelope>& events) const {
  for (const auto& e : events) table_->route_for_publish(e.type);
}

// ---- transport hooks: publish and subscribe through the targets ----

void RoutedBus::do_publish(ext::Outgoing events) {
  {
    std::lock_guard lock(close_mutex_);
    if (closed_) throw ClosedError("routed bus: publish after close");
  }
  if (events.size() == 1) {  // the common case: no per-target batches to build
    const auto& to = table_->publish_to[table_->route_for_publish(events[0].type)];
    for (std::size_t k = 0; k + 1 < to.size(); ++k) targets_[to[k]].bus->publish(events[0]);
    if (events.owned()) targets_[to.back()].bus->publish(std::move(events.own(0)));
    else targets_[to.back()].bus->publish(events[0]);
    return;
  }
  // All or nothing: a type no route takes is refused before any target has one.
  std::vector<std::size_t> route(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) route[i] = table_->route_for_publish(events[i].type);
  std::vector<std::vector<Envelope>> per_target(targets_.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& to = table_->publish_to[route[i]];
    for (std::size_t k = 0; k < to.size(); ++k)
      per_target[to[k]].push_back(k + 1 == to.size() ? events.take(i) : Envelope(events[i]));
  }
  for (std::size_t t = 0; t < targets_.size(); ++t)
    if (!per_target[t].empty()) targets_[t].bus->publish(std::move(per_target[t]));
}

Subscription RoutedBus::do_subscribe(const SubscribeSpec& spec, Invoker invoke) {
  const std::vector<std::string> urls = subscribe_targets(spec.pattern);
  if (urls.empty())
    throw ConfigError("subscribe '" + spec.pattern + "': no route reads events this pattern matches");
  auto handles = std::make_shared<std::vector<Subscription>>();
  // Copies of one event from several targets: one run per group.
  std::shared_ptr<detail::CrossTargetDedup> dedup;
  if (urls.size() > 1) dedup = std::make_shared<detail::CrossTargetDedup>(marks_, spec.group);
  for (const auto& url : urls) {
    const std::size_t t = table_->index_of(url);
    // The target runs the handler through `invoke` (this bus's metrics and
    // context) and retries or dead-letters what failed, as OutboxBus does.
    handles->push_back(targets_[t].bus->subscribe(
        spec, [table = table_, t, invoke, dedup](const Envelope& event) {
          // Events of a type routed elsewhere (another service's table, a
          // bridge) are not this subscription's to handle here.
          if (!table->reads_from(event.type, t)) return;
          std::optional<Attempt> ran = dedup ? dedup->run(event, t, invoke) : std::optional<Attempt>(invoke(event));
          if (!ran) return;  // applied from another target
          Attempt& attempt = *ran;
          if (!attempt.ok && attempt.exception) std::rethrow_exception(attempt.exception);
          if (!attempt.ok) throw Error(ErrorCode::handler, attempt.error, attempt.retriable);
        }));
  }
  return Subscription([handles] {
    for (auto& h : *handles) h.cancel();
  });
}

// ---- the rest fans out over the targets ----

bool RoutedBus::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto published = [&] {
    std::uint64_t n = 0;
    for (const auto& t : targets_) n += t.bus->metrics().snapshot().total_published();
    return n;
  };
  // A handler on one target may publish to another after that one was
  // flushed: flush again until a round publishes nothing new.
  for (std::uint64_t before = published();;) {
    for (const auto& t : targets_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (!t.bus->flush(std::max(left, std::chrono::milliseconds::zero()))) return false;
    }
    const std::uint64_t after = published();
    if (after == before) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;  // still publishing
    before = after;
  }
}

void RoutedBus::close() {
  {
    std::lock_guard lock(close_mutex_);
    if (closed_) return;
    closed_ = true;
  }
  for (auto& t : targets_) t.bus->close();
}

std::vector<DeadLetter> RoutedBus::dead_letters(const std::string& group, std::size_t limit) {
  std::vector<DeadLetter> all;
  for (std::size_t t : table_->read_targets()) {
    auto some = targets_[t].bus->dead_letters(group, limit);
    all.insert(all.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const DeadLetter& a, const DeadLetter& b) { return a.first_failure < b.first_failure; });
  if (all.size() > limit) all.resize(limit);
  return all;
}

std::size_t RoutedBus::replay_dead_letters(const std::string& group, const std::optional<std::string>& id) {
  std::size_t n = 0;
  std::optional<NotFoundError> missing;
  bool found = false;
  for (std::size_t t : table_->read_targets()) {
    // A group subscribed on some targets only has nothing to replay on the others.
    try {
      n += targets_[t].bus->replay_dead_letters(group, id);
      found = true;
    } catch (const NotFoundError& ex) {
      if (!missing) missing = ex;
    }
  }
  if (!found && missing) throw *missing;
  return n;
}

std::size_t RoutedBus::purge_dead_letters(const std::string& group) {
  std::size_t n = 0;
  for (std::size_t t : table_->read_targets()) n += targets_[t].bus->purge_dead_letters(group);
  return n;
}

GroupBacklog RoutedBus::do_backlog(const std::string& group, const std::string& pattern) {
  GroupBacklog sum;
  sum.known = true;
  for (const auto& url : subscribe_targets(pattern)) {
    const GroupBacklog one = target(url).backlog(group, pattern);
    sum.known &= one.known;
    sum.exists |= one.exists;
    sum.pending += one.pending;
    sum.retrying += one.retrying;
    sum.dead += one.dead;
  }
  return sum;
}

std::size_t RoutedBus::do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                                 const std::function<void(const DeadLetter&)>& hand) {
  std::size_t n = 0;
  for (std::size_t t : table_->read_targets()) n += targets_[t].bus->hand_over_dead_letters(group, id, hand);
  return n;
}

Features RoutedBus::features() const {
  Features f;
  f.persistent = f.simulated_time = f.ordered_per_key = f.broker = f.history = true;
  std::string names;
  for (const auto& t : targets_) {
    Features g = t.bus->features();
    names += (names.empty() ? "" : "+") + g.name;
    f.persistent &= g.persistent;
    f.simulated_time &= g.simulated_time;
    f.ordered_per_key &= g.ordered_per_key;
    f.broker &= g.broker;
    f.history &= g.history;
  }
  f.name = "routed(" + names + ")";
  for (const auto& reads : table_->reads) f.dedups_ids |= std::count(reads.begin(), reads.end(), 1) > 1;
  return f;
}

std::unique_ptr<RoutedBus> make_routed_bus(const BusConfig& config) {
  if (!config.options.empty()) {
    std::string keys;
    for (const auto& [k, _] : config.options) keys += (keys.empty() ? "'" : ", '") + k + "'";
    throw ConfigError("config: options " + keys +
                      " apply to 'url' alone; with routes, give each target's options in its URL's query");
  }
  validate_routes(config.routes);
  // One view of the counts: this bus counts publishes and handler runs, the
  // targets the retries and dead letters they carry out.
  auto metrics = config.metrics ? config.metrics : std::make_shared<Metrics>();
  std::vector<RoutedBus::Target> targets;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const Route& route = config.routes[i];
    for (const auto* list : {&route.publish, &route.subscribe}) {
      for (const auto& url : *list) {
        if (std::any_of(targets.begin(), targets.end(), [&](const auto& t) { return t.url == url; })) continue;
        BusConfig one = BusConfig::from_url(url);
        one.source = config.source;
        one.decode = config.decode;
        one.scheduler = config.scheduler;
        one.metrics = std::make_shared<Metrics>();
        metrics->include_verdicts_of(one.metrics);
        try {
          targets.push_back({url, make_bus(one)});
        } catch (const ConfigError& ex) {
          throw ConfigError("config: " + route_name(config.routes, i) + ": " + ex.what());
        }
      }
    }
  }
  std::shared_ptr<IdempotencyStore> marks;
  if (config.dedup_store == "memory") {
    marks = std::make_shared<MemoryIdempotencyStore>(1'000'000, config.dedup_window, config.scheduler);
  } else {
    try {
      marks = open_idempotency_store(config.dedup_store, {.ttl = config.dedup_window});
    } catch (const ConfigError& ex) {
      throw ConfigError(std::string("config: dedup: ") + ex.what());
    }
  }
  return std::make_unique<RoutedBus>(config.routes, std::move(targets), std::move(metrics), config.decode,
                                     config.source, std::move(marks));
}

}  // namespace herald
