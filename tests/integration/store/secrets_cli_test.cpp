// Passwords never leave the herald CLI: random passwords over all printable
// characters, in every form a user writes them (percent-encoded, pasted raw,
// libpq's ?password=, Kafka's sasl.password), never appear in its output,
// its errors against unreachable hosts, or herald serve's banner, /healthz
// and /metrics.

#include <catch2/catch.hpp>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "herald/config.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"
#include "http_request.hpp"

using namespace herald;
using namespace herald::test;
namespace http = boost::beast::http;

namespace {

// HERALD_TEST_CLI runs another build of herald (an older one, to see the test fail).
std::string cli() { return env_or("HERALD_TEST_CLI", HERALD_CLI); }

std::string run(const std::string& args, const std::string& env = {}) {
  std::string command = "env -u HERALD_STORE_URL -u HERALD_URL " + env + " timeout 60 " + cli() + " " + args + " 2>&1";
  return run_shell(command).output;
}

// For sh, inside single quotes.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string random_password(std::mt19937& rng, std::string_view excluded) {
  std::uniform_int_distribution<int> length(14, 24), printable(0x21, 0x7e);
  std::string p;
  for (int n = length(rng); static_cast<int>(p.size()) < n;) {
    char c = static_cast<char>(printable(rng));
    if (excluded.find(c) == std::string_view::npos) p += c;
  }
  return p;
}

std::string http_get(std::uint16_t port, const std::string& target) {
  return http_request(port, http::verb::get, target).body();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void require_absent(const std::string& printed, const std::string& password, const std::string& what) {
  INFO(what << "\npassword " << password << "\nprinted " << printed);
  REQUIRE(printed.find(password) == std::string::npos);
  REQUIRE(printed.find(percent_encode(password)) == std::string::npos);
}

}  // namespace

TEST_CASE("the CLI never prints a password given in a URL, whatever its characters", "[cli][secrets][randomized]") {
  std::mt19937 rng(Catch::rngSeed());
  // Two passwords: each runs the CLI ten times (a few seconds each).
  for (int n = 0; n < 2; ++n) {
    // A raw '?' is only read right where it cannot be taken for the query.
    const std::string password = random_password(rng, n % 2 ? "?" : "");
    const std::string encoded = percent_encode(password);
    std::vector<std::string> commands = {
        "outbox status --store " + quoted("postgresql://app:" + encoded + "@127.0.0.1:1/db"),
        "outbox status --store " + quoted("postgresql://app@127.0.0.1:1/db?password=" + encoded),
        "events list --store " + quoted("postgresql://app:" + encoded + "@127.0.0.1:1/db?sslmode=disable"),
        "publish --url " + quoted("amqp://app:" + encoded + "@127.0.0.1:1/") + " order.created '{}'",
        "publish --url " + quoted("nats://app:" + encoded + "@127.0.0.1:1/") + " order.created '{}'",
        "tail --url " + quoted("kafka://app:" + encoded + "@127.0.0.1:1") + " '#' --seconds 1",
        "tail --url " + quoted("kafka://127.0.0.1:1?kafka.sasl.password=" + encoded) + " '#' --seconds 1",
    };
    if (n % 2) {
      commands.push_back("outbox status --store " + quoted("postgresql://app:" + password + "@127.0.0.1:1/db"));
      commands.push_back("publish --url " + quoted("amqp://app:" + password + "@127.0.0.1:1/") + " order.created '{}'");
      commands.push_back("publish --url " + quoted("amqp://app:" + password + "@127.0.0.1:1") + " order.created '{}'");
    }
    for (const auto& args : commands) require_absent(run(args), password, "herald " + args);
  }
}

