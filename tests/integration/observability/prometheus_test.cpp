// herald's /metrics against the real thing: Debian's `promtool check metrics`
// lints the text, and Debian's Prometheus server scrapes a running admin
// endpoint (a memory bus with traffic, a SQLite outbox) and answers queries
// for herald's series through its HTTP API.

#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "wait.hpp"
#include "http_request.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace fs = std::filesystem;

namespace {

std::string http_get(std::uint16_t port, const std::string& target) {
  return http_request(port, http::verb::get, target, {}, 5s).body();
}

// The path of a program on PATH; the test fails naming what to install.
std::string program(const std::string& name) {
  ShellRun found = run_shell("command -v " + name);
  std::string path = found.output.substr(0, found.output.find('\n'));
  INFO(name << " is not installed: scripts/install-deps --test installs Debian's prometheus package");
  REQUIRE(found.exit_code == 0);
  REQUIRE(!path.empty());
  return path;
}

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return probe.local_endpoint().port();
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / unique_name("herald-prometheus");
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A service with every kind of series: publishes (timed), handler runs that
// succeed, retries, dead letters of two reasons, a group backlog, an outbox
// with a pending row and a dual-publish target.
struct Service {
  std::shared_ptr<EventStore> store = open_event_store("sqlite::memory:");
  std::unique_ptr<EventBus> bus = make_bus("memory://");
  Subscription mailer = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [](const Envelope&) {});
  Subscription flaky = bus->subscribe(
      {.pattern = "order.*", .group = "flaky", .retry = {.max_attempts = 2, .initial_delay = 1ms, .jitter = 0}},
      [](const Envelope& e) {
        if (e.type == "order.cancelled") throw ConfigError("cannot cancel");
        throw std::runtime_error("flaky");
      });

  void traffic() {
    bus->publish(Envelope::make("order.created", {{"order_id", "1"}}, "orders"));
    bus->publish(Envelope::make("order.cancelled", {{"order_id", "1"}}, "orders"));
  }

  Service() {
    traffic();
    Envelope row = Envelope::make("order.created", {{"order_id", "2"}}, "orders");
    store->append(row);
    Envelope dual = Envelope::make("order.created", {{"order_id", "3"}}, "orders");
    AppendOptions both;
    both.targets = [](const Envelope&) { return std::vector<std::string>{"kafka-new", "rabbit-old"}; };
    store->append(dual, both);
    REQUIRE(bus->flush(10s));
    REQUIRE(wait_until([&] { return bus->backlog("flaky").dead == 2; }, 10s));
  }
};

}  // namespace

TEST_CASE("promtool check metrics passes on the admin endpoint's /metrics", "[prometheus][promtool]") {
  const std::string promtool = program("promtool");
  Service s;
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = ""});
  const std::string text = http_get(endpoint->port(), "/metrics");
  REQUIRE_THAT(text, Catch::Contains("herald_retries_total{"));
  REQUIRE_THAT(text, Catch::Contains("reason=\"non_retriable\""));
  REQUIRE_THAT(text, Catch::Contains("reason=\"max_attempts\""));
  REQUIRE_THAT(text, Catch::Contains("herald_outbox_pending_messages{target=\"kafka-new\"} 1"));

  TempDir dir;
  const fs::path file = dir.path / "metrics.txt";
  std::ofstream(file) << text;
  ShellRun lint = run_shell(promtool + " check metrics < " + file.string() + " 2>&1");
  INFO("promtool check metrics:\n" << lint.output << "\n--- the text:\n" << text);
  CHECK(lint.exit_code == 0);
  CHECK(lint.output.empty());  // no lint finding either
  std::cout << "promtool check metrics: exit " << lint.exit_code << ", " << text.size() << " bytes, output: '"
            << lint.output << "'\n";
}

