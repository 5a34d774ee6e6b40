// The store commands of the herald CLI (outbox, events, replay), run as a
// child process against a scratch store.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "child_process.hpp"
#include "failing_bus.hpp"
#include "herald/relay.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// `args` is passed to sh: the tests quote what needs quoting. The output
// holds stdout and stderr.
ShellRun herald_cli(const std::string& args, const std::string& store_url = {}) {
  std::string command = (store_url.empty() ? std::string("env -u HERALD_STORE_URL ") : "HERALD_STORE_URL='" + store_url + "' ") +
                        HERALD_CLI + std::string(" ") + args + " 2>&1";
  return run_shell(command);
}

Envelope order_event(const std::string& order_id, int n) {
  Envelope e = Envelope::make("order.updated", {{"order_id", order_id}, {"n", n}}, "orders");
  e.aggregatetype = "order";
  e.aggregateid = order_id;
  return e;
}

}  // namespace

TEST_CASE("herald outbox status and relay work on the store named by HERALD_STORE_URL", "[cli][outbox]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  for (int n = 0; n < 3; ++n) store->append(order_event("42", n));

  auto status = herald_cli("outbox status", scratch.url());
  INFO(status.output);
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.output, Catch::Contains("pending:    3"));
  CHECK_THAT(status.output, Catch::Contains("oldest pending:"));

  auto relay = herald_cli("outbox relay --once --url memory://", scratch.url());
  INFO(relay.output);
  CHECK(relay.exit_code == 0);
  CHECK_THAT(relay.output, Catch::Contains("delivered 3"));
  CHECK(store->count_pending() == 0);

  auto json = herald_cli("outbox status --json --store " + scratch.url());
  CHECK(nlohmann::json::parse(json.output)["delivered"] == 3);
}

TEST_CASE("herald outbox relay delivers the outbox HERALD_CONFIG names, through its routes", "[cli][outbox][config]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  for (int n = 0; n < 3; ++n) store->append(order_event("42", n));
  const auto path = std::filesystem::temp_directory_path() / (unique_name("herald-config") + ".json");
  std::ofstream(path) << R"({"routes": [{"match": "order.#", "publish": ["memory://"]}],
                             "outbox": {"store": ")" << scratch.url() << R"(", "relay": false}})";

  auto relay = run_shell("env -u HERALD_STORE_URL HERALD_CONFIG='" + path.string() + "' " + HERALD_CLI +
                         " outbox relay --once 2>&1");
  std::filesystem::remove(path);
  INFO(relay.output);
  CHECK(relay.exit_code == 0);
  CHECK_THAT(relay.output, Catch::Contains("delivered 3"));
  // Delivered to the route's transport, not appended to the outbox again.
  CHECK(store->count_pending() == 0);
  CHECK(store->status().delivered == 3);
}

TEST_CASE("herald outbox status shows each dual-publish target, and relay delivers each target on its own",
          "[cli][outbox][targets]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  AppendOptions dual;
  dual.targets = [](const Envelope&) { return std::vector<std::string>{"memory://a", "memory://b"}; };
  for (int n = 0; n < 3; ++n) {
    std::vector<Envelope> one{order_event("42", n)};
    store->append(one, dual);
  }

  auto status = herald_cli("outbox status", scratch.url());
  INFO(status.output);
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.output, Catch::Contains("memory://a\n    pending: 3 (0 retrying)"));
  CHECK_THAT(status.output, Catch::Contains("memory://b\n    pending: 3 (0 retrying)"));
  auto json = nlohmann::json::parse(herald_cli("outbox status --json", scratch.url()).output);
  REQUIRE(json["targets"].size() == 2);
  CHECK(json["targets"][1]["target"] == "memory://b");
  CHECK(json["targets"][1]["pending"] == 3);

  const auto path = std::filesystem::temp_directory_path() / (unique_name("herald-config") + ".json");
  std::ofstream(path) << R"({"routes": [{"match": "order.#", "publish": ["memory://a", "memory://b"]}],
                             "outbox": {"store": ")" << scratch.url() << R"(", "relay": false}})";
  auto relay = run_shell("env -u HERALD_STORE_URL HERALD_CONFIG='" + path.string() + "' " + HERALD_CLI +
                         " outbox relay --once 2>&1");
  std::filesystem::remove(path);
  INFO(relay.output);
  CHECK(relay.exit_code == 0);
  CHECK_THAT(relay.output, Catch::Contains("delivered 6"));
  CHECK(store->count_pending("memory://a") == 0);
  CHECK(store->count_pending("memory://b") == 0);
  auto dead = herald_cli("outbox dead list --target memory://b", scratch.url());
  CHECK_THAT(dead.output, Catch::Contains("0 dead event(s)"));
}

