// herald's OTLP/HTTP JSON exporter against a receiver that parses what it
// gets with the official OpenTelemetry protobuf definitions
// (otlp_receiver.py, opentelemetry-proto from PyPI).

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/otlp.hpp"
#include "recording_tracer.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using nlohmann::json;

namespace {

constexpr std::chrono::seconds deadline{20};

// The receiver, on 127.0.0.1, writing the spans it parsed to a file.
class Receiver {
 public:
  Receiver()
      : file_(std::filesystem::temp_directory_path() / (unique_name("otlp-spans") + ".jsonl")),
        child_({HERALD_OTLP_PYTHON, HERALD_OTLP_RECEIVER, file_.string()}) {
    auto line = child_.read_line(deadline);
    if (!line || line->rfind("port ", 0) != 0) throw std::runtime_error("otlp receiver did not start: " + child_.output());
    port_ = line->substr(5);
  }
  ~Receiver() { std::filesystem::remove(file_); }
  std::string endpoint() const { return "http://127.0.0.1:" + port_ + "/v1/traces"; }
  std::vector<json> records() const {
    std::vector<json> out;
    std::ifstream in(file_);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

 private:
  std::filesystem::path file_;
  ChildProcess child_;
  std::string port_;
};

const json* find_span(const std::vector<json>& spans, const std::string& name, const std::string& message_id) {
  for (const auto& s : spans)
    if (s.value("name", "") == name && s["attributes"].value("messaging.message.id", "") == message_id) return &s;
  return nullptr;
}

}  // namespace

TEST_CASE("the OTLP exporter's spans parse with the official protobuf definitions and keep the chain's parents",
          "[otlp][trace]") {
  Receiver receiver;
  auto exporter = std::make_shared<trace::OtlpExporter>(trace::OtlpOptions{
      .endpoint = receiver.endpoint(), .service_name = "orders-test", .interval = std::chrono::milliseconds(50)});
  TracerInstalled installed(exporter);

  auto bus = make_bus("memory://");
  Recorder<Envelope> shipped;
  auto warehouse = bus->subscribe({.pattern = "order.placed", .group = "warehouse"}, [&](const Envelope&) {
    bus->publish(Envelope::make("order.shipped", {{"box", 1}}));
  });
  auto mailer = bus->subscribe({.pattern = "order.shipped", .group = "mailer"}, [&](const Envelope& e) { shipped.add(e); });
  Envelope placed = Envelope::make("order.placed", {{"order", 7}});
  placed.partitionkey = "7";
  bus->publish(placed);
  REQUIRE(shipped.wait_for(1, deadline));
  REQUIRE(bus->flush(deadline));
  const Envelope second = shipped.items().at(0);

  std::vector<json> spans;
  REQUIRE(wait_until(
      [&] {
        exporter->flush(std::chrono::seconds(1));
        spans = receiver.records();
        return find_span(spans, "settle order.shipped", second.id) != nullptr;
      },
      deadline));
  for (const auto& s : spans) REQUIRE_FALSE(s.contains("error"));
  CHECK(exporter->stats().dropped == 0);

  const json* send = nullptr;
  for (const auto& s : spans)
    if (s["name"] == "send order.placed") send = &s;
  REQUIRE(send);
  const std::string message_id = (*send)["attributes"]["messaging.message.id"];
  const json* process = find_span(spans, "process order.placed", message_id);
  const json* send_next = find_span(spans, "send order.shipped", second.id);
  const json* process_next = find_span(spans, "process order.shipped", second.id);
  const json* settle = find_span(spans, "settle order.shipped", second.id);
  REQUIRE(process);
  REQUIRE(send_next);
  REQUIRE(process_next);
  REQUIRE(settle);

  CHECK((*send)["service"] == "orders-test");
  CHECK((*send)["scope"] == "herald");
  CHECK((*send)["kind"] == 4);  // SPAN_KIND_PRODUCER
  CHECK((*process)["kind"] == 5);  // SPAN_KIND_CONSUMER
  CHECK((*settle)["kind"] == 3);  // SPAN_KIND_CLIENT
  CHECK((*send)["parent_span_id"] == "");  // a new trace
  for (const json* s : {process, send_next, process_next, settle}) CHECK((*s)["trace_id"] == (*send)["trace_id"]);
  CHECK((*process)["parent_span_id"] == (*send)["span_id"]);
  CHECK((*process)["links"].size() == 1);
  CHECK((*process)["links"][0]["span_id"] == (*send)["span_id"]);
  CHECK((*send_next)["parent_span_id"] == (*process)["span_id"]);
  CHECK((*process_next)["parent_span_id"] == (*send_next)["span_id"]);
  CHECK((*settle)["parent_span_id"] == (*process_next)["span_id"]);
  CHECK(second.traceparent == "00-" + (*send_next)["trace_id"].get<std::string>() + "-" +
                                  (*send_next)["span_id"].get<std::string>() + "-01");

  const json& a = (*process)["attributes"];
  CHECK(a["messaging.system"] == "memory");
  CHECK(a["messaging.destination.name"] == "order.placed");
  CHECK(a["messaging.operation.type"] == "process");
  CHECK(a["messaging.consumer.group.name"] == "warehouse");
  CHECK((*settle)["attributes"]["messaging.operation.type"] == "settle");
  CHECK((*settle)["attributes"]["messaging.operation.name"] == "ack");
  CHECK((*send)["end"].get<std::uint64_t>() >= (*send)["start"].get<std::uint64_t>());
  CHECK((*send)["start"].get<std::uint64_t>() > 1'700'000'000'000'000'000ULL);  // Unix nanoseconds, not micro
}

TEST_CASE("with the collector down, spans are dropped and counted, and publishers never wait for it", "[otlp][trace]") {
  // A port nothing listens on: bound, then closed.
  std::string endpoint;
  {
    Receiver gone;
    endpoint = gone.endpoint();
  }
  auto exporter = std::make_shared<trace::OtlpExporter>(trace::OtlpOptions{.endpoint = endpoint,
                                                                           .max_queue = 8,
                                                                           .max_batch = 4,
                                                                           .interval = std::chrono::milliseconds(20),
                                                                           .timeout = std::chrono::milliseconds(500)});
  TracerInstalled installed(exporter);
  auto bus = make_bus("memory://?dispatch=inline");
  auto sub = bus->subscribe({.pattern = "order.*", .group = "audit"}, [](const Envelope&) {});
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) bus->publish(Envelope::make("order.placed", {{"i", i}}));
  // 200 publishes and handler runs with an unreachable collector: no request on these threads.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  REQUIRE(exporter->flush(deadline));
  auto stats = exporter->stats();
  CHECK(stats.exported == 0);
  // send, process and settle of each: all lost, all counted (a process span
  // not started while the queue is full has no settle span to count).
  CHECK(stats.dropped >= 400);
  CHECK(stats.dropped <= 600);
  CHECK(stats.requests_failed >= 1);
}

TEST_CASE("the environment switches the exporter on and names the service", "[otlp][trace]") {
  // OtlpOptions::from_environment reads the standard variables.
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/", 1);
  setenv("OTEL_SERVICE_NAME", "billing", 1);
  setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key = secret ,x-team=ops", 1);
  auto o = trace::OtlpOptions::from_environment();
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  unsetenv("OTEL_SERVICE_NAME");
  unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
  CHECK(o.endpoint == "http://127.0.0.1:4318/v1/traces");
  CHECK(o.service_name == "billing");
  CHECK(o.headers.at("x-api-key") == "secret");
  CHECK(o.headers.at("x-team") == "ops");
  CHECK(trace::OtlpOptions::from_environment().endpoint.empty());
  auto tls = [] { trace::OtlpExporter e(trace::OtlpOptions{.endpoint = "https://collector:4318/v1/traces"}); };
  CHECK_THROWS_AS(tls(), ConfigError);
}
