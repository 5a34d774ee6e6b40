#include "settings.hpp"

#include <fstream>

#include "herald/errors.hpp"
#include "herald/ext/options.hpp"

namespace herald::rabbitmq {

namespace {

Endpoint::Host parse_host(const std::string& text, int default_port, const std::string& redacted) {
  Endpoint::Host h;
  h.port = default_port;
  std::string name = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos && text.find(']') == std::string::npos) {
    name = text.substr(0, colon);
    std::string port = text.substr(colon + 1);
    try {
      std::size_t used = 0;
      h.port = std::stoi(port, &used);
      if (used != port.size() || h.port < 1 || h.port > 65535) throw std::invalid_argument(port);
    } catch (const std::exception&) {
      throw ConfigError("rabbitmq: url '" + redacted + "': bad port '" + port + "'");
    }
  }
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  if (name.empty()) throw ConfigError("rabbitmq: url '" + redacted + "': missing host name");
  h.name = name;
  return h;
}

void require_readable(const std::string& key, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("rabbitmq: option '" + key + "': cannot read file '" + path + "'");
}

}  // namespace

Settings read_settings(const BusConfig& original) {
  Settings s;
  Endpoint& ep = s.endpoint;
  ep.redacted = redact_url(original.url);
  Url url = Url::parse(original.url);
  if (url.scheme != "amqp" && url.scheme != "amqps")
    throw ConfigError("rabbitmq: url '" + ep.redacted + "': scheme must be amqp:// or amqps://");
  ep.tls = url.scheme == "amqps";
  const int default_port = ep.tls ? 5671 : 5672;
  if (url.host.empty()) throw ConfigError("rabbitmq: url '" + ep.redacted + "': missing host name");
  if (url.host.find(',') != std::string::npos) {
    std::size_t start = 0;
    while (start <= url.host.size()) {
      auto comma = url.host.find(',', start);
      ep.hosts.push_back(parse_host(url.host.substr(start, comma - start), default_port, ep.redacted));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    Endpoint::Host h;
    h.name = url.host;
    h.port = url.port ? url.port : default_port;
    if (h.name.size() > 2 && h.name.front() == '[' && h.name.back() == ']') h.name = h.name.substr(1, h.name.size() - 2);
    ep.hosts.push_back(h);
  }
  if (!url.user.empty()) ep.user = url.user;
  ep.password = url.user.empty() && url.password.empty() ? "guest" : url.password;
  ep.vhost = url.path.empty() ? "/" : url.path;

  // A URL that still carries its query (BusConfig built by hand) counts too;
  // options given separately win.
  BusConfig config = original;
  for (const auto& [k, v] : url.query) config.options.emplace(k, v);

  OptionReader r(config, "rabbitmq");
  RabbitOptions& o = s.options;
  o.exchange = r.text("exchange", o.exchange);
  if (o.exchange.empty()) throw ConfigError("rabbitmq: option 'exchange' must not be empty");
  if (o.exchange.rfind("amq.", 0) == 0)
    throw ConfigError("rabbitmq: option 'exchange' = '" + o.exchange + "': names starting with 'amq.' are reserved by the broker");
  o.queue_prefix = r.text("queue_prefix", o.queue_prefix);
  o.queue_type = r.choice("queue_type", "classic", {"classic", "quorum"}) == "quorum" ? QueueType::quorum : QueueType::classic;
  o.single_active_consumer = r.flag("single_active_consumer", o.single_active_consumer);
  o.queue_expires = r.duration("queue_expires", o.queue_expires);
  o.dead_letter_expires = r.duration("dead_letter_expires", o.dead_letter_expires);
  std::string unroutable = r.choice("unroutable", "keep", {"keep", "error", "drop"});
  o.unroutable = unroutable == "error" ? Unroutable::error : unroutable == "drop" ? Unroutable::drop : Unroutable::keep;
  o.unroutable_max = r.integer("unroutable_max", o.unroutable_max, 1, 1LL << 31);
  o.confirm_window = static_cast<int>(r.integer("confirm_window", o.confirm_window, 1, 65'535));
  o.publish_timeout = r.duration("publish_timeout", o.publish_timeout);
  if (o.publish_timeout.count() <= 0) throw ConfigError("rabbitmq: option 'publish_timeout' must be positive");
  o.prefetch_multiplier = static_cast<int>(r.integer("prefetch_multiplier", o.prefetch_multiplier, 1, 65'535));
  o.connect_timeout = r.duration("connect_timeout", o.connect_timeout);
  if (o.connect_timeout.count() <= 0) throw ConfigError("rabbitmq: option 'connect_timeout' must be positive");
  o.reconnect_delay = r.duration("reconnect_delay", o.reconnect_delay);
  o.reconnect_max_delay = r.duration("reconnect_max_delay", o.reconnect_max_delay);
  if (o.reconnect_max_delay < o.reconnect_delay)
    throw ConfigError("rabbitmq: option 'reconnect_max_delay' must be at least 'reconnect_delay'");
  auto heartbeat = r.duration("heartbeat", std::chrono::duration_cast<std::chrono::milliseconds>(o.heartbeat));
  if (heartbeat.count() % 1000 != 0 || heartbeat > std::chrono::hours(18))
    throw ConfigError("rabbitmq: option 'heartbeat' must be whole seconds (e.g. 30s), up to 18 hours");
  o.heartbeat = std::chrono::duration_cast<std::chrono::seconds>(heartbeat);
  o.frame_max = static_cast<int>(r.integer("frame_max", o.frame_max, 4096, 1 << 24));

  TlsOptions& t = o.tls;
  t.ca_file = r.text("tls_ca", "");
  t.cert_file = r.text("tls_cert", "");
  t.key_file = r.text("tls_key", "");
  t.verify_peer = r.flag("tls_verify", true);
  t.verify_hostname = r.flag("tls_verify_hostname", true);
  o.client_properties = r.with_prefix("amqp.");
  r.finish();

  bool any_tls = !t.ca_file.empty() || !t.cert_file.empty() || !t.key_file.empty() ||
                 config.options.count("tls_verify") || config.options.count("tls_verify_hostname");
  if (!ep.tls && any_tls)
    throw ConfigError("rabbitmq: tls_* options need an amqps:// URL, got '" + ep.redacted + "'");
  if (ep.tls) {
    if (t.cert_file.empty() != t.key_file.empty())
      throw ConfigError("rabbitmq: options 'tls_cert' and 'tls_key' go together (client certificate and its key)");
    if (t.verify_peer && t.ca_file.empty())
      throw ConfigError(
          "rabbitmq: amqps:// verifies the broker's certificate and needs option 'tls_ca' (a PEM bundle, e.g. "
          "/etc/ssl/certs/ca-certificates.crt); tls_verify=false switches verification off");
    if (!t.ca_file.empty()) require_readable("tls_ca", t.ca_file);
    if (!t.cert_file.empty()) require_readable("tls_cert", t.cert_file);
    if (!t.key_file.empty()) require_readable("tls_key", t.key_file);
  }
  return s;
}

}  // namespace herald::rabbitmq
