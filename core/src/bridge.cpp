#include "herald/bridge.hpp"

#include <algorithm>
#include <cctype>

#include "herald/config.hpp"
#include "herald/context.hpp"
#include "herald/errors.hpp"
#include "herald/pattern.hpp"

namespace herald {

namespace {

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

bool valid_label(std::string_view label) {
  return !label.empty() && std::none_of(label.begin(), label.end(), [](unsigned char c) {
    return c == '>' || std::isspace(c) || std::iscntrl(c);
  });
}

// The hop marker read as entries: a transport label, or `bridge>label`.
struct Hops {
  std::vector<std::string> entries;
  int bridges = 0;

  bool names_bridge(std::string_view name) const {
    return std::any_of(entries.begin(), entries.end(), [&](const std::string& e) {
      auto gt = e.find('>');
      return gt != std::string::npos && std::string_view(e).substr(0, gt) == name;
    });
  }
  bool names_transport(std::string_view label) const {
    return std::any_of(entries.begin(), entries.end(), [&](const std::string& e) {
      auto gt = e.find('>');
      return (gt == std::string::npos ? std::string_view(e) : std::string_view(e).substr(gt + 1)) == label;
    });
  }
  std::string_view last_transport() const {
    if (entries.empty()) return {};
    std::string_view e = entries.back();
    auto gt = e.find('>');
    return gt == std::string_view::npos ? e : e.substr(gt + 1);
  }
};

Hops read_hops(const Envelope& event) {
  Hops hops;
  auto it = event.extensions.find(std::string(bridge_via_attribute));
  if (it == event.extensions.end()) return hops;
  if (!it->second.is_string())
    throw DecodeError(std::string(bridge_via_attribute),
                      "bridge: event " + printable(event.id) + ": heraldvia is not a string, so where it has been "
                      "cannot be told; not forwarded");
  const std::string& text = it->second.get_ref<const std::string&>();
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto space = text.find(' ', pos);
    if (space == std::string::npos) space = text.size();
    if (space > pos) {
      hops.entries.emplace_back(text.substr(pos, space - pos));
      if (hops.entries.back().find('>') != std::string::npos) ++hops.bridges;
    }
    pos = space + 1;
  }
  return hops;
}

// Whether the destination can never take the event, whatever the retries:
// a type no route takes, a bad attribute or data over its limit.
bool refused_for_good(const Error& e) {
  return !e.retriable() && (e.code() == ErrorCode::config || e.code() == ErrorCode::decode);
}

}  // namespace

std::string bridge_transport_label(std::string_view url) {
  Url u = Url::parse(url);
  std::string host = u.host;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string label = u.scheme + "://" + host;
  if (u.port) label += ":" + std::to_string(u.port);
  label += "/" + percent_encode(u.path);
  // The options that choose where on the broker events live; the rest
  // (tuning, credentials, TLS files) leave the place the same.
  char sep = '?';
  for (const char* key : {"exchange", "topic", "topic_prefix", "topic_rule"}) {
    auto it = u.query.find(key);
    if (it == u.query.end()) continue;
    label += sep + std::string(key) + "=" + percent_encode(it->second);
    sep = '&';
  }
  return label;
}

