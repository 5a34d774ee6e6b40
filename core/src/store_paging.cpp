// The paging rules of EventStore::timeline() and scan(), shared by the
// stores: they only run the query these describe.

#include <algorithm>

#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

namespace herald {

TimelineQuery timeline_query(const std::string& aggregate_type, const std::string& aggregate_id,
                             const std::string& cursor, std::size_t limit) {
  if (aggregate_type.empty() || aggregate_id.empty())
    throw ConfigError("timeline: aggregate type and id are both required");
  if (limit == 0 || limit > max_timeline_page)
    throw ConfigError("timeline: limit must be from 1 to " + std::to_string(max_timeline_page));
  return {.after = cursor.empty() ? 0 : parse_cursor(cursor), .rows = limit + 1, .limit = limit};
}

EventPage TimelineQuery::page(std::vector<StoredEvent> read) const {
  EventPage page;
  if (read.size() > limit) {
    read.resize(limit);
    page.next_cursor = make_cursor(read.back().position);
  }
  page.events = std::move(read);
  return page;
}

ScanQuery scan_query(const EventFilter& filter, std::int64_t after, std::size_t limit) {
  filter.validate();
  if (limit == 0) throw ConfigError("scan: limit must be at least 1");
  // An exact type narrows the query itself; a pattern is matched row by row.
  bool exact_type = !filter.type_pattern.empty() && filter.type_pattern.find_first_of("*#") == std::string::npos;
  return {.filter = filter,
          .after = after,
          .read_after = std::max(after, filter.from_position - 1),
          .exact_type = exact_type ? filter.type_pattern : std::string(),
          .limit = limit};
}

ScanResult ScanQuery::result(std::vector<StoredEvent> read, const std::function<std::int64_t()>& last_position) const {
  ScanResult result;
  result.scanned_to = read.empty() ? after : read.back().position;
  result.finished = read.size() < limit;
  for (auto& row : read)
    if (filter.accepts(row.position, row.event)) result.events.push_back(std::move(row));
  // Nothing left to read: the step covered the range up to the store's end,
  // beyond the last row it read.
  if (result.finished) result.scanned_to = std::max(result.scanned_to, std::min(filter.to_position, last_position()));
  return result;
}

}  // namespace herald
