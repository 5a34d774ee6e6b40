// Webhook delivery to a local HTTP endpoint: events/s and publish -> endpoint
// latency with 1 and 64 requests in flight, beside the raw baseline of the
// same run: a hand-written sender (Boost.Beast, one connection per request as
// herald's, the same HMAC-SHA256 signature) POSTing the same bodies from as
// many threads.
//   bench_webhooks [events]
// Goal: herald >= 0.9x the raw sender (what a group, its retries and order
// per key cost over the bare POSTs).

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "herald/webhook.hpp"
#include "stats.hpp"

using namespace herald;
using namespace herald::bench;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// The endpoint: answers 204 to every POST, on its own thread; reads the
// send time each request carries (ce-benchsent) for the latency.
class Sink {
 public:
  Sink() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Sink() {
    io_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::size_t received() const { return received_.load(); }
  std::vector<double> take_latencies() {
    std::lock_guard lock(mutex_);
    return std::move(latency_us_);
  }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) serve(std::make_shared<beast::tcp_stream>(std::move(socket)));
      accept();
    });
  }
  void serve(std::shared_ptr<beast::tcp_stream> stream) {
    auto buffer = std::make_shared<beast::flat_buffer>();
    auto req = std::make_shared<http::request<http::string_body>>();
    http::async_read(*stream, *buffer, *req, [this, stream, buffer, req](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (auto it = req->find("ce-benchsent"); it != req->end()) {
        double us = static_cast<double>(now_ns() - std::stoll(std::string(it->value()))) / 1000.0;
        std::lock_guard lock(mutex_);
        latency_us_.push_back(us);
      }
      ++received_;
      auto res = std::make_shared<http::response<http::empty_body>>(http::status::no_content, 11);
      res->keep_alive(req->keep_alive());
      http::async_write(*stream, *res, [this, stream, buffer, res, keep = req->keep_alive()](beast::error_code ec2, std::size_t) {
        if (!ec2 && keep) serve(stream);
      });
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<std::size_t> received_{0};
  std::mutex mutex_;
  std::vector<double> latency_us_;
};

struct Figures {
  double per_second = 0, p50_us = 0, p99_us = 0;
};

std::vector<Envelope> events_for(std::size_t n) {
  std::vector<Envelope> events;
  for (std::size_t i = 0; i < n; ++i) {
    Envelope e = Envelope::make("order.created", {{"orderId", "o-" + std::to_string(i)}, {"amount", 99.5}}, "bench");
    e.partitionkey = "k" + std::to_string(i % 1024);  // many keys: in-flight is not limited by order per key
    events.push_back(std::move(e));
  }
  return events;
}

// Throughput: a burst of n events. Latency: one event at a time (`paced`),
// so it is the delivery's own time, not a wait behind the burst.
Figures run_herald(std::size_t n, int in_flight, bool paced = false) {
  Sink sink;
  auto bus = make_bus("memory://?workers=" + std::to_string(std::max(2, in_flight)));
  auto sub = bus->subscribe({.pattern = "order.*", .group = "hook", .concurrency = in_flight},
                            webhook_handler({.name = "bench", .url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/hook",
                                             .secret = secret}));
  auto events = events_for(n);
  const auto start = SteadyClock::now();
  std::size_t sent = 0;
  for (auto& e : events) {
    e.extensions["benchsent"] = std::to_string(now_ns());
    bus->publish(e);
    ++sent;
    while (paced && sink.received() < sent) std::this_thread::yield();
  }
  while (sink.received() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a benchmark's poll
  Figures f{.per_second = static_cast<double>(n) / seconds_since(start)};
  auto lat = sink.take_latencies();
  f.p50_us = percentile_us(lat, 50);
  f.p99_us = percentile_us(lat, 99);
  return f;
}

std::string raw_sign(const std::vector<unsigned char>& key, const std::string& id, const std::string& ts, const std::string& body) {
  std::string content = id + "." + ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &size);
  std::string out(4 * ((size + 2) / 3), '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(size))));
  return "v1," + out;
}

// The hand-written sender: `threads` loops, each POSTing its share, a connection per request.
Figures run_raw(std::size_t n, int threads) {
  Sink sink;
  auto events = events_for(n);
  std::string b64 = secret.substr(6);
  std::vector<unsigned char> key(b64.size());
  key.resize(static_cast<std::size_t>(EVP_DecodeBlock(key.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()))));
  while (!key.empty() && b64.back() == '=' && key.back() == 0) key.pop_back(), b64.pop_back();
  std::atomic<std::size_t> next{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      asio::io_context io;
      tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), sink.port());
      for (std::size_t i = next++; i < n; i = next++) {
        const Envelope& e = events[i];
        http::request<http::string_body> req{http::verb::post, "/hook", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set("ce-id", e.id);
        req.set("ce-type", e.type);
        req.set("ce-source", e.source);
        req.set("ce-specversion", "1.0");
        req.set("ce-benchsent", std::to_string(now_ns()));
        req.set(http::field::content_type, "application/json");
        req.body() = e.data;
        const std::string ts = std::to_string(std::time(nullptr));
        req.set("webhook-id", e.id);
        req.set("webhook-timestamp", ts);
        req.set("webhook-signature", raw_sign(key, e.id, ts, req.body()));
        req.prepare_payload();
        beast::tcp_stream stream(io);
        stream.connect(endpoint);
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
    });
  }
  for (auto& w : workers) w.join();
  Figures f{.per_second = static_cast<double>(n) / seconds_since(start)};
  auto lat = sink.take_latencies();
  f.p50_us = percentile_us(lat, 50);
  f.p99_us = percentile_us(lat, 99);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  bench_name() = "bench_webhooks";
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 20'000;
  std::printf("webhooks: %zu signed binary-mode events to an endpoint on 127.0.0.1 (answers 204), memory transport\n", n);
  for (int in_flight : {1, 64}) {
    const std::size_t count = in_flight == 1 ? n / 4 : n;
    Figures raw = run_raw(count, in_flight);
    Figures ours = run_herald(count, in_flight);
    print_ratio("webhook delivery, in-flight " + std::to_string(in_flight), ours.per_second, raw.per_second, 0.9,
                "raw Beast sender");
  }
  // One event at a time: publish (herald) or request built (raw) -> the endpoint has it.
  Figures raw = run_raw(1000, 1);
  Figures ours = run_herald(1000, 1, true);
  std::printf("  one at a time, publish -> endpoint: herald p50 %.0f us, p99 %.0f us; raw sender p50 %.0f us, p99 %.0f us\n",
              ours.p50_us, ours.p99_us, raw.p50_us, raw.p99_us);
  record_result("webhook latency p50", "us", ours.p50_us, raw.p50_us, "raw Beast sender", 0, true);
  record_result("webhook latency p99", "us", ours.p99_us, raw.p99_us, "raw Beast sender", 0, true);
}