TEST_CASE("Prometheus scrapes a running admin endpoint and answers queries for herald's series",
          "[prometheus][integration]") {
  const std::string prometheus = program("prometheus");
  Service s;
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = ""});
  // Traffic while Prometheus scrapes, so the counters move between scrapes.
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop) {
      try {
        s.bus->publish(Envelope::make("order.created", {{"order_id", "9"}}, "orders"));
      } catch (...) {
        // a failed publish only means fewer events; the checks below tell
      }
      std::this_thread::sleep_for(50ms);  // a steady trickle, not synchronisation
    }
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Join() {
      stop = true;
      t.join();
    }
  } join{stop, publisher};

  TempDir dir;
  const std::uint16_t port = free_port();
  std::ofstream(dir.path / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                             << "scrape_configs:\n  - job_name: herald\n    static_configs:\n"
                                             << "      - targets: ['127.0.0.1:" << endpoint->port() << "']\n";
  ChildProcess server({prometheus, "--config.file=" + (dir.path / "prometheus.yml").string(),
                       "--storage.tsdb.path=" + (dir.path / "data").string(),
                       "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                      {.capture_output = true, .capture_errors = true});

  // What Prometheus answers for `query`: its result vector (empty until scraped).
  auto query = [&](const std::string& promql) -> nlohmann::json {
    try {
      std::string encoded;
      for (unsigned char c : promql) {
        if (std::isalnum(c) || c == '_') {
          encoded += static_cast<char>(c);
        } else {
          char hex[4];
          std::snprintf(hex, sizeof hex, "%%%02X", c);
          encoded += hex;
        }
      }
      auto reply = nlohmann::json::parse(http_get(port, "/api/v1/query?query=" + encoded));
      if (reply.value("status", "") != "success") return nlohmann::json::array();
      return reply["data"]["result"];
    } catch (const std::exception&) {
      return nlohmann::json::array();  // not listening yet
    }
  };
  auto value_of = [](const nlohmann::json& sample) { return std::stod(sample["value"][1].get<std::string>()); };

  nlohmann::json up;
  bool scraped = wait_until(
      [&] {
        up = query("up{job=\"herald\"}");
        return up.size() == 1 && value_of(up[0]) == 1;
      },
      60s);
  INFO("prometheus said:\n" << server.output());
  REQUIRE(scraped);

  nlohmann::json published;
  REQUIRE(wait_until(
      [&] {
        published = query("herald_messages_published_total{type=\"order.created\"}");
        return published.size() == 1 && value_of(published[0]) >= 2;
      },
      30s));
  CHECK(published[0]["metric"]["transport"] == "memory");
  CHECK(published[0]["metric"]["job"] == "herald");

  auto dead = query("sum by (reason) (herald_dead_letters_total{group=\"flaky\"})");
  std::map<std::string, double> by_reason;
  for (const auto& r : dead) by_reason[r["metric"]["reason"].get<std::string>()] = value_of(r);
  CHECK(by_reason["max_attempts"] >= 1);
  CHECK(by_reason["non_retriable"] == 1);

  auto processed = query("herald_process_duration_seconds_count{group=\"mailer\",type=\"order.created\"}");
  REQUIRE(processed.size() == 1);
  CHECK(value_of(processed[0]) >= 1);
  // rate() needs two scrapes inside its window.
  nlohmann::json p99, rate;
  CHECK(wait_until(
      [&] {
        p99 = query("histogram_quantile(0.99, rate(herald_process_duration_seconds_bucket{group=\"mailer\",type=\"order.created\"}[1m]))");
        return p99.size() == 1;
      },
      30s));
  CHECK(wait_until(
      [&] {
        rate = query("rate(herald_messages_published_total{type=\"order.created\"}[1m])");
        return rate.size() == 1 && value_of(rate[0]) > 0;
      },
      30s));
  auto lag = query("herald_consumer_lag_messages{group=\"mailer\"}");
  CHECK(lag.size() == 1);
  auto pending = query("herald_outbox_pending_messages");
  CHECK(pending.size() == 3);  // the rows' own delivery and two targets
  std::cout << "Prometheus on 127.0.0.1:" << port << " answered: up=" << up.dump()
            << "\n  herald_messages_published_total=" << published.dump() << "\n  dead letters by reason="
            << dead.dump() << "\n  process count=" << processed.dump() << "\n  p99=" << p99.dump()
            << "\n  lag=" << lag.dump() << "\n  outbox pending=" << pending.dump() << "\n  publish rate=" << rate.dump()
            << '\n';
  server.stop(10s);
}
