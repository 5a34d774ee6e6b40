// The HTTP admin under hostile input and load: requests that used to kill
// `herald serve`, running out of file descriptors, oversize and idle
// connections. The crash tests run the real `herald serve` as a child
// process, so a server that dies fails the test instead of the test binary.

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <regex>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "admin_routes.hpp"
#include "admin_server.hpp"
#include "child_process.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Sends `raw` (a whole request, bytes as given) and reads one response, all
// within `timeout`. nullopt when the server closed, reset or did not answer.
std::optional<Response> exchange(std::uint16_t port, const std::string& raw, std::chrono::milliseconds timeout = 5s) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  beast::error_code failure;
  stream.expires_after(timeout);
  stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
    if (ec) {
      failure = ec;
      return;
    }
    asio::async_write(stream, asio::buffer(raw), [&](beast::error_code ec, std::size_t) {
      if (ec) {
        failure = ec;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) { failure = ec; });
    });
  });
  io.run();
  if (failure) return std::nullopt;
  auto& response = parser.get();
  return Response{static_cast<int>(response.result_int()), std::string(response[http::field::content_type]),
                  response.body()};
}

std::optional<Response> get(std::uint16_t port, const std::string& target, std::chrono::milliseconds timeout = 5s) {
  return exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout);
}

bool healthy(std::uint16_t port) {
  auto r = get(port, "/healthz", 1s);
  return r && r->status == 200;
}

// `herald serve --port 0` over `store_url` as a child process, optionally
// with a lower limit of open files; stopped when destroyed.
class ServeProcess : public ChildProcess {
 public:
  explicit ServeProcess(const std::string& store_url, std::optional<rlim_t> max_open_files = {})
      : ChildProcess({HERALD_CLI, "serve", "--store", store_url, "--port", "0"},
                     {.capture_errors = true, .max_open_files = max_open_files}) {
    // The banner names the port: "serving <store> on http://127.0.0.1:<port>".
    static const std::regex banner("on http://[^:]+:([0-9]+)");
    std::smatch match;
    bool found = wait_until([&] { return std::regex_search(output(50ms), match, banner); }, 20s);
    INFO(output());
    REQUIRE(found);
    port_ = static_cast<std::uint16_t>(std::stoi(match[1].str()));
  }
  ~ServeProcess() { stop(10s); }

  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_ = 0;
};

std::size_t open_files(pid_t pid) {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

// A store whose every call fails with a message that is not UTF-8.
class BrokenStore : public EventStore {
 public:
  [[noreturn]] static void fail() { throw std::logic_error("broken store \xff\xfe"); }
  std::vector<std::int64_t> append(std::vector<Envelope>&, const AppendOptions&) override { fail(); }
  std::optional<StoredEvent> find(const std::string&) override { fail(); }
  EventPage timeline(const std::string&, const std::string&, const std::string&, std::size_t) override { fail(); }
  ScanResult scan(const EventFilter&, std::int64_t, std::size_t) override { fail(); }
  OutboxStatus status(const std::string&) override { fail(); }
  OutboxStatus backlog(const std::string&) override { fail(); }
  std::uint64_t count_pending(const std::string&) override { fail(); }
  std::vector<std::string> delivery_targets() override { fail(); }
  std::vector<StoredEvent> claim(const LeaseRequest&) override { fail(); }
  void mark_delivered(const std::vector<std::int64_t>&, Timestamp, const std::string&) override { fail(); }
  void mark_failed(const std::vector<DeliveryFailure>&, const std::string&) override { fail(); }
  void release(const std::vector<std::int64_t>&, const std::string&, const std::string&) override { fail(); }
  std::vector<StoredEvent> dead_letters(std::size_t, const std::string&) override { fail(); }
  std::size_t replay_dead_letters(const std::optional<std::string>&, const std::string&) override { fail(); }
  void skip_dead_letter(const std::string&, const std::string&) override { fail(); }
  std::string describe() const override { return "broken://"; }
};

}  // namespace

