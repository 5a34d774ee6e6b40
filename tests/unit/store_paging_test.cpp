// The paging rules every event store follows (timeline pages, scan steps),
// without a database: the stores only run the queries these describe.

#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

using namespace herald;

namespace {

StoredEvent row(std::int64_t position, const std::string& type) {
  StoredEvent r;
  r.position = position;
  r.event = Envelope::make(type, {{"n", position}}, "orders");
  return r;
}

std::vector<StoredEvent> rows(std::int64_t from, std::int64_t to, const std::string& type = "order.created") {
  std::vector<StoredEvent> out;
  for (auto p = from; p <= to; ++p) out.push_back(row(p, type));
  return out;
}

}  // namespace

TEST_CASE("a timeline page reads one row more than it hands out, to know whether another page follows",
          "[store][timeline]") {
  auto first = timeline_query("order", "42", "", 10);
  CHECK(first.after == 0);
  CHECK(first.rows == 11);

  auto page = first.page(rows(1, 11));
  REQUIRE(page.events.size() == 10);
  CHECK(page.events.back().position == 10);
  REQUIRE_FALSE(page.next_cursor.empty());

  auto next = timeline_query("order", "42", page.next_cursor, 10);
  CHECK(next.after == 10);
  auto last = next.page(rows(11, 15));
  CHECK(last.events.size() == 5);
  CHECK(last.next_cursor.empty());
}

TEST_CASE("a timeline refuses a missing aggregate, a foreign cursor and a limit out of range", "[store][timeline]") {
  CHECK_THROWS_AS(timeline_query("", "42", "", 10), ConfigError);
  CHECK_THROWS_AS(timeline_query("order", "", "", 10), ConfigError);
  CHECK_THROWS_AS(timeline_query("order", "42", "not-a-cursor", 10), ConfigError);
  CHECK_THROWS_AS(timeline_query("order", "42", "", 0), ConfigError);
  CHECK_THROWS_AS(timeline_query("order", "42", "", max_timeline_page + 1), ConfigError);
  CHECK(timeline_query("order", "42", "", max_timeline_page).rows == max_timeline_page + 1);
}

TEST_CASE("a scan narrows the query by an exact type and leaves a pattern to the filter", "[store][replay]") {
  CHECK(scan_query({.type_pattern = "order.created"}, 0, 10).exact_type == "order.created");
  CHECK(scan_query({.type_pattern = "order.*"}, 0, 10).exact_type.empty());
  CHECK(scan_query({.type_pattern = "#.failed"}, 0, 10).exact_type.empty());
  CHECK(scan_query({}, 0, 10).exact_type.empty());
}

TEST_CASE("a scan starts reading at the filter's first position or after the caller's, whichever is later",
          "[store][replay]") {
  CHECK(scan_query({.from_position = 5}, 0, 10).read_after == 4);
  CHECK(scan_query({.from_position = 5}, 8, 10).read_after == 8);
  CHECK_THROWS_AS(scan_query({.from_position = 9, .to_position = 5}, 0, 10), ConfigError);
  CHECK_THROWS_AS(scan_query({}, 0, 0), ConfigError);
}

TEST_CASE("a scan step skips over rows the filter refuses and reaches the store's end when nothing is left",
          "[store][replay]") {
  auto query = scan_query({.to_position = 100, .type_pattern = "payment.*"}, 0, 3);
  int asked = 0;
  auto last_position = [&] {
    ++asked;
    return std::int64_t{40};
  };

  auto full = query.result(rows(1, 3, "order.created"), last_position);
  CHECK(full.events.empty());
  CHECK(full.scanned_to == 3);
  CHECK_FALSE(full.finished);
  CHECK(asked == 0);

  auto rest = query.result({row(7, "payment.failed")}, last_position);
  REQUIRE(rest.events.size() == 1);
  CHECK(rest.finished);
  CHECK(rest.scanned_to == 40);

  auto nothing = scan_query({.to_position = 20}, 25, 3).result({}, last_position);
  CHECK(nothing.finished);
  CHECK(nothing.scanned_to == 25);  // never before where the caller stood
  auto bounded = scan_query({.to_position = 20}, 0, 3).result({}, last_position);
  CHECK(bounded.scanned_to == 20);  // never past the filter's range
}
