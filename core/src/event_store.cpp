#include "herald/event_store.hpp"

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "herald/pattern.hpp"

namespace herald {

nlohmann::json StoredEvent::to_json() const {
  auto time_or_null = [](const std::optional<Timestamp>& t) -> nlohmann::json {
    return t ? nlohmann::json(format_time(*t)) : nlohmann::json(nullptr);
  };
  nlohmann::json j = {{"position", position},
          {"event", nlohmann::json::parse(encode(event))},
          {"created_at", format_time(created_at)},
          {"delivered_at", time_or_null(delivered_at)},
          {"delivery_attempts", delivery_attempts},
          {"next_attempt_at", time_or_null(next_attempt_at)},
          {"dead_letter", dead_letter},
          {"last_error", last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error)},
          {"skipped_at", time_or_null(skipped_at)}};
  if (!target.empty()) j["target"] = target;
  return j;
}

EventStore::~EventStore() = default;

void EventStore::stand_down(const std::string&) {}

std::vector<TargetStatus> EventStore::target_status(bool count_delivered) {
  std::vector<TargetStatus> out;
  for (auto& target : delivery_targets()) {
    OutboxStatus st = count_delivered ? status(target) : backlog(target);
    out.push_back({std::move(target), st});
  }
  return out;
}

std::int64_t EventStore::append(Envelope& event, const AppendOptions& options) {
  std::vector<Envelope> one;
  one.push_back(std::move(event));
  std::int64_t position = 0;
  try {
    position = append(one, options).at(0);
  } catch (...) {
    event = std::move(one[0]);
    throw;
  }
  event = std::move(one[0]);  // with the id and time the store filled in
  return position;
}

std::int64_t EventStore::append(Envelope&& event, const AppendOptions& options) {
  Envelope e = std::move(event);
  return append(e, options);
}

StoredEvent EventStore::get(const std::string& id) {
  auto found = find(id);
  if (!found) throw NotFoundError("no event with id '" + id + "' in " + describe());
  return std::move(*found);
}

void EventFilter::validate() const {
  if (!type_pattern.empty()) validate_pattern(type_pattern);
  if (from_position < 0) throw ConfigError("event filter: from position must not be negative");
  if (to_position < from_position)
    throw ConfigError("event filter: to position " + std::to_string(to_position) + " is before from position " +
                      std::to_string(from_position));
  if (!aggregate_id.empty() && aggregate_type.empty())
    throw ConfigError("event filter: an aggregate id needs its aggregate type");
}

bool EventFilter::accepts(std::int64_t position, const Envelope& event) const {
  if (position < from_position || position > to_position) return false;
  if (!aggregate_type.empty() && event.aggregatetype != aggregate_type) return false;
  if (!aggregate_id.empty() && event.aggregateid != aggregate_id) return false;
  return type_pattern.empty() || matches(type_pattern, event.type);
}

}  // namespace herald