TEST_CASE("the admin routes answer any target with a JSON error and never throw", "[admin][hardening]") {
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  for (const std::string& target : std::vector<std::string>{"/v1/events?%FF=1", "/v1/events?limit=%", "/v1/events?limit=%4", "/v1/events?=1", "/v1/events?limit=1&limit=2",
        "/v1/events?aggregateType=%00&aggregateId=%FF&cursor=%80", "/v1/events/%FF", "/v1/events/%ZZ", "/\xff\xfe",
        "/v1/events?limit=" + std::string(100000, '9')}) {
    INFO(target.substr(0, 80));
    herald::admin::AdminReply r;
    REQUIRE_NOTHROW(r = herald::admin::route_admin_request("GET", target, *store, nullptr));
    CHECK((r.status == 400 || r.status == 404));
    CHECK(r.content_type == "application/json");
    nlohmann::json body;
    REQUIRE_NOTHROW(body = nlohmann::json::parse(r.body));
    CHECK(body["error"].is_string());
    CHECK(r.body.size() < 1000);  // quoted input is cut short
  }
  CHECK(herald::admin::route_admin_request("POST", "/healthz", *store, nullptr).status == 405);
  // '+' is a space in a query and a '+' in a path, as in a browser's form.
  CHECK(herald::admin::route_admin_request("GET", "/v1/events?aggregateType=a+b&aggregateId=%34%32", *store, nullptr).status == 200);
}

TEST_CASE("the admin routes turn any exception from the store into a 500 with valid JSON", "[admin][hardening]") {
  BrokenStore store;
  for (const char* target : {"/v1/events", "/v1/events?aggregateType=order&aggregateId=1", "/v1/events/x", "/metrics"}) {
    INFO(target);
    herald::admin::AdminReply r;
    REQUIRE_NOTHROW(r = herald::admin::route_admin_request("GET", target, store, nullptr));
    CHECK(r.status == 500);
    nlohmann::json body;
    REQUIRE_NOTHROW(body = nlohmann::json::parse(r.body));
    CHECK_THAT(body["error"].get<std::string>(), Catch::Contains("broken store"));
  }
  auto health = herald::admin::route_admin_request("GET", "/healthz", store, nullptr);
  CHECK(health.status == 503);
  CHECK_NOTHROW(nlohmann::json::parse(health.body));
}

TEST_CASE("herald serve answers a query that decodes to invalid UTF-8 with 400 and keeps serving",
          "[admin][hardening]") {
  ScratchStore scratch("sqlite");
  scratch.open();
  ServeProcess serve(scratch.url());
  REQUIRE(healthy(serve.port()));

  struct Bad {
    std::string target;
    std::string names;  // what the error must mention
  };
  for (const Bad& bad : {Bad{"/v1/events?%FF=1", "unknown parameter"}, Bad{"/v1/events?limit=%FF", "limit"},
                         Bad{"/v1/events?cursor=%FF", "cursor"},
                         Bad{"/v1/events?aggregateType=order&aggregateId=%C3&cursor=%FE%80", "cursor"},
                         Bad{"/v1/events?limit=%F0%9F%98%80%FF", "limit"}}) {
    INFO(bad.target);
    auto r = get(serve.port(), bad.target);
    INFO(serve.output());
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->content_type == "application/json");
    nlohmann::json body;
    REQUIRE_NOTHROW(body = nlohmann::json::parse(r->body));  // parse refuses invalid UTF-8
    REQUIRE(body["error"].is_string());
    CHECK_THAT(body["error"].get<std::string>(), Catch::Contains(bad.names));
    CHECK_THAT(r->body, Catch::Contains("\xEF\xBF\xBD"));  // the bad byte, replaced by U+FFFD
  }
  auto missing = get(serve.port(), "/v1/events/%FF%FE");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK_NOTHROW(nlohmann::json::parse(missing->body));

  CHECK(serve.running());
  CHECK(healthy(serve.port()));
}

