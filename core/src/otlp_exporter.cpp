#include "herald/otlp.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "herald/errors.hpp"
#include "herald/ext/keyed_executor.hpp"
#include "otlp_env.hpp"

namespace herald::trace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Finished {
  SpanStart start;
  Timestamp end;
  Status status;
};

struct Target {
  std::string host, port, path;
};

Target parse_endpoint(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    throw ConfigError("otlp: endpoint '" + printable(url) + "' must start with http:// (herald sends plain OTLP/HTTP JSON)");
  std::string rest = url.substr(scheme.size());
  Target t;
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);  // no credentials in URLs
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    t.host = authority.substr(0, colon);
    t.port = authority.substr(colon + 1);
  } else {
    t.host = authority;
    t.port = "80";
  }
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host.empty() || t.port.empty()) throw ConfigError("otlp: endpoint '" + printable(url) + "' names no host");
  return t;
}

std::string unix_nanos(Timestamp t) {
  return std::to_string(static_cast<long long>(t.time_since_epoch().count()) * 1000LL);
}

nlohmann::json value_json(const Value& v) {
  struct {
    nlohmann::json operator()(const std::string& s) const { return {{"stringValue", s}}; }
    nlohmann::json operator()(std::int64_t i) const { return {{"intValue", std::to_string(i)}}; }
    nlohmann::json operator()(double d) const { return {{"doubleValue", d}}; }
    nlohmann::json operator()(bool b) const { return {{"boolValue", b}}; }
  } visit;
  return std::visit(visit, v);
}

nlohmann::json attributes_json(const std::vector<Attribute>& attributes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : attributes) out.push_back({{"key", a.key}, {"value", value_json(a.value)}});
  return out;
}

// OTLP/HTTP JSON (opentelemetry-proto's JSON mapping; ids in hex as the
// OTLP spec says, not base64).
std::string encode(const std::vector<Finished>& spans, const std::string& service) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : spans) {
    const SpanStart& s = f.start;
    nlohmann::json span = {{"traceId", s.context.trace_id_hex()},
                           {"spanId", s.context.span_id_hex()},
                           {"name", s.name},
                           {"kind", static_cast<int>(s.kind)},
                           {"startTimeUnixNano", unix_nanos(s.start)},
                           {"endTimeUnixNano", unix_nanos(f.end)},
                           {"attributes", attributes_json(s.attributes)}};
    if (!s.context.tracestate.empty()) span["traceState"] = s.context.tracestate;
    if (s.parent.valid()) span["parentSpanId"] = s.parent.span_id_hex();
    if (!s.links.empty()) {
      nlohmann::json links = nlohmann::json::array();
      for (const auto& l : s.links) {
        nlohmann::json link = {{"traceId", l.trace_id_hex()}, {"spanId", l.span_id_hex()}};
        if (!l.tracestate.empty()) link["traceState"] = l.tracestate;
        links.push_back(std::move(link));
      }
      span["links"] = std::move(links);
    }
    nlohmann::json status = {{"code", static_cast<int>(f.status.code)}};
    if (!f.status.message.empty()) status["message"] = f.status.message;
    span["status"] = std::move(status);
    list.push_back(std::move(span));
  }
  nlohmann::json resource = {
      {"attributes", attributes_json({{"service.name", service}, {"telemetry.sdk.name", std::string("herald")}})}};
  nlohmann::json body = {
      {"resourceSpans",
       nlohmann::json::array({{{"resource", resource},
                               {"scopeSpans", nlohmann::json::array({{{"scope", {{"name", "herald"}}}, {"spans", list}}})}}})}};
  // Handler errors may hold any bytes: replaced, never a throw here.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One POST with a deadline over the whole exchange; true on a 2xx answer.
bool post(const Target& target, const std::map<std::string, std::string>& headers, std::string body,
          std::chrono::milliseconds timeout) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  http::request<http::string_body> request{http::verb::post, target.path, 11};
  request.set(http::field::host, target.host);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "herald-otlp");
  for (const auto& [k, v] : headers) request.set(k, v);
  request.body() = std::move(body);
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  bool ok = false;
  stream.expires_after(timeout);
  resolver.async_resolve(target.host, target.port, [&](beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return;
    stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return;
      http::async_write(stream, request, [&](beast::error_code ec, std::size_t) {
        if (ec) return;
        http::async_read(stream, buffer, response, [&](beast::error_code ec, std::size_t) {
          if (ec) return;
          ok = response.result_int() / 100 == 2;
          beast::error_code ignored;
          stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    });
  });
  // The resolver has no deadline of its own: the run is bounded too.
  io.run_for(timeout + std::chrono::milliseconds(100));
  return ok;
}

class RecordingSpan final : public Span {
 public:
  RecordingSpan(SpanStart start, std::shared_ptr<OtlpExporter::State> state)
      : finished_{std::move(start), {}, {}}, state_(std::move(state)) {}
  ~RecordingSpan() override {
    if (!ended_) end(Status{});
  }
  void set_attribute(Attribute a) override { finished_.start.attributes.push_back(std::move(a)); }
  void end(Status status) noexcept override;

 private:
  Finished finished_;
  std::shared_ptr<OtlpExporter::State> state_;
  bool ended_ = false;
};

}  // namespace

