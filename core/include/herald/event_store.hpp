#pragma once
// The event store: one table of events that serves as the transactional
// outbox (the relay delivers its undelivered rows), the source of replays and
// the per-aggregate timeline.

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/codec.hpp"
#include "herald/envelope.hpp"

namespace herald {

/// One row of the store: the event and its delivery state.
struct StoredEvent {
  /// Monotonically increasing, assigned at append; orders the store and
  /// makes the cursors.
  std::int64_t position = 0;
  Envelope event;
  Timestamp created_at{};
  std::optional<Timestamp> delivered_at;
  /// Failed publish attempts so far.
  int delivery_attempts = 0;
  /// Not before this time does the relay try again (after a failure).
  std::optional<Timestamp> next_attempt_at;
  /// The relay gave up on it after the maximum attempts.
  bool dead_letter = false;
  std::string last_error;
  /// When an operator skipped the dead row (skip_dead_letter): it stays
  /// dead, is never delivered, and no longer holds back its aggregate.
  std::optional<Timestamp> skipped_at;
  /// The delivery target whose state the fields above describe (rows from
  /// claim, dead_letters and the other calls given a target); empty: the
  /// event row's own state.
  std::string target;

  bool pending() const noexcept { return !delivered_at && !dead_letter; }
  /// {"position", "event" (CloudEvents JSON), "created_at", "delivered_at",
  /// "delivery_attempts", "next_attempt_at", "dead_letter", "last_error",
  /// "skipped_at"}, and "target" when it has one;
  /// times RFC 3339, absent ones null. For the CLI and the HTTP admin.
  nlohmann::json to_json() const;
};

/// A page of a listing and where the next one starts.
struct EventPage {
  std::vector<StoredEvent> events;
  /// Pass back to get the next page; empty when this is the last one.
  std::string next_cursor;
};

/// Which stored events a scan (replay, listing) covers. Positions are
/// inclusive; empty strings mean "any".
struct EventFilter {
  std::int64_t from_position = 1;
  std::int64_t to_position = std::numeric_limits<std::int64_t>::max();
  /// A herald pattern (`order.*`, `#.failed.#`) or an exact type.
  std::string type_pattern;
  std::string aggregate_type;
  std::string aggregate_id;

