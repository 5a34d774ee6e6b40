#include "admin_server.hpp"

#include <array>
#include <limits>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "herald/errors.hpp"

namespace herald::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// After a reply that ends the connection, what the client still sends is
// read and dropped for a moment: closing with unread data would reset the
// connection and could destroy the reply before the client reads it.
constexpr auto linger_time = std::chrono::seconds(1);
constexpr std::size_t max_linger_bytes = 1024 * 1024;
// A failed accept for want of descriptors or memory clears only as
// connections close: retry after a pause instead of spinning on the backlog.
constexpr auto accept_pause = std::chrono::milliseconds(100);

// What every connection shares; only the server's thread touches it.
struct Shared {
  AdminContext context;
  AdminOptions options;
  std::vector<std::shared_ptr<const void>> keep;
  std::size_t connections = 0;
  std::size_t refusals = 0;

  void report(const std::string& message) noexcept {
    if (!options.on_error) return;
    try {
      options.on_error(message);
    } catch (...) {
      // The reporter failing must not stop the server either.
    }
  }
};

// One connection: read a request, answer it, repeat while keep-alive. A
// refused one (over max_connections) is answered 503 without reading.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared, bool refused)
      : stream_(std::move(socket)), shared_(shared), refused_(refused) {
    ++(refused_ ? shared_.refusals : shared_.connections);
  }
  ~Session() { --(refused_ ? shared_.refusals : shared_.connections); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    guard([&] {
      if (refused_)
        refuse(503, "too many connections (at most " + std::to_string(shared_.options.max_connections) +
                        "); try again later");
      else
        read();
    });
  }

 private:
  // Completion handlers run on the server's thread: an exception there
  // would end io.run(), so it ends only this connection.
  template <class F>
  void guard(F&& step) noexcept {
    try {
      step();
    } catch (const std::exception& e) {
      shared_.report(std::string("admin connection dropped: ") + e.what());
      close();
    } catch (...) {
      shared_.report("admin connection dropped: unknown exception");
      close();
    }
  }

  void read() {
    // The header first: the body's limit depends on the route (an ingress
    // POST takes events, no other route reads a body).
    header_parser_.emplace();
    header_parser_->header_limit(shared_.options.max_header_bytes);
    // Not boost::none: this Beast compares a declared length with the
    // optional limit, and every length is greater than none.
    header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(shared_.options.idle_timeout);
    http::async_read_header(stream_, buffer_, *header_parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->guard([&] { self->on_header(ec); });
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    const auto& header = header_parser_->get();
    auto target = header.target();
    bool ingress = shared_.context.ingress && header.method() == http::verb::post &&
                   std::string_view(target.data(), target.size()).substr(0, target.find('?')) == "/v1/events";
    const std::uint64_t limit = ingress ? shared_.options.max_ingress_body_bytes : shared_.options.max_body_bytes;
    current_limit_ = limit;
    parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    // A declared length is checked here (the limit applies to it while the
    // header is parsed, which is over); a chunked body by the parser as it comes.
    if (auto length = parser_->content_length(); length && *length > limit) return on_read(http::error::body_limit);
    parser_->body_limit(limit);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->guard([&] { self->on_read(ec); });
    });
  }

  void on_read(beast::error_code ec) {
    if (!ec) return answer();
    if (ec == http::error::header_limit)
      return refuse(431, "request header larger than " + std::to_string(shared_.options.max_header_bytes) + " bytes");
    if (ec == http::error::body_limit)
      return refuse(413, "request body larger than " + std::to_string(current_limit_) + " bytes");
    bool malformed = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                     ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (malformed) return refuse(400, "malformed request: " + ec.message());
    close();  // the client left, or was idle too long
  }

  void answer() {
    const auto& request = parser_->get();
    auto method = request.method_string();
    auto target = request.target();
    auto authorization = request[http::field::authorization];
    AdminRequest routed{std::string_view(method.data(), method.size()), std::string_view(target.data(), target.size()),
                        std::string_view(authorization.data(), authorization.size())};
    for (const auto& field : request) {
      auto name = field.name_string();
      auto value = field.value();
      routed.headers.emplace_back(std::string_view(name.data(), name.size()), std::string_view(value.data(), value.size()));
    }
    routed.body = request.body();
    AdminReply reply = route_admin_request(routed, shared_.context);
    if (request.method() == http::verb::head) reply.body.clear();
    write(std::move(reply), request.version(), request.keep_alive());
  }

  // Answers `status` and ends the connection.
  void refuse(int status, const std::string& message) {
    nlohmann::json body{{"error", message}};
    write({status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}, 11,
          false);
  }

  void write(AdminReply reply, unsigned version, bool keep_alive) {
    auto response = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(reply.status), version);
    response->set(http::field::server, "herald-admin");
    response->set(http::field::content_type, reply.content_type);
    response->set(http::field::cache_control, "no-store");
    if (reply.status == 405) response->set(http::field::allow, reply.allow);
    if (reply.status == 401) response->set(http::field::www_authenticate, "Bearer");
    for (const auto& [name, value] : reply.headers) response->set(name, value);
    response->keep_alive(keep_alive);
    response->body() = std::move(reply.body);
    response->prepare_payload();
    // A client that does not read its reply is as idle as one that sends nothing.
    stream_.expires_after(shared_.options.idle_timeout);
    http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
      self->guard([&] {
        if (ec) return self->close();
        if (response->keep_alive()) return self->read();
        self->linger();
      });
    });
  }

  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(linger_time);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->guard([&] {
        self->lingered_ += n;
        if (ec || self->lingered_ > max_linger_bytes) return self->close();
        self->drain();
      });
    });
  }

  void close() noexcept {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  bool refused_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::uint64_t current_limit_ = 0;
  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;
};

}  // namespace