TEST_CASE("herald events list pages a timeline and events show prints one event", "[cli][timeline]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  Envelope first = order_event("42", 0);
  store->append(first);
  for (int n = 1; n < 3; ++n) store->append(order_event("42", n));
  store->append(order_event("7", 0));

  auto page = herald_cli("events list --aggregate order:42 --limit 2", scratch.url());
  INFO(page.output);
  CHECK(page.exit_code == 0);
  CHECK_THAT(page.output, Catch::Contains(first.id));
  CHECK_THAT(page.output, Catch::Contains("more: --cursor p2"));
  auto last = herald_cli("events list --aggregate order:42 --limit 2 --cursor p2", scratch.url());
  CHECK_THAT(last.output, Catch::Contains("(end)"));
  CHECK_THAT(last.output, !Catch::Contains(first.id));

  auto show = herald_cli("events show " + first.id + " --json", scratch.url());
  CHECK(show.exit_code == 0);
  CHECK(nlohmann::json::parse(show.output)["event"]["id"] == first.id);
  auto missing = herald_cli("events show nope", scratch.url());
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Catch::Contains("no event with id 'nope'"));
  CHECK(herald_cli("events list --aggregate order", scratch.url()).exit_code == 2);
}

TEST_CASE("herald outbox dead list and replay show and revive dead rows", "[cli][dead-letter]") {
  // `replay`, as the bus's `herald dead replay`; `retry` was its first name.
  std::string command = GENERATE(as<std::string>{}, "replay", "retry");
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  Envelope poison = order_event("1", 0);
  store->append(poison);
  FailingBus bus;
  bus.refuse([](const Envelope&) -> std::optional<std::string> { return "refused by the test"; });
  RelayOptions options;
  options.retry.max_attempts = 1;
  REQUIRE(relay_pass(*store, bus, options).dead_lettered == 1);

  auto list = herald_cli("outbox dead list", scratch.url());
  INFO(list.output);
  CHECK_THAT(list.output, Catch::Contains(poison.id) && Catch::Contains("refused by the test") &&
                              Catch::Contains("1 dead event(s)"));
  auto replay = herald_cli("outbox dead " + command + " " + poison.id, scratch.url());
  INFO(replay.output);
  CHECK_THAT(replay.output, Catch::Contains("made 1 dead event(s) pending again"));
  CHECK(store->get(poison.id).pending());
}

TEST_CASE("herald replay publishes a position range to the transport", "[cli][replay]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  for (int n = 0; n < 5; ++n) store->append(order_event("42", n));
  auto replay = herald_cli("replay --from 2 --to 4 --type 'order.*' --url memory://", scratch.url());
  INFO(replay.output);
  CHECK(replay.exit_code == 0);
  CHECK_THAT(replay.output, Catch::Contains("replayed 3 event(s)"));
}

TEST_CASE("herald store commands need a store and never print its password", "[cli][config]") {
  auto none = herald_cli("outbox status");
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.output, Catch::Contains("--store") && Catch::Contains("HERALD_STORE_URL"));

  auto secret = herald_cli("outbox status --store 'postgresql://herald:hunter2@127.0.0.1:1/herald'");
  INFO(secret.output);
  CHECK(secret.exit_code != 0);
  CHECK_THAT(secret.output, Catch::Contains("herald:***@") && !Catch::Contains("hunter2"));
}

TEST_CASE("herald outbox dead skip gives up on a dead row and lets its aggregate go on", "[cli][dead-letter]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  Envelope poison = order_event("1", 0);
  Envelope next = order_event("1", 1);
  store->append(poison);
  store->append(next);
  FailingBus bus;
  bus.refuse([&](const Envelope& e) -> std::optional<std::string> {
    if (e.id == poison.id) return "refused by the test";
    return std::nullopt;
  });
  RelayOptions options;
  options.retry.max_attempts = 1;
  options.owner = "cli-test";  // one relay across passes (SQLite admits one at a time)
  REQUIRE(relay_pass(*store, bus, options).dead_lettered == 1);
  auto held = relay_pass(*store, bus, options);
  CHECK(held.claimed == 0);  // held back by the dead row
  CHECK(held.delivered == 0);

  auto skip = herald_cli("outbox dead skip " + poison.id, scratch.url());
  INFO(skip.output);
  CHECK(skip.exit_code == 0);
  CHECK_THAT(skip.output, Catch::Contains("skipped dead event " + poison.id));
  CHECK(herald_cli("outbox dead skip " + poison.id, scratch.url()).exit_code != 0);  // not dead any more
  CHECK(relay_pass(*store, bus, options).delivered == 1);
  CHECK(store->get(next.id).delivered_at);
  CHECK(store->get(poison.id).skipped_at);
  CHECK_THAT(herald_cli("outbox dead list", scratch.url()).output, Catch::Contains("0 dead event(s)"));
}
