// Logs: one hook, levels, HERALD_LOG=text|json|off, JSON lines that stay
// valid whatever an event holds, and no credential in any line.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>

#include <nlohmann/json.hpp>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "log_capture.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// Sets (or, with nullptr, unsets) an environment variable for a scope.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~EnvVar() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

LogRecord record_about(const LogEvent& e, std::string_view message = "handler failed") {
  return LogRecord{parse_time("2026-11-26T16:41:14.123456Z"), LogLevel::warn, "herald.delivery", message, &e};
}

std::string random_bytes(std::mt19937& rng, int max_length) {
  std::uniform_int_distribution<int> length(0, max_length), byte(0, 255), pick(0, 5);
  static const std::vector<std::string> nasty = {"\"", "\\", "\n", "\r\n", "\xff\xfe", "\xc3", "\xe2\x82", "\x7f",
                                                 "\u2028", "\\u0000", std::string(1, '\0'), "}{"};
  std::string s;
  for (int n = length(rng); static_cast<int>(s.size()) < n;) {
    if (pick(rng) == 0) s += nasty[static_cast<std::size_t>(byte(rng)) % nasty.size()];
    else s += static_cast<char>(byte(rng));
  }
  return s;
}

}  // namespace

TEST_CASE("a JSON line carries the time, level, logger, message and what is known of the event", "[log]") {
  LogEvent e{.id = "0192f0c4-aaaa", .type = "order.created", .group = "billing",
             .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .attempt = 2};
  const std::string line = format_log_line(record_about(e), LogFormat::json);
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  auto j = nlohmann::json::parse(line);
  CHECK(j.at("ts") == "2026-11-26T16:41:14.123456Z");
  CHECK(j.at("level") == "warn");
  CHECK(j.at("logger") == "herald.delivery");
  CHECK(j.at("msg") == "handler failed");
  CHECK(j.at("event_id") == "0192f0c4-aaaa");
  CHECK(j.at("event_type") == "order.created");
  CHECK(j.at("group") == "billing");
  CHECK(j.at("attempt") == 2);
  CHECK(j.at("trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736");

  SECTION("fields that are not known are left out") {
    LogRecord bare{parse_time("2026-11-26T16:41:14Z"), LogLevel::info, "herald.kafka", "hello", nullptr};
    auto b = nlohmann::json::parse(format_log_line(bare, LogFormat::json));
    CHECK(b.size() == 4);
    CHECK_FALSE(b.contains("event_id"));
  }
}

TEST_CASE("a text line reads as one line with the event's fields after the message", "[log]") {
  LogEvent e{.id = "id-1", .type = "order.created", .group = "billing", .trace_id = {}, .attempt = 3};
  CHECK(format_log_line(record_about(e), LogFormat::text) ==
        "2026-11-26T16:41:14.123456Z WARN herald.delivery: handler failed "
        "[event_id=id-1 event_type=order.created group=billing attempt=3]\n");
  SECTION("a line break in a field cannot forge a second line") {
    LogEvent forged{.id = "x\n2026-11-26T00:00:00Z ERROR herald.delivery: forged", .type = "t"};
    const std::string line = format_log_line(record_about(forged, "a\r\nb"), LogFormat::text);
    CHECK(line.find('\n') == line.size() - 1);
    CHECK_THAT(line, Catch::Contains("a\\x0d\\x0ab") && Catch::Contains("x\\x0a2026"));
  }
  CHECK(format_log_line(record_about(e), LogFormat::off).empty());
}

TEST_CASE("a JSON line built from hostile event fields is valid JSON and never throws", "[log][randomized]") {
  std::mt19937 rng(Catch::rngSeed());
  for (int n = 0; n < 3000; ++n) {
    LogEvent e{.id = random_bytes(rng, 40), .type = random_bytes(rng, 40), .group = random_bytes(rng, 20),
               .trace_id = random_bytes(rng, 8), .attempt = n};
    const std::string message = random_bytes(rng, 80);
    const std::string logger = random_bytes(rng, 10);
    LogRecord r{now_micros(), LogLevel::error, logger, message, &e};
    std::string json, text;
    REQUIRE_NOTHROW(json = format_log_line(r, LogFormat::json));
    REQUIRE_NOTHROW(text = format_log_line(r, LogFormat::text));
    INFO("line " << json);
    REQUIRE(json.find('\n') == json.size() - 1);
    REQUIRE(text.find('\n') == text.size() - 1);
    nlohmann::json parsed;
    REQUIRE_NOTHROW(parsed = nlohmann::json::parse(json));  // parse() also refuses invalid UTF-8
    REQUIRE(parsed.is_object());
    REQUIRE(parsed.at("level") == "error");
  }
  SECTION("and so does log() with them, through the stderr writer's formatting") {
    LogCapture capture({LogFormat::json, LogLevel::debug});
    LogEvent e{.id = "\"}\n{\"level\":\"x", .type = "\xff\xfe", .group = std::string(1, '\0')};
    log(LogLevel::warn, "herald.test", "quote \" backslash \\ bell \a", &e);
    auto lines = capture.lines();
    REQUIRE(lines.size() == 1);
    auto j = nlohmann::json::parse(lines[0].json);
    CHECK(j.at("event_id") == "\"}\n{\"level\":\"x");
    CHECK(j.at("event_type") == "\xef\xbf\xbd\xef\xbf\xbd");  // U+FFFD for each invalid byte
  }
}

TEST_CASE("the level filters lines and off silences them", "[log]") {
  LogCapture capture({LogFormat::text, LogLevel::warn});
  CHECK_FALSE(log_enabled(LogLevel::info));
  CHECK(log_enabled(LogLevel::warn));
  log(LogLevel::debug, "herald.test", "debug");
  log(LogLevel::info, "herald.test", "info");
  log(LogLevel::warn, "herald.test", "warn");
  log(LogLevel::error, "herald.test", "error");
  auto lines = capture.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].message == "warn");
  CHECK(lines[1].level == LogLevel::error);

  configure_logs({LogFormat::off, LogLevel::debug});
  CHECK_FALSE(log_enabled(LogLevel::error));
  log(LogLevel::error, "herald.test", "silenced");
  write_log({now_micros(), LogLevel::error, "herald.test", "silenced too", nullptr});
  CHECK(capture.lines().size() == 2);

  configure_logs({LogFormat::json, LogLevel::debug});
  log(LogLevel::debug, "herald.test", "debug now");
  CHECK(capture.lines().size() == 3);
}

