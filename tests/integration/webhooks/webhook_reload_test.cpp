// Webhook subscriptions read from configuration and changed while events
// flow (WebhookSet::apply, what `herald run` calls on SIGHUP and when its
// file changes), on every transport.

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "herald/errors.hpp"
#include "herald/webhook_set.hpp"
#include "webhook_fixture.hpp"

namespace {

nlohmann::json entry(const std::string& name, const std::string& url, const std::string& group) {
  return {{"name", name},
          {"pattern", "order.*"},
          {"group", group},
          {"url", url},
          {"secret", secret},
          {"max_in_flight", 4},
          {"retry", {{"max_attempts", 50}, {"initial_delay", "20ms"}, {"max_delay", "200ms"}}}};
}

// Publishes one event every 2 ms (a steady flow, not synchronisation) and
// remembers when each was published relative to the test's marks. An id is
// recorded before its publish starts: an event counted after a mark was
// then surely published after it (recorded after the publish returned, an
// event published just before a webhook was added could be counted after
// the mark, and was waited for in vain: CI failed so once).
struct Publisher {
  EventBus& bus;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::string> ids;
  std::thread thread;

  explicit Publisher(EventBus& b) : bus(b) {
    thread = std::thread([this] {
      for (int n = 0; !stop; ++n) {
        Envelope e = Envelope::make("order.paid", {{"n", n}});
        e.partitionkey = "order-" + std::to_string(n % 5);
        {
          std::lock_guard lock(mutex);
          ids.push_back(e.id);
        }
        bus.publish(e);
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  ~Publisher() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return ids.size();
  }
  std::vector<std::string> since(std::size_t from) {
    std::lock_guard lock(mutex);
    return {ids.begin() + static_cast<std::ptrdiff_t>(std::min(from, ids.size())), ids.end()};
  }
};

std::set<std::string> ids_of(Receiver& r) {
  r.read_for(50ms);
  std::set<std::string> out;
  for (const auto& a : r.accepted) out.insert(a["id"].get<std::string>());
  return out;
}

bool holds_all(const std::set<std::string>& got, const std::vector<std::string>& wanted) {
  for (const auto& id : wanted)
    if (!got.count(id)) return false;
  return true;
}

}  // namespace

TEST_CASE("webhooks are added, changed and removed while events flow", "[webhooks][integration]") {
  const std::string url = GENERATE(from_range(transports()));
  CAPTURE(redact_url(url));
  Receiver a, b;
  auto bus = make_test_bus(url);
  const std::string group_a = testing::unique_name("hook-a"), group_b = testing::unique_name("hook-b");
  WebhookSet set(*bus);

  auto changes = set.apply(webhook_subscriptions(nlohmann::json::array({entry("a", a.url(), group_a)})));
  CHECK(changes.started == std::vector<std::string>{"a"});
  Publisher publisher(*bus);
  REQUIRE(test::wait_until([&] { return ids_of(a).size() >= 20; }, 60s));

  // Adding b leaves a running as it was: a misses nothing.
  changes = set.apply(webhook_subscriptions(
      nlohmann::json::array({entry("a", a.url(), group_a), entry("b", b.url(), group_b)})));
  CHECK(changes.started == std::vector<std::string>{"b"});
  CHECK(changes.restarted.empty());
  CHECK(changes.stopped.empty());
  const std::size_t b_running = publisher.count();
  REQUIRE(test::wait_until([&] { return publisher.count() > b_running + 20 && holds_all(ids_of(b), publisher.since(b_running)); }, 60s));
  const std::size_t mark = publisher.count();
  REQUIRE(test::wait_until([&] {
    auto flowed = publisher.since(0);
    flowed.resize(mark);
    return holds_all(ids_of(a), flowed);
  }, 60s));

  // A bad list is refused whole, naming the entry; both keep running.
  auto bad = nlohmann::json::array({entry("a", a.url(), group_a), entry("b", "ftp://nowhere", group_b)});
  CHECK_THROWS_WITH(webhook_subscriptions(bad), Catch::Contains("webhooks[1] 'b'"));
  std::vector<WebhookSubscription> duplicate = webhook_subscriptions(nlohmann::json::array({entry("a", a.url(), group_a)}));
  duplicate.push_back(duplicate.front());
  CHECK_THROWS_WITH(set.apply(duplicate), Catch::Contains("'a' is used twice"));
  REQUIRE(set.status().size() == 2);
  CHECK(set.status()[0].running);
  CHECK(set.status()[1].running);

  // Removing a: it stops after its in-flight deliveries; nothing published
  // after apply() returned reaches it.
  changes = set.apply(webhook_subscriptions(nlohmann::json::array({entry("b", b.url(), group_b)})));
  CHECK(changes.stopped == std::vector<std::string>{"a"});
  const std::size_t a_gone = publisher.count();
  REQUIRE(test::wait_until([&] { return publisher.count() > a_gone + 50 && holds_all(ids_of(b), publisher.since(a_gone)); }, 60s));
  publisher.finish();
  auto all = publisher.since(0);
  auto got_a = ids_of(a);
  for (std::size_t i = a_gone; i < all.size(); ++i) CHECK_FALSE(got_a.count(all[i]));

  // Changing b (its mode) restarts it; disabling it stops it.
  auto changed = entry("b", b.url(), group_b);
  changed["mode"] = "structured";
  changes = set.apply(webhook_subscriptions(nlohmann::json::array({changed})));
  CHECK(changes.restarted == std::vector<std::string>{"b"});
  CHECK(set.apply(webhook_subscriptions(nlohmann::json::array({changed}))).empty());  // the same list again: no change
  changed["enabled"] = false;
  changes = set.apply(webhook_subscriptions(nlohmann::json::array({changed})));
  CHECK(changes.stopped == std::vector<std::string>{"b"});
  auto status = set.status();
  REQUIRE(status.size() == 1);
  CHECK_FALSE(status[0].running);
  CHECK(status[0].delivered >= 20);
  CHECK(status[0].endpoint == "http://127.0.0.1:" + std::to_string(b.port) + "/…");
}

TEST_CASE("a webhooks section is refused by entry and key, never echoing the URL or secret", "[webhooks][unit]") {
  auto refused = [](nlohmann::json section) {
    try {
      webhook_subscriptions(section);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  auto ok = nlohmann::json{{"name", "crm"}, {"pattern", "order.#"}, {"url", "https://hooks.example.com/T0/secret-path"}};
  CHECK(webhook_subscriptions(nlohmann::json::array({ok}))[0].group == "webhook-crm");
  CHECK(webhook_subscriptions(nullptr).empty());

  auto with = [&](const std::string& key, nlohmann::json value) {
    auto e = ok;
    e[key] = std::move(value);
    return nlohmann::json::array({e});
  };
  CHECK_THAT(refused(with("colour", "blue")), Catch::Contains("webhooks[0]: unknown key 'colour'"));
  CHECK_THAT(refused(with("mode", "batch")), Catch::Contains("webhooks[0] 'crm': 'mode'"));
  CHECK_THAT(refused(with("timeout", "soon")), Catch::Contains("'timeout' must be a duration"));
  CHECK_THAT(refused(with("max_in_flight", 0)), Catch::Contains("'max_in_flight' must be a whole number from 1"));
  CHECK_THAT(refused(with("retry", {{"max_attempts", 0}})), Catch::Contains("'crm'"));
  CHECK_THAT(refused(with("retry", {{"maximum", 3}})), Catch::Contains("retry: unknown key 'maximum'"));
  CHECK_THAT(refused(with("pattern", "order.**")), Catch::Contains("'crm'"));
  CHECK_THAT(refused(with("secret", "whsec_not base64!")), !Catch::Contains("not base64!"));
  CHECK_THAT(refused(with("url", "https://user:hunter2@hooks.example.com/x")), !Catch::Contains("hunter2"));
  // A disabled entry is checked too: enabling it later must not be when its typo shows.
  auto disabled = with("url", "ftp://x");
  disabled[0]["enabled"] = false;
  CHECK_THAT(refused(disabled), Catch::Contains("'crm'"));
  CHECK_THAT(refused(nlohmann::json::array({ok, ok})), Catch::Contains("the name 'crm' is used twice"));
  CHECK(webhook_endpoint_label("https://hooks.example.com/T0/secret-path?key=1") == "https://hooks.example.com/…");
  CHECK(webhook_endpoint_label("http://u:p@127.0.0.1:8080") == "http://127.0.0.1:8080");
}

TEST_CASE("a config file carries the webhooks section to herald::webhooks", "[webhooks][unit]") {
  auto config = BusConfig::from_json(
      {{"webhooks", nlohmann::json::array({{{"name", "crm"}, {"pattern", "order.#"}, {"url", "http://127.0.0.1:9/x"}}})},
       {"url", "memory://"}});
  REQUIRE(webhook_subscriptions(config.webhooks).size() == 1);
  CHECK_THROWS_WITH(BusConfig::from_json({{"webhooks", {{"name", "crm"}}}}), Catch::Contains("'webhooks' must be an array"));
}
