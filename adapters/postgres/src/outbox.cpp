// Appending to the outbox through the application's own transaction.

#include "herald/postgres/outbox.hpp"

#include "rows.hpp"

namespace herald::postgres {

std::vector<std::int64_t> append(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                 std::string_view default_source) {
  return append(tx, events, AppendOptions{.source = std::string(default_source)});
}

std::vector<std::int64_t> append(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                 const AppendOptions& options) {
  if (events.empty()) return {};
  return insert_events(tx, events, options);
}

std::int64_t append(pqxx::transaction_base& tx, Envelope& event, std::string_view default_source) {
  std::vector<Envelope> one;
  one.push_back(std::move(event));
  std::int64_t position = 0;
  try {
    position = append(tx, one, default_source).at(0);
  } catch (...) {
    event = std::move(one[0]);
    throw;
  }
  event = std::move(one[0]);
  return position;
}

std::int64_t append(pqxx::transaction_base& tx, Envelope&& event, std::string_view default_source) {
  Envelope e = std::move(event);
  return append(tx, e, default_source);
}

}  // namespace herald::postgres