TEST_CASE("a hook that logs from inside is not called again", "[log]") {
  LogCapture restore;
  int calls = 0;
  set_log_hook([&](const LogRecord&) {
    ++calls;
    log(LogLevel::error, "herald.test", "from inside the hook");
  });
  log(LogLevel::error, "herald.test", "outside");
  CHECK(calls == 1);
  set_log_hook([](const LogRecord&) { throw std::runtime_error("a throwing hook"); });
  CHECK_NOTHROW(log(LogLevel::error, "herald.test", "dropped"));
}

TEST_CASE("credentials in a message are redacted in every format", "[log][secrets]") {
  LogCapture capture;
  log(LogLevel::warn, "herald.test",
      "cannot reach amqp://app:hunter2@broker:5672/vh, tried 'kafka://b:9092?sasl.password=hunter3&acks=all' "
      "and host=db password=hunter4 sasl.password=hunter5");
  auto lines = capture.lines();
  REQUIRE(lines.size() == 1);
  for (const auto& printed : {lines[0].message, lines[0].text, nlohmann::json::parse(lines[0].json).at("msg").get<std::string>()}) {
    INFO(printed);
    CHECK_THAT(printed, Catch::Contains("amqp://app:***@broker:5672/vh") && Catch::Contains("host=db"));
    for (const char* secret : {"hunter2", "hunter3", "hunter4", "hunter5"}) CHECK_THAT(printed, !Catch::Contains(secret));
  }
}

