// The webhooks running on one bus, changed by apply(): each is a
// subscription whose handler POSTs; stopping one cancels its subscription,
// which returns once its in-flight deliveries have.

#include "herald/webhook_set.hpp"

#include <atomic>
#include <map>
#include <mutex>

#include "herald/errors.hpp"

namespace herald {

namespace {

struct Counters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
  mutable std::mutex mutex;
  std::string last_error;

  void failure(const char* what) {
    ++failed;
    std::lock_guard lock(mutex);
    last_error = what;
  }
  std::string error() const {
    std::lock_guard lock(mutex);
    return last_error;
  }
};

struct Running {
  WebhookSubscription config;
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  std::unique_ptr<Subscription> subscription;  // null: disabled, or failed to start
};

// Counts what the endpoint answered; the verdict itself stays core's.
std::function<void(const Envelope&)> counted(std::function<void(const Envelope&)> post, std::shared_ptr<Counters> counters) {
  return [post = std::move(post), counters = std::move(counters)](const Envelope& event) {
    try {
      post(event);
    } catch (const std::exception& e) {
      counters->failure(e.what());
      throw;
    }
    ++counters->delivered;
  };
}

// Left running as it is: unchanged, and not a start that failed (a reload retries those).
bool keeps(const Running& r, const WebhookSubscription* wanted) {
  return wanted && wanted->same_as(r.config) && (r.subscription || !wanted->enabled);
}

}  // namespace

struct WebhookSet::State {
  explicit State(EventBus& b) : bus(b) {}
  EventBus& bus;
  std::mutex apply_mutex;          // one apply at a time
  mutable std::mutex list_mutex;   // guards `list` for status()
  std::vector<std::shared_ptr<Running>> list;
};

WebhookSet::WebhookSet(EventBus& bus) : state_(std::make_unique<State>(bus)) {}

WebhookSet::~WebhookSet() {
  try {
    apply({});
  } catch (...) {
    // Stopping cannot be refused; a cancel that threw has already stopped.
  }
}

WebhookChanges WebhookSet::apply(const std::vector<WebhookSubscription>& wanted) {
  std::lock_guard serial(state_->apply_mutex);
  // Check everything before changing anything: a bad list leaves the running set as it is.
  std::map<std::string, std::function<void(const Envelope&)>> posts;
  for (const auto& w : wanted) {
    if (posts.count(w.name)) throw ConfigError("webhooks: the name '" + w.name + "' is used twice");
    WebhookOptions options = w.options;
    options.name = w.name;
    posts[w.name] = webhook_handler(options);
  }

  std::vector<std::shared_ptr<Running>> old;
  {
    std::lock_guard lock(state_->list_mutex);
    old = state_->list;
  }
  auto find_old = [&](const std::string& name) -> std::shared_ptr<Running> {
    for (auto& r : old)
      if (r->config.name == name) return r;
    return nullptr;
  };

  WebhookChanges changes;
  std::vector<std::shared_ptr<Running>> next;
  // Stop first what goes away or changes, so a changed webhook's group never
  // has the old and the new handler at once.
  for (auto& r : old) {
    const WebhookSubscription* still = nullptr;
    for (const auto& w : wanted)
      if (w.name == r->config.name) still = &w;
    if (keeps(*r, still)) continue;
    if (r->subscription) {
      r->subscription->cancel();
      r->subscription.reset();
      if (!still || !still->enabled) changes.stopped.push_back(r->config.name);
    }
  }
  for (const auto& w : wanted) {
    auto before = find_old(w.name);
    if (before && keeps(*before, &w)) {
      next.push_back(before);
      continue;
    }
    auto r = std::make_shared<Running>();
    r->config = w;
    r->config.options.name = w.name;
    if (before) r->counters = before->counters;  // a changed webhook keeps its history
    if (w.enabled) {
      try {
        r->subscription = std::make_unique<Subscription>(state_->bus.subscribe(
            {.pattern = w.pattern, .group = w.group, .concurrency = w.max_in_flight, .retry = w.retry},
            counted(posts[w.name], r->counters)));
        (before && before->config.enabled ? changes.restarted : changes.started).push_back(w.name);
      } catch (const std::exception& e) {
        // The transport refused (a broker down): the others still change,
        // and status() says why this one is not running.
        r->counters->failure(e.what());
      }
    }
    next.push_back(std::move(r));
  }
  std::lock_guard lock(state_->list_mutex);
  state_->list = std::move(next);
  return changes;
}

std::vector<WebhookStatus> WebhookSet::status() const {
  std::lock_guard lock(state_->list_mutex);
  std::vector<WebhookStatus> out;
  for (const auto& r : state_->list) {
    const auto& c = r->config;
    out.push_back({.name = c.name,
                   .pattern = c.pattern,
                   .group = c.group,
                   .mode = c.options.mode == WebhookOptions::Mode::binary ? "binary" : "structured",
                   .endpoint = webhook_endpoint_label(c.options.url),
                   .enabled = c.enabled,
                   .running = r->subscription && r->subscription->active(),
                   .delivered = r->counters->delivered.load(),
                   .failed = r->counters->failed.load(),
                   .last_error = r->counters->error()});
  }
  return out;
}

}  // namespace herald
