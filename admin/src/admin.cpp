#include "herald/admin.hpp"

#include <charconv>
#include <cstdlib>

#include "admin_server.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "ingress.hpp"

namespace herald::admin {

struct Server::Impl {
  AdminServer server;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

std::uint16_t Server::port() const noexcept { return impl_->server.port(); }

void Server::stop() { impl_->server.stop(); }

namespace {

// "host:port", "[v6]:port".
std::pair<std::string, std::uint16_t> split_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    throw ConfigError("admin: listen '" + listen + "' is not host:port");
  std::string host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') throw ConfigError("admin: listen '" + listen + "' is not [v6-address]:port");
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const char* first = listen.data() + colon + 1;
  const char* last = listen.data() + listen.size();
  auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || port > 65535)
    throw ConfigError("admin: listen '" + listen + "' has no port from 0 to 65535");
  return {host, static_cast<std::uint16_t>(port)};
}

std::unique_ptr<Server> start_with(EventBus* bus, Options options) {
  auto [host, port] = split_listen(options.listen);
  AdminContext context;
  context.bus = bus;
  context.store = options.store.get();
  if (bus) {
    context.metrics = &bus->metrics();
    context.transport = bus->features().name;
    // An outbox's retries and dead letters are its transport's to count.
    if (auto* outbox = dynamic_cast<OutboxBus*>(bus)) {
      context.verdicts = &outbox->transport().metrics();
      if (!context.store) context.store = &outbox->store();  // the bus's own outbox
    }
  }
  if (options.token) {
    context.token = *options.token;
  } else if (const char* env = std::getenv("HERALD_ADMIN_TOKEN")) {
    context.token = env;
  }
  context.groups = options.groups;
  context.max_relay_lag = options.max_relay_lag;
  std::vector<std::shared_ptr<const void>> keep;
  std::uint64_t ingress_body = 0;
  if (options.ingress) {
    if (!bus) throw ConfigError("admin: the ingress needs a bus to publish to (start(bus, options))");
    auto ingress = std::make_shared<Ingress>(*bus, std::move(*options.ingress));
    ingress_body = ingress->max_body_bytes();
    context.ingress = [raw = ingress.get()](const AdminRequest& request) { return raw->handle(request); };
    keep.push_back(std::move(ingress));
  }
  AdminOptions network{.address = host,
                       .port = port,
                       .max_connections = options.max_connections,
                       .max_header_bytes = options.max_header_bytes,
                       .max_body_bytes = options.max_body_bytes,
                       .max_ingress_body_bytes = ingress_body,
                       .idle_timeout = options.idle_timeout,
                       .on_error = std::move(options.on_error)};
  if (options.store) keep.push_back(options.store);
  auto impl = std::unique_ptr<Server::Impl>(new Server::Impl{AdminServer(std::move(context), network, std::move(keep))});
  return std::make_unique<Server>(std::move(impl));
}

}  // namespace

std::unique_ptr<Server> start(EventBus& bus, Options options) { return start_with(&bus, std::move(options)); }

std::unique_ptr<Server> start(Options options) { return start_with(nullptr, std::move(options)); }

}  // namespace herald::admin