  /// Throws ConfigError for a bad pattern or an empty range.
  void validate() const;
  /// Whether `event` (at `position`) passes.
  bool accepts(std::int64_t position, const Envelope& event) const;
};

/// One step of a scan: the events found, and how far the scan got (rows
/// the filter refused are skipped over too).
struct ScanResult {
  std::vector<StoredEvent> events;
  /// Highest position examined; continue after it.
  std::int64_t scanned_to = 0;
  /// Nothing beyond scanned_to within the filter's range.
  bool finished = false;
};

/// Counts for `herald outbox status` and the /metrics gauges.
struct OutboxStatus {
  std::uint64_t pending = 0;    // not delivered and not dead (includes rows waiting for a retry)
  std::uint64_t retrying = 0;   // pending rows that failed at least once
  std::uint64_t delivered = 0;  // 0 from EventStore::backlog()
  std::uint64_t dead = 0;       // dead rows not skipped
  /// created_at of the oldest pending row.
  std::optional<Timestamp> oldest_pending;
  /// Highest position in the store (0 when empty).
  std::int64_t last_position = 0;
};

/// The delivery state of one target (dual publish), from
/// EventStore::target_status().
struct TargetStatus {
  std::string target;
  OutboxStatus status;
};

/// What a relay asks for when it claims rows: which are due, and for whom
/// and how long they are leased (EventStore::claim).
struct LeaseRequest {
  /// The relay's clock: rows whose next_attempt_at is later stay put.
  Timestamp now{};
  /// Claimed rows belong to `owner` until now + lease; a relay that dies
  /// holding them loses them when the lease runs out.
  std::chrono::milliseconds lease{30'000};
  std::string owner;
  std::size_t limit = 500;
  /// Whose deliveries: a target named at append (AppendOptions::targets),
  /// or empty for the event rows (every event appended without targets).
  std::string target;
  /// Rows this owner claimed and is still publishing (their positions):
  /// they are not claimed again and do not hold their keys back, so the
  /// next batch can be claimed while they are in flight. Honoured only by
  /// stores whose claims_past_in_flight() is true; the caller publishes the
  /// rows claimed so only after the in-flight ones were published, and drops
  /// (releases) those of a key that failed among them.
  std::vector<std::int64_t> in_flight;
};

/// The outcome of a failed publish for one claimed row.
struct DeliveryFailure {
  std::int64_t position = 0;
  std::string error;
  Timestamp next_attempt_at{};
  /// Set dead_letter: the relay gives up on the row.
  bool dead = false;
};

/// What append fills in and checks, as EventBus::publish does.
struct AppendOptions {
  /// CloudEvents `source` for events without one.
  std::string source = "herald";
  /// The largest data accepted (max_data_bytes); larger is refused with a
  /// DecodeError naming "data". OutboxBus passes its bus's configuration.
  DecodeOptions limits;
  /// Dual publish: the targets that each get a delivery of their own of an
  /// event, with its own state (attempts, backoff, dead flag, per-key order),
  /// so that one target's outage neither blocks nor replays another. Names are
  /// the caller's (OutboxBus uses redacted target URLs). Null, or an empty
  /// list for an event: the event row is its one delivery, as without targets.
  /// An event given targets is handed to them at append: its row reads as
  /// delivered then (delivered_at = the append), and each target's state is
  /// asked with that target (status(target), dead_letters(limit, target)).
  std::function<std::vector<std::string>(const Envelope&)> targets;
};

/// Durable, ordered storage of events. Implementations (sqlite://,
/// postgresql://) are opened by URL with open_event_store(). All functions are
/// thread-safe and block on the database; they throw StoreError (retriable()
/// when the database was unreachable or busy) and NotFoundError as stated.
///
/// \code
///   auto store = herald::open_event_store("sqlite:///var/lib/orders/events.db");
///   store->append(herald::Envelope::make("order.created", {{"order_id", "42"}}));
///   auto page = store->timeline("order", "42");
/// \endcode
class EventStore {
 public:
  virtual ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  /// Appends `events` in one transaction of the store's own, filling id,
  /// time and source (`options.source`) where empty and the context ids
  /// inside a handler (as EventBus::publish does), and an empty partitionkey
  /// with the aggregate id (the transports keep order by partition key).
  /// Returns their positions.
  /// To append inside your own transaction use herald/sqlite/outbox.hpp or
  /// herald/postgres/outbox.hpp instead. Throws ConfigError/DecodeError for
  /// an invalid event or data over `options.limits` (nothing is appended then).
  virtual std::vector<std::int64_t> append(std::vector<Envelope>& events, const AppendOptions& options) = 0;
  std::vector<std::int64_t> append(std::vector<Envelope>& events) { return append(events, AppendOptions{}); }
  std::int64_t append(Envelope& event, const AppendOptions& options = {});
  std::int64_t append(Envelope&& event, const AppendOptions& options = {});

  /// The event with this id, or nullopt.
  virtual std::optional<StoredEvent> find(const std::string& id) = 0;
  /// Like find(), but throws NotFoundError.
  StoredEvent get(const std::string& id);

  /// Events of one aggregate in position order, `limit` at a time. `cursor`
  /// is "" for the first page or a next_cursor from the previous page;
  /// throws ConfigError for a cursor this store did not make.
  virtual EventPage timeline(const std::string& aggregate_type, const std::string& aggregate_id,
                             const std::string& cursor = {}, std::size_t limit = 100) = 0;

  /// Events passing `filter` with position > `after`, in position order,
  /// at most `limit`.
  virtual ScanResult scan(const EventFilter& filter, std::int64_t after, std::size_t limit) = 0;

  /// Counts and ages over the whole table (counting delivered rows reads
  /// them all: for status pages, not for loops or scrapes).
  /// With a target: that target's deliveries (last_position is still the
  /// store's).
  virtual OutboxStatus status(const std::string& target) = 0;
  OutboxStatus status() { return status(std::string()); }
  /// status() without `delivered` (left 0): costs in proportion to the
  /// pending and dead rows, not the table. For metrics.
  virtual OutboxStatus backlog(const std::string& target) = 0;
  OutboxStatus backlog() { return backlog(std::string()); }
  /// Rows (or a target's deliveries) not yet delivered nor dead; the
  /// cheapest check.
  virtual std::uint64_t count_pending(const std::string& target) = 0;
  std::uint64_t count_pending() { return count_pending(std::string()); }
  /// The targets that events were appended with (AppendOptions::targets),
  /// sorted. Cheap: a look-up per target, not a scan.
  virtual std::vector<std::string> delivery_targets() = 0;
  /// status(target) (or backlog(target) without `delivered`) of each of
  /// delivery_targets(): what is pending, retrying and dead per target.
  std::vector<TargetStatus> target_status(bool count_delivered = true);

