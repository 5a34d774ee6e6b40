#include "rows.hpp"

#include <unordered_map>

#include "herald/ext/store.hpp"

namespace herald::postgres {

namespace {

constexpr const char* insert_one_sql =
    "INSERT INTO herald_events(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, "
    "occurred_at, created_at, delivered_at) VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, " HERALD_PG_TS("$8") ", "
    HERALD_PG_TS("$9") ", CASE WHEN $10 THEN " HERALD_PG_TS("$9") " END) RETURNING position";

// Many rows in one statement: arrays in, unnest with ordinality so the
// identity column numbers them in the order given.
constexpr const char* insert_many_sql =
    "INSERT INTO herald_events(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, "
    "occurred_at, created_at, delivered_at) "
    "SELECT u.id, u.type, u.aggregate_type, u.aggregate_id, u.ordering_key, u.payload::json, u.metadata::json, "
    HERALD_PG_TS("u.occurred_at") ", " HERALD_PG_TS("$9") ", CASE WHEN u.handed THEN " HERALD_PG_TS("$9") " END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], "
    "$10::boolean[]) "
    "WITH ORDINALITY AS u(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, occurred_at, handed, n) "
    "ORDER BY u.n RETURNING id, position";

constexpr const char* insert_deliveries_sql =
    "INSERT INTO herald_deliveries(target, position, ordering_key) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])";

}  // namespace

std::vector<std::int64_t> insert_events(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                        const AppendOptions& options, Statements statements) {
  // Validate all first: an invalid event must not leave half a batch behind.
  for (auto& e : events) prepare_for_append(e, options);
  const auto targets = targets_of(events, options);
  // An event with targets is handed to them: its row is done, theirs are pending.
  std::vector<bool> handed;
  for (const auto& t : targets) handed.push_back(!t.empty());
  std::int64_t created = to_micros(now_micros());
  std::vector<std::int64_t> positions;
  positions.reserve(events.size());
  auto insert = [&] {
    if (events.size() == 1) {
      const Envelope& e = events[0];
      auto insert_one = [&](auto&& exec) {
        return exec(e.id, e.type, e.aggregatetype, e.aggregateid, ordering_key(e),
                    e.data.empty() ? nullptr : e.data.c_str(), encode_metadata(e),
                    static_cast<long long>(to_micros(e.time)), static_cast<long long>(created),
                    static_cast<bool>(handed[0]));
      };
      pqxx::result r;
      if (statements == Statements::prepared) {
        // pqxx sends the statement to the server on its first use on a
        // connection; the same definition again is a no-op.
        tx.conn().prepare("herald_insert_one", insert_one_sql);
        r = insert_one([&](auto&&... args) { return tx.exec_prepared("herald_insert_one", args...); });
      } else {
        r = insert_one([&](auto&&... args) { return tx.exec_params(insert_one_sql, args...); });
      }
      positions.push_back(r[0][0].as<std::int64_t>());
      return;
    }
    std::vector<std::string> ids, types, agg_types, agg_ids, keys, payloads, metadata;
    std::vector<bool> no_payload;
    std::vector<std::int64_t> times;
    for (const auto& e : events) {
      ids.push_back(e.id);
      types.push_back(e.type);
      agg_types.push_back(e.aggregatetype);
      agg_ids.push_back(e.aggregateid);
      keys.push_back(ordering_key(e));
      payloads.push_back(e.data);
      no_payload.push_back(e.data.empty());
      metadata.push_back(encode_metadata(e));
      times.push_back(to_micros(e.time));
    }
    auto r = tx.exec_params(insert_many_sql, text_array(ids), text_array(types), text_array(agg_types),
                            text_array(agg_ids), text_array(keys), text_array(payloads, no_payload),
                            text_array(metadata), bigint_array(times), static_cast<long long>(created),
                            bool_array(handed));
    std::unordered_map<std::string, std::int64_t> by_id;
    for (const auto& row : r) by_id[row[0].as<std::string>()] = row[1].as<std::int64_t>();
    for (const auto& e : events) {
      auto it = by_id.find(e.id);
      if (it == by_id.end()) throw StoreError("postgres: append: event " + e.id + " was not inserted (duplicate id in the batch?)");
      positions.push_back(it->second);
    }
  };
  auto deliver = [&] {
    std::vector<std::string> names, keys;
    std::vector<std::int64_t> at;
    for (std::size_t i = 0; i < events.size(); ++i)
      for (const auto& target : targets[i]) {
        names.push_back(target);
        at.push_back(positions[i]);
        keys.push_back(ordering_key(events[i]));
      }
    if (!names.empty()) tx.exec_params(insert_deliveries_sql, text_array(names), bigint_array(at), text_array(keys));
  };
  try {
    guarded("append", insert);
    guarded("append", deliver);
  } catch (const StoreError& ex) {
    if (std::string_view(ex.what()).find("[23505]") != std::string_view::npos)
      throw StoreError(std::string("postgres: append: an event id is already in the store: ") + ex.what());
    throw;
  }
  return positions;
}

StoredEvent read_row(const pqxx::row& row) {
  StoredEvent r;
  r.position = row[0].as<std::int64_t>();
  r.event = decode_stored(row[1].c_str(), row[2].is_null() ? std::string_view() : std::string_view(row[2].c_str(), row[2].size()));
  r.created_at = from_micros(row[3].as<std::int64_t>());
  if (!row[4].is_null()) r.delivered_at = from_micros(row[4].as<std::int64_t>());
  r.delivery_attempts = row[5].as<int>();
  if (!row[6].is_null()) r.next_attempt_at = from_micros(row[6].as<std::int64_t>());
  r.dead_letter = row[7].as<bool>();
  if (!row[8].is_null()) r.last_error = row[8].as<std::string>();
  if (!row[9].is_null()) r.skipped_at = from_micros(row[9].as<std::int64_t>());
  return r;
}

std::vector<StoredEvent> read_rows(const pqxx::result& result) {
  std::vector<StoredEvent> rows;
  rows.reserve(result.size());
  for (const auto& row : result) rows.push_back(read_row(row));
  return rows;
}

}  // namespace herald::postgres
