#pragma once
// Durable idempotency stores (SQLite, PostgreSQL) opened by URL, for the
// idempotent-consumer wrapper in herald/idempotency.hpp.

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "herald/envelope.hpp"
#include "herald/idempotency.hpp"

namespace herald {

struct IdempotencyStoreOptions {
  /// A completed mark is forgotten after this long (expired marks are
  /// deleted as the store is used).
  std::chrono::milliseconds ttl = std::chrono::hours(24 * 7);
  /// A claim whose worker neither completed nor released it (it crashed) is
  /// taken over after this long.
  std::chrono::milliseconds claim_timeout = std::chrono::minutes(5);
  /// The clock marks expire by; null: the system clock. Tests pass a
  /// simulated one.
  std::function<Timestamp()> clock;
};

/// Opens the idempotency table in the database at `url` (the same URLs as
/// open_event_store; the table lives beside the events). The marks written
/// here are separate from the handler's own writes; to commit both in one
/// transaction use herald::sqlite::idempotent / herald::postgres::idempotent.
///
/// \code
///   auto marks = herald::open_idempotency_store("sqlite:///var/lib/mailer/marks.db");
///   bus->subscribe({.pattern = "order.paid", .group = "mailer"},
///                  herald::idempotent(marks, "mailer", send_receipt));
/// \endcode
std::shared_ptr<IdempotencyStore> open_idempotency_store(std::string_view url, IdempotencyStoreOptions options = {});

}  // namespace herald
