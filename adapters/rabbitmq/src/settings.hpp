#pragma once
// Where to connect and how: the URL and the options, checked once at start.
// Private to herald::rabbitmq.

#include <string>
#include <vector>

#include "herald/config.hpp"
#include "herald/rabbitmq/options.hpp"

namespace herald::rabbitmq {

/// The broker(s) of one URL. Several hosts (`amqp://u:p@h1:5672,h2:5672/`) are
/// tried in turn when connecting and reconnecting.
struct Endpoint {
  struct Host {
    std::string name;
    int port = 5672;
  };
  std::vector<Host> hosts;
  std::string user = "guest";
  std::string password;  // never printed: use `redacted`
  std::string vhost = "/";
  bool tls = false;
  /// The URL with the password replaced by ***: for every message and log.
  std::string redacted;
};

struct Settings {
  Endpoint endpoint;
  RabbitOptions options;
};

/// Reads the URL and options. Throws ConfigError naming the offending key,
/// file or URL part (never the password).
Settings read_settings(const BusConfig& config);

}  // namespace herald::rabbitmq
