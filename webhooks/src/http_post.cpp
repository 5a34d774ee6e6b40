#include "http_post.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <cctype>

#include "herald/errors.hpp"

namespace herald::webhook_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t max_answer_bytes = 64 * 1024;  // an endpoint's answer is read, not kept
constexpr std::size_t excerpt_bytes = 512;

std::string printable_excerpt(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, excerpt_bytes)) out += std::isprint(static_cast<unsigned char>(c)) ? c : ' ';
  return out;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  // Seconds only: an HTTP date would need the peer's clock to agree with ours.
  if (value.empty() || value.size() > 9) return std::nullopt;
  long long s = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    s = s * 10 + (c - '0');
  }
  return std::chrono::seconds(s);
}

template <class Stream>
HttpAnswer exchange(Stream& stream, const Endpoint& endpoint, const HttpRequest& request, asio::io_context& io,
                    std::chrono::steady_clock::time_point deadline, const std::string& name,
                    const std::function<void(std::function<void(beast::error_code)>)>& handshake) {
  http::request<http::string_body> req{http::verb::post, endpoint.target, 11};
  req.set(http::field::host, endpoint.host);
  req.set(http::field::user_agent, "herald-webhooks");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_answer_bytes);
  beast::error_code failure;
  std::string stage = "connect";

  auto& lowest = beast::get_lowest_layer(stream);
  tcp::resolver resolver(io);
  lowest.expires_at(deadline);
  auto connected = [&](beast::error_code ec2) {
    if (ec2) return void(failure = ec2);
    stage = "TLS handshake";
    handshake([&](beast::error_code ec3) {
      if (ec3) return void(failure = ec3);
      stage = "send";
      http::async_write(stream, req, [&](beast::error_code ec4, std::size_t) {
        if (ec4) return void(failure = ec4);
        stage = "answer";
        http::async_read(stream, buffer, parser, [&](beast::error_code ec5, std::size_t) {
          // A body over the limit still has its status: the answer is read, not kept.
          if (ec5 && ec5 != http::error::body_limit) failure = ec5;
        });
      });
    });
  };
  // An address needs no lookup; a host name does (Asio resolves on a
  // thread of its own, which the deadline can abandon).
  beast::error_code not_an_address;
  const auto address = asio::ip::make_address(endpoint.host, not_an_address);
  if (!not_an_address) {
    lowest.async_connect(tcp::endpoint(address, static_cast<unsigned short>(std::stoi(endpoint.port))), connected);
  } else {
    resolver.async_resolve(endpoint.host, endpoint.port, [&](beast::error_code ec, tcp::resolver::results_type results) {
      if (ec) return void(failure = ec);
      lowest.async_connect(results, [&](beast::error_code ec2, const tcp::endpoint&) { connected(ec2); });
    });
  }
  io.run();
  if (failure) {
    const bool timed_out = failure == beast::error::timeout;
    throw TransportError("webhook '" + name + "': " + stage + (timed_out ? " timed out" : " failed: " + failure.message()));
  }
  const auto& res = parser.get();
  HttpAnswer answer;
  answer.status = static_cast<int>(res.result_int());
  answer.body_excerpt = printable_excerpt(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end()) answer.retry_after = parse_retry_after(std::string_view(it->value().data(), it->value().size()));
  return answer;
}

}  // namespace

Endpoint Endpoint::parse(const std::string& url, const std::string& name) {
  Endpoint e;
  std::string_view rest = url;
  if (rest.rfind("https://", 0) == 0) {
    e.tls = true;
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  } else {
    throw ConfigError("webhook '" + name + "': the URL must start with http:// or https://");
  }
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  e.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (e.target.front() == '?') e.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos)
    throw ConfigError("webhook '" + name + "': credentials in the URL are not supported (use the signing secret)");
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw ConfigError("webhook '" + name + "': the URL's IPv6 host has no ']'");
    e.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') throw ConfigError("webhook '" + name + "': bad host in the URL");
    e.port = authority.empty() ? "" : std::string(authority.substr(1));
  } else {
    auto colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    e.port = colon == std::string_view::npos ? "" : std::string(authority.substr(colon + 1));
  }
  if (e.host.empty()) throw ConfigError("webhook '" + name + "': the URL names no host");
  if (e.port.empty()) e.port = e.tls ? "443" : "80";
  for (char c : e.port)
    if (c < '0' || c > '9') throw ConfigError("webhook '" + name + "': the URL's port is not a number");
  if (e.port.size() > 5 || std::stoul(e.port) > 65535) throw ConfigError("webhook '" + name + "': the URL's port is above 65535");
  for (char c : e.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      throw ConfigError("webhook '" + name + "': the URL's path holds spaces or control characters");
  return e;
}

struct TlsClient::Context {
  asio::ssl::context ssl{asio::ssl::context::tls_client};
};

TlsClient::TlsClient(bool verify, const std::string& ca_file, const std::string& name)
    : verify_(verify), context_(std::make_unique<Context>()) {
  auto& ctx = context_->ssl;
  if (!verify) {
    ctx.set_verify_mode(asio::ssl::verify_none);
    return;
  }
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::error_code ec;
  if (ca_file.empty())
    ctx.set_default_verify_paths(ec);
  else
    ctx.load_verify_file(ca_file, ec);
  if (ec)
    throw ConfigError("webhook '" + name + "': cannot load " + (ca_file.empty() ? "the system's CA certificates" : "ca_file '" + ca_file + "'") +
                      ": " + ec.message());
}

TlsClient::~TlsClient() = default;

HttpAnswer http_post(const Endpoint& endpoint, const HttpRequest& request, std::chrono::milliseconds timeout,
                     const TlsClient* tls, const std::string& name) {
  // One per handler thread, reused: making one per request costs an epoll
  // instance and its descriptors each time (a third of a local delivery).
  thread_local asio::io_context io;
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!endpoint.tls) {
    beast::tcp_stream stream(io);
    auto no_handshake = [](std::function<void(beast::error_code)> done) { done({}); };
    return exchange(stream, endpoint, request, io, deadline, name, no_handshake);
  }
  if (!tls) throw ConfigError("webhook '" + name + "': an https endpoint needs its TLS settings");
  beast::ssl_stream<beast::tcp_stream> stream(io, tls->context().ssl);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str()))
    throw TransportError("webhook '" + name + "': cannot set the TLS server name");
  if (tls->verify()) stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
  auto handshake = [&stream](std::function<void(beast::error_code)> done) {
    stream.async_handshake(asio::ssl::stream_base::client, [done](beast::error_code ec) { done(ec); });
  };
  return exchange(stream, endpoint, request, io, deadline, name, handshake);
}

}  // namespace herald::webhook_detail
