// The relay's batches. Where the store allows it
// (EventStore::claims_past_in_flight), the store's side of a batch runs
// beside the transport's: while batch N is published, batch N-1's outcome
// is recorded and batch N+1 claimed, side by side, passing over the rows of
// N and N-1 (LeaseRequest::in_flight). A key's rows still go out in order:
// batches are published one after the other, and the rows of N+1 whose key
// did not get through in N or N-1 are released, not published (N+1 was
// claimed before those failures were recorded).

#include "relay_batches.hpp"

#include <exception>
#include <future>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "herald/errors.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/store.hpp"

namespace herald::detail {

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Dead rows show in the bus metrics as group "outbox" (herald_dead_letters_total{reason="max_attempts"}).
constexpr const char* relay_group = "outbox";

Timestamp clock_now(const RelayOptions& o) { return o.clock ? o.clock() : now_micros(); }

// A failure that may be the transport's as a whole (broker unreachable,
// timed out, closed) rather than this event's: it must not spend the row's
// attempts. Whether it was is told by the next row tried (one_by_one).
bool maybe_transport_wide(const std::exception& ex) {
  auto* e = dynamic_cast<const Error*>(&ex);
  if (!e) return false;
  return e->retriable() || e->code() == ErrorCode::closed;
}

struct Claimed {
  std::vector<StoredEvent> rows;
  std::size_t count = 0;  // as claimed, before rows of a held key were dropped
  SteadyTime lease_end;
};

// What publishing a batch came to, for the store to record.
struct Outcome {
  std::vector<std::int64_t> delivered, untried;
  std::vector<DeliveryFailure> failures;
  std::set<std::string> held_keys;  // ordering keys of rows not delivered
  std::optional<std::string> down;  // the transport was found down
  SteadyTime lease_end;
};

// What recording an outcome did; counted apart from RelayStats because it
// may run on the claiming thread.
struct Settled {
  std::uint64_t delivered = 0;
  std::uint64_t mark_retries = 0;
};

Claimed claim_batch(EventStore& store, const RelayOptions& o, std::vector<std::int64_t> in_flight) {
  LeaseRequest request{.now = clock_now(o), .lease = o.lease, .owner = o.owner, .limit = o.batch_size,
                       .target = o.target, .in_flight = std::move(in_flight)};
  Claimed c;
  c.lease_end = std::chrono::steady_clock::now() + o.lease;
  c.rows = store.claim(request);
  c.count = c.rows.size();
  return c;
}

std::vector<std::int64_t> positions_of(const std::vector<StoredEvent>& rows) {
  std::vector<std::int64_t> positions;
  positions.reserve(rows.size());
  for (const auto& r : rows) positions.push_back(r.position);
  return positions;
}

// Gives back rows claimed ahead that will not be published now. Best
// effort: rows not released come back when their lease runs out.
void release_quietly(EventStore& store, const RelayOptions& o, const std::vector<std::int64_t>& positions) noexcept {
  if (positions.empty()) return;
  try {
    store.release(positions, o.owner, o.target);
  } catch (...) {
  }
}

// The rows are published: publishing them again because the store failed
// would send them twice, so only the mark is retried, while the lease keeps
// them ours. Past it the pass fails and the rows go out again after their
// lease (at least once).
void mark_delivered(EventStore& store, const RelayOptions& o, const Outcome& out, Settled& settled) {
  auto delay = std::chrono::milliseconds(10);
  while (true) {
    try {
      store.mark_delivered(out.delivered, clock_now(o), o.target);
      return;
    } catch (const std::exception&) {
      if (std::chrono::steady_clock::now() + delay >= out.lease_end) throw;
    }
    ++settled.mark_retries;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

Settled settle(EventStore& store, const RelayOptions& o, const Outcome& out) {
  Settled settled;
  if (!out.delivered.empty()) mark_delivered(store, o, out, settled);
  settled.delivered = out.delivered.size();
  if (!out.failures.empty()) store.mark_failed(out.failures, o.target);
  if (!out.untried.empty()) store.release(out.untried, o.owner, o.target);
  return settled;
}

// Publishes claimed batches; touches no store.
class Publisher {
 public:
  Publisher(EventBus& bus, const RelayOptions& options, RelayStats& stats)
      : bus_(bus), options_(options), stats_(stats) {}

  Outcome publish(const Claimed& batch) {
    Outcome out;
    out.lease_end = batch.lease_end;
    std::vector<Envelope> events;
    events.reserve(batch.rows.size());
    for (const auto& r : batch.rows) events.push_back(r.event);
    try {
      ++stats_.publish_calls;
      bus_.publish(std::move(events));
      out.delivered = positions_of(batch.rows);
    } catch (...) {
      // The batch call does not say which events were accepted: find out
      // one by one, in order (those accepted already go out twice;
      // consumers are idempotent).
      one_by_one(batch.rows, out);
    }
    return out;
  }

 private:
  void one_by_one(const std::vector<StoredEvent>& rows, Outcome& out) {
    const Timestamp now = clock_now(options_);
    // Rows that failed in a way the transport as a whole may have caused:
    // charged to the row only when a later row (of another key) gets through.
    std::vector<std::pair<const StoredEvent*, std::string>> suspects;
    for (const auto& row : rows) {
      std::string key = ordering_key(row.event);
      if (out.down || (!key.empty() && out.held_keys.count(key))) {
        if (!key.empty()) out.held_keys.insert(key);
        out.untried.push_back(row.position);
        continue;
      }
      try {
        ++stats_.publish_calls;
        bus_.publish(row.event);
        out.delivered.push_back(row.position);
        for (const auto& [suspect, error] : suspects) out.failures.push_back(failure(*suspect, error, now));
        suspects.clear();
      } catch (const std::exception& ex) {
        if (!key.empty()) out.held_keys.insert(key);
        if (!maybe_transport_wide(ex)) {
          out.failures.push_back(failure(row, ex.what(), now));
        } else {
          if (!suspects.empty()) out.down = ex.what();  // two rows in a row: the transport is down
          suspects.emplace_back(&row, ex.what());
        }
      } catch (...) {
        if (!key.empty()) out.held_keys.insert(key);
        out.failures.push_back(failure(row, "unknown exception (not derived from std::exception)", now));
      }
    }
    // Suspects that nothing after them cleared are presumed the transport's:
    // they keep their attempts and the relay backs off.
    if (!suspects.empty()) {
      if (!out.down) out.down = suspects.back().second;
      for (const auto& [suspect, error] : suspects) out.untried.push_back(suspect->position);
    }
    if (out.down) {
      ++stats_.transport_failures;
      stats_.transport_error = *out.down;
    }
  }

  DeliveryFailure failure(const StoredEvent& row, const std::string& error, Timestamp now) {
    int attempts = row.delivery_attempts + 1;
    DeliveryFailure f;
    f.position = row.position;
    f.error = error;
    f.dead = !options_.retry.should_retry(attempts);
    f.next_attempt_at = now + std::chrono::duration_cast<std::chrono::microseconds>(options_.retry.delay_after(attempts));
    ++stats_.failed;
    if (f.dead) {
      ++stats_.dead_lettered;
      bus_.metrics().consumer(row.event.type, relay_group).count_dead_letter(
          static_cast<std::size_t>(DeadLetterReason::max_attempts));
    }
    return f;
  }

  EventBus& bus_;
  const RelayOptions& options_;
  RelayStats& stats_;
};

// Drops from `batch` the rows of keys that did not get through in the batch
// before it (claimed before that was known), and releases them.
void drop_held(EventStore& store, const RelayOptions& o, Claimed& batch, const std::set<std::string>& held_keys) {
  if (held_keys.empty()) return;
  std::vector<StoredEvent> kept;
  std::vector<std::int64_t> dropped;
  for (auto& row : batch.rows) {
    const std::string key = ordering_key(row.event);
    if (!key.empty() && held_keys.count(key))
      dropped.push_back(row.position);
    else
      kept.push_back(std::move(row));
  }
  release_quietly(store, o, dropped);
  batch.rows = std::move(kept);
}

using Ahead = std::future<std::pair<Settled, Claimed>>;

// Settles `prior` (when set) and claims the batch after `in_flight` at once,
// on two threads: where the store has several connections (PostgreSQL) the
// two run side by side, so a batch costs the store the longer of the two,
// not their sum. The claim passes over `prior`'s rows as over those in
// flight: their outcome may not be recorded yet when it reads.
Ahead start_ahead(EventStore& store, const RelayOptions& o, std::optional<Outcome> prior,
                  std::vector<std::int64_t> in_flight) {
  return std::async(std::launch::async, [&store, &o, prior = std::move(prior), in_flight = std::move(in_flight)]() mutable {
    std::future<Settled> settling;
    if (prior) {
      for (const auto* part : {&prior->delivered, &prior->untried}) in_flight.insert(in_flight.end(), part->begin(), part->end());
      for (const auto& f : prior->failures) in_flight.push_back(f.position);
      settling = std::async(std::launch::async, [&store, &o, &prior] { return settle(store, o, *prior); });
    }
    std::exception_ptr claim_failed;
    Claimed claimed;
    try {
      claimed = claim_batch(store, o, std::move(in_flight));
    } catch (...) {
      claim_failed = std::current_exception();
    }
    Settled settled = settling.valid() ? settling.get() : Settled{};
    if (claim_failed) std::rethrow_exception(claim_failed);
    return std::pair{settled, std::move(claimed)};
  });
}

// Waits for a claim made ahead that will not be published, and gives its
// rows back.
void abandon(EventStore& store, const RelayOptions& o, Ahead& ahead) noexcept {
  if (!ahead.valid()) return;
  try {
    release_quietly(store, o, positions_of(ahead.get().second.rows));
  } catch (...) {
    // The store failed: what it claimed, if anything, waits for its lease.
  }
}

}  // namespace

RelayStats run_batches(EventStore& store, EventBus& bus, const RelayOptions& o, std::size_t max_batches,
                       const std::function<bool()>& go_on) {
  RelayStats stats;
  stats.passes = 1;
  auto add = [&](const Settled& s) {
    stats.delivered += s.delivered;
    stats.mark_retries += s.mark_retries;
  };
  Publisher publisher(bus, o, stats);
  const bool pipelined = store.claims_past_in_flight() && max_batches > 1;
  std::optional<Outcome> unsettled;  // published, not yet recorded in the store
  Claimed current = claim_batch(store, o, {});
  for (std::size_t batch = 1;; ++batch) {
    stats.claimed += current.count;
    if (current.count == 0) break;
    const bool last = batch >= max_batches || current.count < o.batch_size || (go_on && !go_on());
    Ahead ahead;
    // Keys held back by the batch before this one: the batch claimed ahead
    // may have been claimed before that batch's failures were recorded.
    std::set<std::string> held_before;
    if (pipelined && !last) {
      if (unsettled) held_before = unsettled->held_keys;
      ahead = start_ahead(store, o, std::move(unsettled), positions_of(current.rows));
      unsettled.reset();
    } else if (unsettled) {
      add(settle(store, o, *unsettled));
      unsettled.reset();
    }
    Outcome out;
    try {
      if (!current.rows.empty()) out = publisher.publish(current);
    } catch (...) {
      abandon(store, o, ahead);
      throw;
    }
    // A store failure here leaves this batch published and unrecorded: it
    // goes out again after its lease (at least once).
    std::optional<Claimed> next;
    if (ahead.valid()) {
      auto [settled, claimed] = ahead.get();
      add(settled);
      next = std::move(claimed);
    }
    if (out.down) {
      // The transport is down: the caller backs off.
      add(settle(store, o, out));
      if (next) release_quietly(store, o, positions_of(next->rows));
      return stats;
    }
    unsettled = std::move(out);
    if (last) break;
    if (!next) {
      add(settle(store, o, *unsettled));
      unsettled.reset();
      current = claim_batch(store, o, {});
      continue;
    }
    held_before.insert(unsettled->held_keys.begin(), unsettled->held_keys.end());
    drop_held(store, o, *next, held_before);
    current = std::move(*next);
  }
  if (unsettled) add(settle(store, o, *unsettled));
  return stats;
}

}  // namespace herald::detail