Bridge::Bridge(EventBus& from, EventBus& to, BridgeOptions options)
    : from_(from), to_(to), options_(std::move(options)) {
  if (&from_ == &to_) throw ConfigError("bridge: source and destination are the same bus");
  if (options_.group.empty()) throw ConfigError("bridge: group must not be empty (the bridge's group on the source)");
  if (options_.name.empty()) options_.name = options_.group;
  if (!valid_name(options_.name))
    throw ConfigError("bridge: name '" + printable(options_.name) +
                      "' must be letters, digits, '.', '_' or '-' (it is written into every event's heraldvia)");
  auto check_label = [](const char* field, const std::string& label) {
    if (!valid_label(label))
      throw ConfigError(std::string("bridge: ") + field + " '" + printable(label) +
                        "' must be a non-empty name without spaces or '>' (bridge_transport_label of the URL)");
  };
  check_label("from_label", options_.from_label);
  check_label("to_label", options_.to_label);
  if (options_.from_label == options_.to_label)
    throw ConfigError("bridge: source and destination are the same transport ('" +
                      printable(options_.to_label, 256) + "')");
  if (options_.max_hops < 1) throw ConfigError("bridge: max_hops must be at least 1");
  if (options_.hold.count() < 0) throw ConfigError("bridge: hold must not be negative");
  validate_pattern(options_.pattern);
  subscription_ = from_.subscribe(
      {.pattern = options_.pattern,
       .group = options_.group,
       .concurrency = options_.concurrency,
       .retry = options_.retry,
       .start = options_.start},
      [this](const Envelope& event) { forward(event); });
}

Bridge::~Bridge() {
  try {
    stop(std::chrono::seconds(5));
  } catch (...) {
    // A destructor must not throw; stop() only throws on allocation failure.
  }
}

void Bridge::forward(const Envelope& event) {
  Hops hops;
  try {
    hops = read_hops(event);
  } catch (const DecodeError&) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  if (hops.names_bridge(options_.name) || hops.names_transport(options_.to_label)) {
    skipped_loop_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (hops.bridges >= options_.max_hops) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    throw PermanentError("bridge " + options_.name + ": event " + printable(event.id) + " went through " +
                         std::to_string(hops.bridges) + " bridges already (max_hops " +
                         std::to_string(options_.max_hops) + "); not forwarded");
  }
  Envelope out = event;
  std::string via;
  if (auto it = out.extensions.find(std::string(bridge_via_attribute)); it != out.extensions.end())
    via = it->second.get<std::string>();
  if (hops.last_transport() != options_.from_label) via += (via.empty() ? "" : " ") + options_.from_label;
  via += " " + options_.name + ">" + options_.to_label;
  out.extensions[std::string(bridge_via_attribute)] = std::move(via);
  publish_held(out);
  forwarded_.fetch_add(1, std::memory_order_relaxed);
}

void Bridge::publish_held(const Envelope& event) {
  // Published as the event it is: inside this handler the bus would stamp
  // it as one the handled event caused (correlation and causation ids).
  DetachedScope detached;
  const auto give_up = std::chrono::steady_clock::now() + options_.hold;
  auto pause = std::chrono::milliseconds(50);
  while (true) {
    std::string why;
    try {
      to_.publish(event);  // by reference: nothing to stamp, so not copied
      return;
    } catch (const Error& e) {
      if (refused_for_good(e)) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        throw PermanentError("bridge " + options_.name + ": the destination refuses event " + printable(event.id) +
                             " for good: " + e.what());
      }
      why = e.what();
    } catch (const std::exception& e) {
      why = e.what();
    }
    failed_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(error_mutex_);
      last_error_ = why;
    }
    if (stopping_.load() || std::chrono::steady_clock::now() + pause > give_up)
      throw PublishError("bridge " + options_.name + ": the destination did not take event " + printable(event.id) +
                             " (the source redelivers it): " + why,
                         true);
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait_for(lock, pause, [&] { return stopping_.load(); });
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

bool Bridge::stop(std::chrono::milliseconds flush_timeout) {
  std::lock_guard once(stop_call_mutex_);  // a second caller waits for the first to finish
  if (stopped_) return flushed_;
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  // Waits for handlers in flight: each has forwarded its event or given it back.
  subscription_.cancel();
  flushed_ = to_.flush(flush_timeout);
  stopped_ = true;
  return flushed_;
}

BridgeCounts Bridge::counts() const noexcept {
  return {forwarded_.load(), skipped_loop_.load(), refused_.load(), failed_.load()};
}

std::string Bridge::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

}  // namespace herald