TEST_CASE("log lines in text and JSON carry no password, the broker clients' lines included",
          "[cli][secrets][log][randomized]") {
  std::mt19937 rng(Catch::rngSeed());
  const std::string password = random_password(rng, "?");
  const std::string encoded = percent_encode(password);
  struct Command {
    std::string args;
    std::string logger;  // a line of it must be there
  };
  // debug=conf,security,broker: librdkafka describes its configuration and
  // every connection attempt (the SASL ones included).
  const std::vector<Command> commands = {
      {"tail --url " + quoted("kafka://app:" + encoded + "@127.0.0.1:1?kafka.debug=conf,security,broker") +
           " '#' --seconds 1",
       "herald.kafka"},
      {"tail --url " + quoted("kafka://127.0.0.1:1?kafka.sasl.password=" + encoded +
                              "&kafka.sasl.username=app&kafka.security.protocol=SASL_PLAINTEXT"
                              "&kafka.sasl.mechanisms=PLAIN&kafka.debug=conf,security,broker") +
           " '#' --seconds 1",
       "herald.kafka"},
      {"publish --url " + quoted("amqp://app:" + encoded + "@127.0.0.1:1/") + " order.created '{}'", ""},
      {"outbox status --store " + quoted("postgresql://app:" + encoded + "@127.0.0.1:1/db"), ""},
  };
  for (const char* format : {"text", "json"}) {
    for (const auto& c : commands) {
      const std::string printed = run(c.args, std::string("HERALD_LOG=") + format + " HERALD_LOG_LEVEL=debug");
      require_absent(printed, password, std::string("HERALD_LOG=") + format + " herald " + c.args);
      if (!c.logger.empty()) CHECK_THAT(printed, Catch::Contains(c.logger));
      if (std::string(format) != "json") continue;
      // Escaped in JSON, a password could hide from the search above: read
      // every JSON line back and search its message too.
      std::istringstream lines(printed);
      for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line.front() != '{') continue;
        INFO(line);
        nlohmann::json j;
        REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
        require_absent(j.at("msg").get<std::string>(), password, "a JSON line's msg");
      }
    }
  }
}

#ifdef HERALD_TEST_WITH_POSTGRES
TEST_CASE("herald serve shows no password in its banner, /healthz or /metrics", "[cli][secrets][admin]") {
  ScratchStore scratch("postgres");
  scratch.open();  // creates the tables
  // libpq takes ?password= over the userinfo: the random one is never used.
  Url real = Url::parse(scratch.url());
  std::mt19937 rng(Catch::rngSeed());
  const std::string password = random_password(rng, "");
  const std::string url = real.scheme + "://" + percent_encode(real.user) + ":" + percent_encode(password) + "@" +
                          scratch.url().substr(url_userinfo_end(scratch.url()) + 1) +
                          "&password=" + percent_encode(real.password);
  const std::string log = "/tmp/" + unique_name("herald-serve-secrets") + ".log";
  const std::string command = "env -u HERALD_STORE_URL timeout 60 " + cli() +
                              " serve --port 0 --store " + quoted(url) + " > " + log + " 2>&1 & echo $!";
  int pid = 0;
  REQUIRE(std::sscanf(run_shell(command).output.c_str(), "%d", &pid) == 1);
  struct Stop {
    int pid;
    std::string log;
    ~Stop() {
      ::kill(pid, SIGTERM);
      std::remove(log.c_str());
    }
  } stop{pid, log};

  REQUIRE(wait_until([&] { return read_file(log).find("serving ") != std::string::npos; }));
  const std::string banner = read_file(log);
  INFO(banner);
  auto at = banner.rfind(':');
  REQUIRE(at != std::string::npos);
  const auto port = static_cast<std::uint16_t>(std::stoi(banner.substr(at + 1)));
  const std::string healthz = http_get(port, "/healthz");
  const std::string metrics = http_get(port, "/metrics");
  CHECK_THAT(healthz, Catch::Contains("password=***"));
  require_absent(banner, password, "banner");
  require_absent(healthz, password, "/healthz");
  require_absent(metrics, password, "/metrics");
  require_absent(read_file(log), password, "serve's output");
}
#endif