  // --- the relay's side -----------------------------------------------------

  /// Claims up to `limit` due, pending rows in position order for
  /// `request.owner`: the event rows, or `request.target`'s deliveries (rows
  /// with `target` set). A row is left out while an earlier pending or dead
  /// (not skipped) row of the same ordering key (aggregate, else partition
  /// key) is not claimed with it, so one aggregate's events are delivered in
  /// order and a failing or dead row blocks the later ones. Rows leased to
  /// another live owner are skipped. Each target's deliveries are ordered,
  /// held back and leased on their own: nothing of one target waits for
  /// another's.
  virtual std::vector<StoredEvent> claim(const LeaseRequest& request) = 0;
  /// True when claim() honours LeaseRequest::in_flight, and claims may run
  /// on another thread while rows are marked: a relay then claims the next
  /// batch while the current one is published.
  virtual bool claims_past_in_flight() const noexcept { return false; }
  /// Marks rows (the deliveries of `target`, "" for the event rows)
  /// delivered and ends their lease. The same `target` goes with the
  /// following calls.
  virtual void mark_delivered(const std::vector<std::int64_t>& positions, Timestamp at, const std::string& target) = 0;
  void mark_delivered(const std::vector<std::int64_t>& positions, Timestamp at) { mark_delivered(positions, at, {}); }
  /// Counts a failed attempt on each row, sets its next attempt or its dead
  /// flag, and ends its lease.
  virtual void mark_failed(const std::vector<DeliveryFailure>& failures, const std::string& target) = 0;
  void mark_failed(const std::vector<DeliveryFailure>& failures) { mark_failed(failures, {}); }
  /// Ends the lease of rows `owner` claimed but did not try (they keep
  /// their attempt count).
  virtual void release(const std::vector<std::int64_t>& positions, const std::string& owner,
                       const std::string& target) = 0;
  void release(const std::vector<std::int64_t>& positions, const std::string& owner) { release(positions, owner, {}); }
  /// Ends what `owner` holds of the store beyond rows (SQLite: the relay
  /// lease of the event rows or of a target), so that the relay starting next (a restart, a rolling
  /// deploy) does not wait for it to run out. A Relay calls it as it stops.
  /// Nothing to do where leases are per row (the default).
  virtual void stand_down(const std::string& owner);

  /// Dead rows not skipped, oldest first (of `target`'s deliveries when
  /// given, rows with `target` set; the calls below take the same `target`).
  /// Each holds back the later rows of its ordering key (on its target)
  /// until it is retried or skipped.
  virtual std::vector<StoredEvent> dead_letters(std::size_t limit, const std::string& target) = 0;
  std::vector<StoredEvent> dead_letters(std::size_t limit = 100) { return dead_letters(limit, {}); }
  /// Makes dead rows (all, or the one with event id `id`) pending again
  /// with their attempt count reset: each goes out before the rows it held
  /// back (the store's side of EventBus::replay_dead_letters). Returns how
  /// many. Throws NotFoundError for an `id` that is not a dead, unskipped row.
  virtual std::size_t replay_dead_letters(const std::optional<std::string>& id, const std::string& target) = 0;
  std::size_t replay_dead_letters(const std::optional<std::string>& id = {}) { return replay_dead_letters(id, {}); }
  /// Gives up on the dead row with event id `id` for good: it is never
  /// delivered, leaves dead_letters(), and the later rows of its ordering key
  /// go out. Throws NotFoundError when `id` is not a dead, unskipped row.
  virtual void skip_dead_letter(const std::string& id, const std::string& target) = 0;
  void skip_dead_letter(const std::string& id) { skip_dead_letter(id, {}); }

  /// The URL the store was opened with, password hidden.
  virtual std::string describe() const = 0;

 protected:
  EventStore() = default;
};

/// Opens (creating or migrating the schema) the store at `url`:
/// `sqlite:///abs/path.db`, `sqlite://relative.db`, `sqlite::memory:`,
/// `postgresql://user:pass@host:5432/db` (`postgres://` too). Query options
/// are the adapter's (see herald/sqlite/options.hpp, herald/postgres/options.hpp).
/// Throws ConfigError for an unknown scheme (naming the registered ones) or
/// option, StoreError when the database cannot be opened.
std::shared_ptr<EventStore> open_event_store(std::string_view url);

/// The store URL from HERALD_STORE_URL, or `fallback` when unset.
std::string store_url_from_env(const std::string& fallback = {});

}  // namespace herald
