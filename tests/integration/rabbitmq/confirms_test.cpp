// Which publish a basic.return belongs to (adapters/rabbitmq/src/confirms.hpp).
// No broker needed: the frames are the ones RabbitMQ sends.

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "confirms.hpp"

using herald::rabbitmq::Returned;
using herald::rabbitmq::Unconfirmed;

namespace {

// Settles publishes and remembers the outcome of each (by slot).
struct Outcomes {
  std::map<int, std::string> of;
  auto settler() {
    return [this](Unconfirmed<int>::Entry& e, bool ack) {
      of[e.slot] = !ack ? "nacked" : e.returned ? "returned" : "confirmed";
    };
  }
};

Returned no_route(std::string exchange, std::string key, std::string id) {
  return Returned{312, "NO_ROUTE", std::move(exchange), std::move(key), std::move(id)};
}

}  // namespace

TEST_CASE("a return goes to the publish its confirm names, not to an earlier one with the same id and key",
          "[rabbitmq][publish][return]") {
  // Two copies of a foreign message without message id, to the same delay
  // queue: the first is routed (its confirm waits for the disk), the queue
  // vanishes, the second comes back.
  Unconfirmed<int> u;
  Outcomes out;
  const std::uint64_t first = u.sent(1, "", "orders.retry.1", "");
  const std::uint64_t second = u.sent(2, "", "orders.retry.1", "");
  u.returned(no_route("", "orders.retry.1", ""));
  u.confirm(second, false, true, out.settler());  // the broker confirms a return at once
  u.confirm(first, false, true, out.settler());
  CHECK(out.of[1] == "confirmed");
  CHECK(out.of[2] == "returned");
  CHECK(u.open() == 0);
}

TEST_CASE("a return covered by a multiple ack goes to the publish the ack names", "[rabbitmq][publish][return]") {
  Unconfirmed<int> u;
  Outcomes out;
  u.sent(1, "herald.events", "order.created", "same");
  u.sent(2, "herald.events", "order.created", "same");
  const std::uint64_t third = u.sent(3, "herald.events", "order.created", "same");
  u.confirm(1, false, true, out.settler());
  u.returned(no_route("herald.events", "order.created", "same"));
  // Nothing older was open: RabbitMQ confirms "everything up to 3".
  u.confirm(3, true, true, out.settler());
  u.confirm(2, false, true, out.settler());  // late and duplicate: ignored
  CHECK(out.of[1] == "confirmed");
  CHECK(out.of[2] == "confirmed");
  CHECK(out.of[3] == "returned");
  (void)third;
}

TEST_CASE("returns of several publishes each go to their own", "[rabbitmq][publish][return]") {
  Unconfirmed<int> u;
  Outcomes out;
  for (int i = 1; i <= 4; ++i) u.sent(i, "", "q", "");
  u.returned(no_route("", "q", ""));
  u.confirm(2, false, true, out.settler());
  u.returned(no_route("", "q", ""));
  u.confirm(4, false, true, out.settler());
  u.confirm(3, true, true, out.settler());
  CHECK(out.of == std::map<int, std::string>{{1, "confirmed"}, {2, "returned"}, {3, "confirmed"}, {4, "returned"}});
}

TEST_CASE("a lost channel forgets pending returns and numbers publishes from 1 again", "[rabbitmq][publish][return]") {
  Unconfirmed<int> u;
  Outcomes out;
  u.sent(1, "", "q", "a");
  u.returned(no_route("", "q", "a"));
  CHECK(u.take_open().size() == 1);
  CHECK(u.sent(7, "", "q", "a") == 1);
  u.confirm(1, false, true, out.settler());
  CHECK(out.of[7] == "confirmed");
}