TEST_CASE("herald serve keeps accepting after it runs out of file descriptors", "[admin][hardening]") {
  ScratchStore scratch("sqlite");
  scratch.open();
  constexpr rlim_t max_open_files = 64;
  ServeProcess serve(scratch.url(), max_open_files);
  REQUIRE(healthy(serve.port()));

  // More connections than the server has descriptors: its accept fails
  // with EMFILE while the rest wait in the listen backlog.
  asio::io_context io;
  std::vector<tcp::socket> clients;
  for (int n = 0; n < 70; ++n) {
    clients.emplace_back(io);
    clients.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), serve.port()));
  }
  INFO(serve.output());
  CHECK(wait_until([&] { return open_files(serve.pid()) >= max_open_files; }, 10s));
  for (auto& c : clients) c.close();

  CHECK(wait_until([&] { return healthy(serve.port()); }, 10s));
  CHECK(serve.running());
  CHECK_THAT(serve.output(), Catch::Contains("accept failed: Too many open files"));
}

TEST_CASE("the HTTP admin refuses an oversize or malformed request and keeps serving", "[admin][hardening]") {
  ScratchStore scratch("sqlite");
  herald::admin::AdminServer admin(scratch.open(), nullptr, {.port = 0});

  std::string raw = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(64 * 1024, 'a') +
                    "\r\nConnection: close\r\n\r\n";
  auto r = exchange(admin.port(), raw);
  REQUIRE(r);
  CHECK(r->status == 431);
  CHECK_NOTHROW(nlohmann::json::parse(r->body));

  std::string long_target = "/v1/events?aggregateType=" + std::string(64 * 1024, 'a');
  auto r2 = get(admin.port(), long_target);
  REQUIRE(r2);
  CHECK(r2->status == 431);

  // Not HTTP at all, and a target with a control byte: 400, not a crash.
  for (const std::string& raw : {std::string("GARBAGE\r\n\r\n"), std::string("GET /v1/events?x=\x01 HTTP/1.1\r\n\r\n")}) {
    auto r3 = exchange(admin.port(), raw);
    REQUIRE(r3);
    CHECK(r3->status == 400);
    CHECK_NOTHROW(nlohmann::json::parse(r3->body));
  }

  CHECK(healthy(admin.port()));
}

TEST_CASE("the HTTP admin answers 503 beyond its connection cap and serves again once connections close",
          "[admin][hardening]") {
  ScratchStore scratch("sqlite");
  herald::admin::AdminServer admin(scratch.open(), nullptr, {.port = 0, .max_connections = 2});

  // Two keep-alive connections, each past one request, hold both places.
  asio::io_context io;
  std::vector<beast::tcp_stream> held;
  for (int n = 0; n < 2; ++n) {
    held.emplace_back(io);
    held.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), admin.port()));
    http::request<http::empty_body> request(http::verb::get, "/healthz", 11);
    request.set(http::field::host, "127.0.0.1");
    http::write(held.back(), request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(held.back(), buffer, response);
    REQUIRE(response.result_int() == 200);
  }
  auto refused = get(admin.port(), "/healthz");
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK_THAT(refused->body, Catch::Contains("too many connections"));

  held.clear();
  CHECK(wait_until([&] { return healthy(admin.port()); }, 10s));
}

TEST_CASE("the HTTP admin closes a connection that sends nothing within its idle timeout", "[admin][hardening]") {
  ScratchStore scratch("sqlite");
  herald::admin::AdminServer admin(scratch.open(), nullptr, {.port = 0, .idle_timeout = 200ms});

  asio::io_context io;
  beast::tcp_stream idle(io);
  idle.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), admin.port()));
  auto start = std::chrono::steady_clock::now();
  idle.expires_after(10s);
  char byte = 0;
  beast::error_code result;
  idle.async_read_some(asio::buffer(&byte, 1), [&](beast::error_code ec, std::size_t) { result = ec; });
  io.run();
  CHECK(result == asio::error::eof);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(healthy(admin.port()));
}
