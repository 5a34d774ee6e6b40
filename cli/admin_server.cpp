#include "admin_server.hpp"

#include <charconv>
#include <chrono>
#include <sstream>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/store_support.hpp"

namespace herald::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;

struct Reply {
  http::status status = http::status::ok;
  std::string content_type = "application/json";
  std::string body;
};

Reply json_reply(http::status status, const nlohmann::json& body) { return {status, "application/json", body.dump()}; }
Reply error_reply(http::status status, const std::string& message) {
  return json_reply(status, {{"error", message}});
}

std::size_t parse_limit(const std::map<std::string, std::string>& query) {
  auto it = query.find("limit");
  if (it == query.end() || it->second.empty()) return default_limit;
  std::size_t limit = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), limit);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || limit == 0 || limit > max_limit)
    throw ConfigError("limit '" + it->second + "' must be a whole number from 1 to " + std::to_string(max_limit));
  return limit;
}

std::string param(const std::map<std::string, std::string>& query, const char* name) {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

void gauge(std::ostringstream& out, const char* name, const char* help, double value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << value << '\n';
}

class Handlers {
 public:
  Handlers(std::shared_ptr<EventStore> store, std::shared_ptr<const Metrics> metrics)
      : store_(std::move(store)), metrics_(std::move(metrics)) {}

  Reply handle(http::verb method, std::string_view target) {
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query_text = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
    if (method != http::verb::get && method != http::verb::head)
      return error_reply(http::status::method_not_allowed, "only GET is served");
    try {
      // Url::parse does the percent-decoding of the query.
      auto query = query_text.empty() ? std::map<std::string, std::string>()
                                      : Url::parse("http://admin?" + std::string(query_text)).query;
      if (path == "/healthz") return health();
      if (path == "/metrics") return metrics();
      if (path == "/v1/events") return events(query);
      constexpr std::string_view prefix = "/v1/events/";
      if (path.substr(0, prefix.size()) == prefix && path.size() > prefix.size())
        return event(Url::parse("http://admin/" + std::string(path.substr(prefix.size()))).path);
      return error_reply(http::status::not_found, "no such resource: " + std::string(path));
    } catch (const ConfigError& e) {
      return error_reply(http::status::bad_request, e.what());
    } catch (const NotFoundError& e) {
      return error_reply(http::status::not_found, e.what());
    } catch (const Error& e) {
      return error_reply(e.retriable() ? http::status::service_unavailable : http::status::internal_server_error,
                         e.what());
    } catch (const std::exception& e) {
      return error_reply(http::status::internal_server_error, e.what());
    }
  }

 private:
  Reply health() {
    try {
      store_->count_pending();
      return json_reply(http::status::ok, {{"status", "ok"}, {"store", store_->describe()}});
    } catch (const std::exception& e) {
      return json_reply(http::status::service_unavailable, {{"status", "unavailable"}, {"error", e.what()}});
    }
  }

  Reply metrics() {
    std::ostringstream out;
    if (metrics_) out << metrics_->prometheus();
    OutboxStatus st = store_->backlog();  // every scrape: no count of delivered rows
    double age = 0;
    if (st.oldest_pending)
      age = std::max(0.0, std::chrono::duration<double>(now_micros() - *st.oldest_pending).count());
    gauge(out, "outbox_pending", "Outbox events not delivered yet (including those waiting for a retry).",
          static_cast<double>(st.pending));
    gauge(out, "outbox_retrying", "Pending outbox events whose publish failed at least once.",
          static_cast<double>(st.retrying));
    gauge(out, "outbox_dead", "Outbox events the relay gave up on.", static_cast<double>(st.dead));
    gauge(out, "outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox event (0 when none).", age);
    return {http::status::ok, "text/plain; version=0.0.4", out.str()};
  }

  Reply events(const std::map<std::string, std::string>& query) {
    for (const auto& [key, _] : query)
      if (key != "aggregateType" && key != "aggregateId" && key != "cursor" && key != "limit")
        throw ConfigError("unknown parameter '" + key + "' (known: aggregateType, aggregateId, cursor, limit)");
    std::string type = param(query, "aggregateType"), id = param(query, "aggregateId"),
                cursor = param(query, "cursor");
    std::size_t limit = parse_limit(query);
    if (type.empty() != id.empty()) throw ConfigError("aggregateType and aggregateId go together");
    EventPage page;
    if (!type.empty()) {
      page = store_->timeline(type, id, cursor, limit);
    } else {
      // Every event in position order, with the same kind of cursor.
      std::int64_t after = cursor.empty() ? 0 : parse_cursor(cursor);
      ScanResult scan = store_->scan({}, after, limit + 1);
      for (auto& row : scan.events) {
        if (page.events.size() == limit) {
          page.next_cursor = make_cursor(page.events.back().position);
          break;
        }
        page.events.push_back(std::move(row));
      }
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& row : page.events) items.push_back(row.to_json());
    return json_reply(http::status::ok,
                      {{"events", std::move(items)},
                       {"nextCursor", page.next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(page.next_cursor)}});
  }

  Reply event(const std::string& id) {
    auto row = store_->find(id);
    if (!row) return error_reply(http::status::not_found, "no event with id '" + id + "'");
    return json_reply(http::status::ok, row->to_json());
  }

  std::shared_ptr<EventStore> store_;
  std::shared_ptr<const Metrics> metrics_;
};

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Handlers& handlers) : stream_(std::move(socket)), handlers_(handlers) {}
  void start() { read(); }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->answer();
    });
  }

  void answer() {
    Reply reply = handlers_.handle(request_.method(), std::string_view(request_.target().data(), request_.target().size()));
    auto response = std::make_shared<http::response<http::string_body>>(reply.status, request_.version());
    response->set(http::field::server, "herald-admin");
    response->set(http::field::content_type, reply.content_type);
    response->set(http::field::cache_control, "no-store");
    response->keep_alive(request_.keep_alive());
    if (request_.method() != http::verb::head) response->body() = std::move(reply.body);
    response->prepare_payload();
    http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (response->keep_alive())
        self->read();
      else
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  Handlers& handlers_;
};

}  // namespace

struct AdminServer::Impl {
  Impl(std::shared_ptr<EventStore> store, std::shared_ptr<const Metrics> metrics, const AdminOptions& options)
      : handlers(std::move(store), std::move(metrics)), acceptor(io) {
    beast::error_code ec;
    auto address = asio::ip::make_address(options.address, ec);
    if (ec) throw ConfigError("serve: bad bind address '" + options.address + "'");
    tcp::endpoint endpoint(address, options.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw TransportError("serve: cannot listen on " + options.address + ":" + std::to_string(options.port) + ": " +
                               ec.message(),
                           false);
    port = acceptor.local_endpoint().port();
    accept();
    thread = std::thread([this] { io.run(); });
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed: stopping
      std::make_shared<Session>(std::move(socket), handlers)->start();
      accept();
    });
  }

  Handlers handlers;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::thread thread;
};

AdminServer::AdminServer(std::shared_ptr<EventStore> store, std::shared_ptr<const Metrics> metrics,
                         AdminOptions options) {
  if (!store) throw ConfigError("serve: store is null");
  impl_ = std::make_unique<Impl>(std::move(store), std::move(metrics), options);
}

AdminServer::~AdminServer() { stop(); }

std::uint16_t AdminServer::port() const noexcept { return impl_->port; }

void AdminServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  // Sessions hold only the handlers and their own sockets; stopping the
  // io_context drops them with it.
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->io.stop();
  });
  impl_->thread.join();
}

}  // namespace herald::cli
