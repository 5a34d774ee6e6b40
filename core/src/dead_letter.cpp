#include "herald/dead_letter.hpp"

#include <algorithm>

#include "herald/codec.hpp"
#include "herald/errors.hpp"

namespace herald {

namespace {

std::string time_or_empty(Timestamp t) { return t.time_since_epoch().count() ? format_time(t) : std::string(); }
Timestamp time_or_zero(const std::string& s) { return s.empty() ? Timestamp{} : parse_time(s); }

}  // namespace

nlohmann::json DeadLetter::to_json() const {
  nlohmann::json j = {{"group", group},
                      {"reason", reason},
                      {"attempts", attempts},
                      {"first_failure", time_or_empty(first_failure)},
                      {"last_failure", time_or_empty(last_failure)},
                      {"last_error", last_error}};
  if (!event.id.empty()) j["event"] = nlohmann::json::parse(encode(event));
  if (!raw_body.empty()) j["raw_body"] = raw_body;
  if (!routing_key.empty()) j["routing_key"] = routing_key;
  if (!topic.empty()) {
    j["topic"] = topic;
    j["partition"] = partition;
    j["offset"] = offset;
  }
  return j;
}

DeadLetter DeadLetter::from_json(const nlohmann::json& j) {
  DeadLetter d;
  try {
    d.group = j.value("group", "");
    d.reason = j.value("reason", "");
    d.attempts = j.value("attempts", 0);
    d.first_failure = time_or_zero(j.value("first_failure", ""));
    d.last_failure = time_or_zero(j.value("last_failure", ""));
    d.last_error = j.value("last_error", "");
    if (j.contains("event")) d.event = decode(j.at("event").dump());
    d.raw_body = j.value("raw_body", "");
    d.routing_key = j.value("routing_key", "");
    d.topic = j.value("topic", "");
    d.partition = j.value("partition", -1);
    d.offset = j.value("offset", static_cast<std::int64_t>(-1));
  } catch (const nlohmann::json::exception& ex) {
    throw DecodeError("dead_letter", std::string("dead letter record: ") + ex.what());
  }
  return d;
}

std::map<std::string, std::string> DeadLetter::to_headers() const {
  std::map<std::string, std::string> h{{"x-herald-dl-group", group},
                                       {"x-herald-dl-reason", reason},
                                       {"x-herald-dl-attempts", std::to_string(attempts)},
                                       {"x-herald-dl-first-failure", time_or_empty(first_failure)},
                                       {"x-herald-dl-last-failure", time_or_empty(last_failure)},
                                       {"x-herald-dl-last-error", last_error.substr(0, 4096)}};
  if (!routing_key.empty()) h["x-herald-dl-routing-key"] = routing_key;
  if (!topic.empty()) {
    h["x-herald-dl-topic"] = topic;
    h["x-herald-dl-partition"] = std::to_string(partition);
    h["x-herald-dl-offset"] = std::to_string(offset);
  }
  return h;
}

DeadLetter DeadLetter::from_headers(const std::map<std::string, std::string>& h) {
  auto get = [&](const char* k) {
    auto it = h.find(k);
    return it == h.end() ? std::string() : it->second;
  };
  auto num = [&](const char* k, long long fallback) {
    auto v = get(k);
    try {
      return v.empty() ? fallback : std::stoll(v);
    } catch (const std::exception&) {
      return fallback;
    }
  };
  DeadLetter d;
  d.group = get("x-herald-dl-group");
  d.reason = get("x-herald-dl-reason");
  d.attempts = static_cast<int>(num("x-herald-dl-attempts", 0));
  d.first_failure = time_or_zero(get("x-herald-dl-first-failure"));
  d.last_failure = time_or_zero(get("x-herald-dl-last-failure"));
  d.last_error = get("x-herald-dl-last-error");
  d.routing_key = get("x-herald-dl-routing-key");
  d.topic = get("x-herald-dl-topic");
  d.partition = static_cast<int>(num("x-herald-dl-partition", -1));
  d.offset = num("x-herald-dl-offset", -1);
  return d;
}

void DeadLetterStore::add(DeadLetter letter) {
  std::lock_guard lock(mutex_);
  letters_.push_back(std::move(letter));
}

std::vector<DeadLetter> DeadLetterStore::list(const std::string& group, std::size_t limit) const {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> out;
  for (const auto& l : letters_)
    if ((group.empty() || l.group == group) && out.size() < limit) out.push_back(l);
  return out;
}

std::vector<DeadLetter> DeadLetterStore::take(const std::string& group, const std::optional<std::string>& id) {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> out;
  auto keep = std::stable_partition(letters_.begin(), letters_.end(), [&](const DeadLetter& l) {
    return !((group.empty() || l.group == group) && (!id || l.event.id == *id));
  });
  std::move(keep, letters_.end(), std::back_inserter(out));
  letters_.erase(keep, letters_.end());
  return out;
}

std::size_t DeadLetterStore::size() const {
  std::lock_guard lock(mutex_);
  return letters_.size();
}

}  // namespace herald
