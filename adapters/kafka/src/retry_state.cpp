#include "retry_state.hpp"

#include <chrono>

namespace herald::kafka {

namespace {

constexpr const char* h_attempts = "x-herald-retry-attempts";
constexpr const char* h_first_failure = "x-herald-retry-first-failure";
constexpr const char* h_last_error = "x-herald-retry-last-error";
constexpr const char* h_not_before = "x-herald-retry-not-before";
constexpr const char* h_topic = "x-herald-retry-origin-topic";
constexpr const char* h_partition = "x-herald-retry-origin-partition";
constexpr const char* h_offset = "x-herald-retry-origin-offset";

long long number(const HeaderViews& headers, const char* name, long long fallback) {
  const HeaderView* h = find_header(headers, name);
  if (!h) return fallback;
  try {
    return std::stoll(std::string(h->value));
  } catch (const std::exception&) {
    return fallback;
  }
}

}  // namespace

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void RetryState::append_headers(OutRecord& r) const {
  r.headers.emplace_back(h_attempts, std::to_string(attempts));
  if (first_failure.time_since_epoch().count() != 0) r.headers.emplace_back(h_first_failure, format_time(first_failure));
  if (!last_error.empty()) r.headers.emplace_back(h_last_error, last_error.substr(0, 4096));
  r.headers.emplace_back(h_not_before, std::to_string(not_before_ms));
  if (!origin_topic.empty()) {
    r.headers.emplace_back(h_topic, origin_topic);
    r.headers.emplace_back(h_partition, std::to_string(origin_partition));
    r.headers.emplace_back(h_offset, std::to_string(origin_offset));
  }
}

std::optional<RetryState> RetryState::from_headers(const HeaderViews& headers) {
  if (!find_header(headers, h_attempts)) return std::nullopt;
  RetryState s;
  s.attempts = static_cast<int>(number(headers, h_attempts, 0));
  if (const HeaderView* h = find_header(headers, h_first_failure); h && !h->value.empty()) {
    try {
      s.first_failure = parse_time(h->value);
    } catch (const std::exception&) {
      // a damaged time only loses the first-failure stamp
    }
  }
  if (const HeaderView* h = find_header(headers, h_last_error)) s.last_error.assign(h->value);
  s.not_before_ms = number(headers, h_not_before, 0);
  if (const HeaderView* h = find_header(headers, h_topic)) s.origin_topic.assign(h->value);
  s.origin_partition = static_cast<int>(number(headers, h_partition, -1));
  s.origin_offset = number(headers, h_offset, -1);
  return s;
}

}  // namespace herald::kafka