struct AdminServer::Impl {
  Impl(AdminContext context, const AdminOptions& options, std::vector<std::shared_ptr<const void>> keep)
      : shared{std::move(context), options, std::move(keep)}, acceptor(io), pause(io) {
    if (shared.options.max_connections == 0) throw ConfigError("admin: max_connections must be at least 1");
    beast::error_code ec;
    auto address = asio::ip::make_address(options.address, ec);
    if (ec) throw ConfigError("admin: bad bind address '" + options.address + "'");
    tcp::endpoint endpoint(address, options.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      throw TransportError("admin: cannot listen on " + options.address + ":" + std::to_string(options.port) + ": " +
                               ec.message(),
                           false);
    port = acceptor.local_endpoint().port();
    accept();
    thread = std::thread([this] { run(); });
  }

  void run() noexcept {
    // Every handler catches its own exceptions; this is the last line, so
    // that nothing escapes the thread (which would terminate the process).
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        shared.report(std::string("admin server: unexpected exception: ") + e.what());
      } catch (...) {
        shared.report("admin server: unexpected exception");
      }
    }
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      try {
        on_accept(ec, std::move(socket));
      } catch (const std::exception& e) {
        shared.report(std::string("admin server: accept: ") + e.what());
        accept_later();
      }
    });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;  // stopping
    if (ec) {
      // Re-arm whatever happened: one failed accept must not end the server.
      // A connection the client aborted is gone alone; anything else (out
      // of descriptors or memory) clears only later.
      if (!accept_failing) shared.report("admin server: accept failed: " + ec.message() + "; retrying");
      accept_failing = true;
      if (ec == asio::error::connection_aborted)
        accept();
      else
        accept_later();
      return;
    }
    if (accept_failing) shared.report("admin server: accepting again");
    accept_failing = false;
    if (shared.connections < shared.options.max_connections) {
      std::make_shared<Session>(std::move(socket), shared, false)->start();
    } else if (shared.refusals < shared.options.max_connections) {
      std::make_shared<Session>(std::move(socket), shared, true)->start();
    }  // else: dropped, closing the socket, rather than hold more descriptors
    accept();
  }

  void accept_later() {
    pause.expires_after(accept_pause);
    pause.async_wait([this](beast::error_code ec) {
      if (!ec && acceptor.is_open()) accept();
    });
  }

  Shared shared;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer pause;
  bool accept_failing = false;
  std::uint16_t port = 0;
  std::thread thread;
};

AdminServer::AdminServer(std::shared_ptr<EventStore> store, std::shared_ptr<const Metrics> metrics,
                         AdminOptions options) {
  if (!store) throw ConfigError("admin: store is null");
  AdminContext context;
  context.store = store.get();
  context.metrics = metrics.get();
  impl_ = std::make_unique<Impl>(std::move(context), options, std::vector<std::shared_ptr<const void>>{store, metrics});
}

AdminServer::AdminServer(AdminContext context, AdminOptions options, std::vector<std::shared_ptr<const void>> keep) {
  impl_ = std::make_unique<Impl>(std::move(context), options, std::move(keep));
}

AdminServer::~AdminServer() { stop(); }

std::uint16_t AdminServer::port() const noexcept { return impl_->port; }

void AdminServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  // Sessions hold only `shared` and their own sockets; stopping the
  // io_context drops them with it.
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->pause.cancel();
    impl->io.stop();
  });
  impl_->thread.join();
}

}  // namespace herald::admin