TEST_CASE("the trace id is the traceparent's second field", "[log]") {
  CHECK(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(trace_id_of("").empty());
  CHECK(trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_of("garbage \"with\" quotes and more than thirty-six characters").empty());
  Envelope e = Envelope::make("order.created");
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CHECK(LogEvent::of(e, "billing", 1).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("HERALD_LOG and HERALD_LOG_LEVEL are read at start and unknown words refused", "[log][config]") {
  EnvVar no_config("HERALD_CONFIG", nullptr);
  SECTION("unset: the bus leaves logging as it is") {
    EnvVar a("HERALD_LOG", nullptr), b("HERALD_LOG_LEVEL", nullptr);
    CHECK_FALSE(BusConfig::from_env().log.has_value());
  }
  SECTION("json at debug") {
    EnvVar a("HERALD_LOG", "json"), b("HERALD_LOG_LEVEL", "debug");
    auto c = BusConfig::from_env();
    REQUIRE(c.log.has_value());
    CHECK(*c.log == LogOptions{LogFormat::json, LogLevel::debug});
    LogCapture restore;
    make_bus(c);
    CHECK(log_options() == LogOptions{LogFormat::json, LogLevel::debug});
  }
  SECTION("off, level by default") {
    EnvVar a("HERALD_LOG", "off"), b("HERALD_LOG_LEVEL", nullptr);
    CHECK(*BusConfig::from_env().log == LogOptions{LogFormat::off, LogLevel::info});
  }
  SECTION("an unknown word is refused by name") {
    EnvVar a("HERALD_LOG", "xml"), b("HERALD_LOG_LEVEL", nullptr);
    CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_LOG") && Catch::Contains("xml"));
    EnvVar c("HERALD_LOG", "text"), d("HERALD_LOG_LEVEL", "loud");
    CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_LOG_LEVEL") && Catch::Contains("loud"));
  }
}

TEST_CASE("a configuration file sets logging with \"log\"", "[log][config]") {
  CHECK(*BusConfig::from_json({{"url", "memory://"}, {"log", "json"}}).log == LogOptions{LogFormat::json, LogLevel::info});
  CHECK(*BusConfig::from_json({{"log", {{"format", "text"}, {"level", "warn"}}}, {"url", "memory://"}}).log ==
        LogOptions{LogFormat::text, LogLevel::warn});
  CHECK_THROWS_WITH(BusConfig::from_json({{"log", {{"colour", "red"}}}}), Catch::Contains("colour"));
  CHECK_THROWS_WITH(BusConfig::from_json({{"log", "yaml"}}), Catch::Contains("yaml"));
  CHECK_FALSE(BusConfig::from_json({{"url", "memory://"}}).log.has_value());
}

TEST_CASE("the delivery core logs a retry and a dead letter once each, with the event", "[log][memory]") {
  LogCapture capture({LogFormat::json, LogLevel::info});
  auto bus = make_bus("memory://");
  auto sub = bus->subscribe({.pattern = "order.*", .group = "billing",
                             .retry = {.max_attempts = 2, .initial_delay = std::chrono::milliseconds(5), .jitter = 0}},
                            [](const Envelope&) { throw std::runtime_error("card declined"); });
  Envelope e = Envelope::make("order.created", {{"n", 1}});
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  bus->publish(e);
  REQUIRE(wait_until([&] { return !capture.matching("herald.delivery", "dead-lettered").empty(); }));

  auto retries = capture.matching("herald.delivery", "retry in");
  auto dead = capture.matching("herald.delivery", "dead-lettered");
  REQUIRE(retries.size() == 1);
  REQUIRE(dead.size() == 1);
  CHECK(retries[0].level == LogLevel::warn);
  CHECK(dead[0].level == LogLevel::error);
  auto r = nlohmann::json::parse(retries[0].json);
  auto d = nlohmann::json::parse(dead[0].json);
  CHECK_THAT(r.at("msg").get<std::string>(), Catch::Contains("card declined"));
  CHECK_THAT(d.at("msg").get<std::string>(), Catch::Contains("max_attempts") && Catch::Contains("card declined"));
  for (const auto& j : {r, d}) {
    CHECK(j.at("event_id") == e.id);
    CHECK(j.at("event_type") == "order.created");
    CHECK(j.at("group") == "billing");
    CHECK(j.at("trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736");
  }
  CHECK(r.at("attempt") == 1);
  CHECK(d.at("attempt") == 2);
}