struct OtlpExporter::State {
  OtlpOptions options;
  Target target;
  std::mutex mutex;
  std::condition_variable wake;     // the sender: a batch is full, or stop
  std::condition_variable drained;  // flush(): the queue is empty and nothing in flight
  std::deque<Finished> queue;
  std::atomic<std::size_t> queued{0};   // queue.size(), read without the lock
  std::atomic<std::uint64_t> shed{0};   // spans not started: the queue was full
  bool sending = false;
  bool stop = false;
  OtlpStats stats;
  std::thread thread;

  void push(Finished f) noexcept {
    std::lock_guard lock(mutex);
    if (queue.size() >= options.max_queue) {
      ++stats.dropped;
      return;
    }
    try {
      queue.push_back(std::move(f));
    } catch (...) {
      ++stats.dropped;
      return;
    }
    queued.store(queue.size(), std::memory_order_relaxed);
    if (queue.size() >= options.max_batch) wake.notify_one();
  }

  void run() noexcept {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait_for(lock, options.interval, [&] { return stop || queue.size() >= options.max_batch; });
      while (!queue.empty()) {
        std::vector<Finished> batch;
        std::size_t n = 0;
        try {
          n = std::min(queue.size(), options.max_batch);
          batch.reserve(n);
          for (std::size_t i = 0; i < n; ++i) batch.push_back(std::move(queue[i]));
        } catch (...) {
        }
        queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
        queued.store(queue.size(), std::memory_order_relaxed);
        sending = true;
        lock.unlock();
        bool ok = false;
        try {
          ok = post(target, options.headers, encode(batch, options.service_name), options.timeout);
        } catch (const std::exception& e) {
          ext::report_escaped("otlp exporter", e.what());
        } catch (...) {
        }
        lock.lock();
        sending = false;
        if (ok) {
          stats.exported += batch.size();
        } else {
          stats.dropped += n;
          ++stats.requests_failed;
        }
        if (stop && !ok) {  // closing with the collector gone: no second wait per batch
          stats.dropped += queue.size();
          queue.clear();
          queued.store(0, std::memory_order_relaxed);
        }
      }
      drained.notify_all();
      if (stop) return;
    }
  }
};

namespace {

void RecordingSpan::end(Status status) noexcept {
  if (ended_) return;
  ended_ = true;
  finished_.end = now_micros();
  finished_.status = std::move(status);
  state_->push(std::move(finished_));
}

}  // namespace

OtlpExporter::OtlpExporter(OtlpOptions options) : state_(std::make_shared<State>()) {
  if (options.max_queue == 0 || options.max_batch == 0) throw ConfigError("otlp: max_queue and max_batch must be at least 1");
  state_->target = parse_endpoint(options.endpoint);
  state_->options = std::move(options);
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

bool OtlpExporter::recording() const noexcept {
  if (state_->queued.load(std::memory_order_relaxed) < state_->options.max_queue) return true;
  state_->shed.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::unique_ptr<Span> OtlpExporter::start_span(SpanStart start) {
  return std::make_unique<RecordingSpan>(std::move(start), state_);
}

bool OtlpExporter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  state_->wake.notify_one();
  // The sender wakes on its own at least every interval.
  return state_->drained.wait_for(lock, timeout, [&] {
    if (!state_->queue.empty()) state_->wake.notify_one();
    return state_->queue.empty() && !state_->sending;
  });
}

OtlpStats OtlpExporter::stats() const {
  std::lock_guard lock(state_->mutex);
  OtlpStats s = state_->stats;
  s.dropped += state_->shed.load(std::memory_order_relaxed);
  return s;
}

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::size_t env_size(const char* name, std::size_t fallback) {
  std::string v = env(name);
  if (v.empty()) return fallback;
  try {
    long long n = std::stoll(v);
    return n > 0 ? static_cast<std::size_t>(n) : fallback;
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

OtlpOptions OtlpOptions::from_environment() {
  OtlpOptions o;
  if (std::string traces = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !traces.empty()) {
    o.endpoint = traces;
  } else if (std::string base = env("OTEL_EXPORTER_OTLP_ENDPOINT"); !base.empty()) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    o.endpoint = base + "/v1/traces";
  }
  if (std::string name = env("OTEL_SERVICE_NAME"); !name.empty()) o.service_name = name;
  std::string headers = env("OTEL_EXPORTER_OTLP_HEADERS");
  for (std::size_t pos = 0; pos < headers.size();) {
    auto comma = headers.find(',', pos);
    std::string pair = headers.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (auto eq = pair.find('='); eq != std::string::npos) o.headers[trim(pair.substr(0, eq))] = trim(pair.substr(eq + 1));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  o.max_queue = env_size("OTEL_BSP_MAX_QUEUE_SIZE", o.max_queue);
  o.max_batch = env_size("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", o.max_batch);
  o.interval = std::chrono::milliseconds(env_size("OTEL_BSP_SCHEDULE_DELAY", static_cast<std::size_t>(o.interval.count())));
  o.timeout = std::chrono::milliseconds(env_size("OTEL_EXPORTER_OTLP_TIMEOUT", static_cast<std::size_t>(o.timeout.count())));
  return o;
}

namespace detail {

std::shared_ptr<Tracer> tracer_from_environment() {
  if (env("OTEL_TRACES_EXPORTER") == "none" || env("OTEL_SDK_DISABLED") == "true") return nullptr;
  OtlpOptions o = OtlpOptions::from_environment();
  if (o.endpoint.empty()) return nullptr;
  try {
    return std::make_shared<OtlpExporter>(std::move(o));
  } catch (const std::exception& e) {
    ext::report_escaped("otlp exporter", std::string("not started: ") + e.what());
    return nullptr;
  }
}

}  // namespace detail

}  // namespace herald::trace
