#pragma once
// What a record in a retry topic carries besides the event: how often the
// handler ran, since when it fails, when it may run again, and where the
// event first arrived (for the dead-letter record).

#include <cstdint>
#include <optional>
#include <string>

#include "binding.hpp"
#include "herald/envelope.hpp"

namespace herald::kafka {

struct RetryState {
  int attempts = 0;  // handler runs so far (0: a replayed dead letter starts afresh)
  Timestamp first_failure{};
  std::string last_error;
  std::int64_t not_before_ms = 0;  // Unix epoch milliseconds; 0: at once
  std::string origin_topic;
  int origin_partition = -1;
  std::int64_t origin_offset = -1;

  /// Appends the `x-herald-retry-*` headers.
  void append_headers(OutRecord& record) const;
  /// Reads them back; nullopt when the record has none (not from a retry topic).
  static std::optional<RetryState> from_headers(const HeaderViews& headers);
};

std::int64_t epoch_ms_now();

}  // namespace herald::kafka
