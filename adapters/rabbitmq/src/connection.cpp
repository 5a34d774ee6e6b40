#include "connection.hpp"

#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "tls_checks.hpp"

namespace herald::rabbitmq {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

std::string host_url(const Endpoint& ep, const Endpoint::Host& h) {
  std::string vhost = ep.vhost == "/" ? "" : ep.vhost;
  return std::string(ep.tls ? "amqps" : "amqp") + "://" + ep.user + (ep.password.empty() ? "" : ":***") + "@" + h.name +
         ":" + std::to_string(h.port) + "/" + vhost;
}

// A socket on `state` for `host` as the options say: TCP, or TLS with the
// CA, client certificate and checks of the options.
amqp_socket_t* make_socket(amqp_connection_state_t state, const Settings& settings, const Endpoint::Host& host,
                           const std::string& where) {
  if (!settings.endpoint.tls) {
    amqp_socket_t* socket = amqp_tcp_socket_new(state);
    if (!socket) throw TransportError("rabbitmq: cannot create a socket for " + where);
    return socket;
  }
  amqp_socket_t* socket = amqp_ssl_socket_new(state);
  if (!socket) throw TransportError("rabbitmq: cannot create a TLS socket for " + where);
  const TlsOptions& t = settings.options.tls;
  amqp_ssl_socket_set_verify_peer(socket, t.verify_peer ? 1 : 0);
  prepare_tls(socket, host.name, t.verify_peer && t.verify_hostname);
  if (!t.ca_file.empty()) {
    int rc = amqp_ssl_socket_set_cacert(socket, t.ca_file.c_str());
    if (rc != AMQP_STATUS_OK)
      throw ConfigError("rabbitmq: option 'tls_ca': cannot load CA bundle '" + t.ca_file + "': " + status_text(rc));
  }
  if (!t.cert_file.empty()) {
    int rc = amqp_ssl_socket_set_key(socket, t.cert_file.c_str(), t.key_file.c_str());
    if (rc != AMQP_STATUS_OK)
      throw ConfigError("rabbitmq: options 'tls_cert'/'tls_key': cannot load '" + t.cert_file + "' / '" +
                        t.key_file + "': " + status_text(rc));
  }
  return socket;
}

struct DestroyState {
  void operator()(amqp_connection_state_t s) const noexcept { amqp_destroy_connection(s); }
};

// With TLS 1.3 a broker checks the client certificate after the client
// finished its handshake, sends its alert and closes. A client that already
// wrote its protocol header (login does at once) may get a TCP reset instead,
// which throws the unread alert away: the reason is lost in a race. So, only
// after a login failed that way, a second connection with the same settings
// completes the handshake, writes nothing and waits for the broker's alert.
// Empty when the broker says nothing within the connect timeout (at most 5 s).
std::string tls_refusal_by_probe(const Settings& settings, const Endpoint::Host& host, const std::string& where) {
  std::unique_ptr<amqp_connection_state_t_, DestroyState> probe(amqp_new_connection());
  if (!probe) return {};
  reset_tls_failure();
  try {
    amqp_socket_t* socket = make_socket(probe.get(), settings, host, where);
    timeval timeout = to_timeval(std::min<std::chrono::milliseconds>(settings.options.connect_timeout,
                                                                      std::chrono::seconds(5)));
    if (amqp_socket_open_noblock(socket, host.name.c_str(), host.port, &timeout) != AMQP_STATUS_OK)
      return tls_failure_reason();
    // Reading is what lets OpenSSL take the alert (into its error queue). A
    // broker that accepted the certificate sends no frame before the
    // protocol header, so this returns at the timeout.
    amqp_frame_t frame{};
    amqp_simple_wait_frame_noblock(probe.get(), &frame, &timeout);
    return tls_failure_reason();
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

std::string status_text(int status) {
  std::string text = amqp_error_string2(status);
  // A non-blocking connect leaves EINPROGRESS behind: not the reason.
  if ((status == AMQP_STATUS_SOCKET_ERROR || status == AMQP_STATUS_TCP_ERROR) && errno != 0 && errno != EINPROGRESS &&
      errno != EAGAIN)
    text += " (" + std::string(std::strerror(errno)) + ")";
  return text;
}

Connection::Connection(const Settings& settings, std::size_t host_index, const std::string& role)
    : state_(amqp_new_connection()) {
  const Endpoint& ep = settings.endpoint;
  const RabbitOptions& o = settings.options;
  const Endpoint::Host& host = ep.hosts.at(host_index % ep.hosts.size());
  where_ = host_url(ep, host);
  if (!state_) throw TransportError("rabbitmq: out of memory creating a connection to " + where_);

  amqp_socket_t* socket = make_socket(state_.get(), settings, host, where_);
  if (ep.tls && !o.tls.cert_file.empty()) {
    std::string why = client_certificate_problem(o.tls.cert_file);
    if (!why.empty())
      throw ConfigError("rabbitmq: option 'tls_cert': the client certificate '" + o.tls.cert_file + "' cannot be used: " +
                        why + " (a broker checking client certificates refuses it)");
  }

  timeval connect_timeout = to_timeval(o.connect_timeout);
  errno = 0;
  if (ep.tls) reset_tls_failure();
  int rc = amqp_socket_open_noblock(socket, host.name.c_str(), host.port, &connect_timeout);
  if (rc != AMQP_STATUS_OK) {
    std::string why = ep.tls ? tls_failure_reason() : std::string();
    // A certificate the client refuses does not get better by retrying.
    if (!why.empty() && (rc == AMQP_STATUS_SSL_PEER_VERIFY_FAILED || rc == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED))
      throw ConfigError("rabbitmq: cannot connect to " + where_ + ": " + status_text(rc) + ": " + why);
    throw TransportError("rabbitmq: cannot connect to " + where_ + ": " + status_text(rc) +
                         (ep.tls ? (why.empty() ? "" : ": " + why) : " (is the broker running?)"));
  }
  amqp_set_handshake_timeout(state_.get(), &connect_timeout);
  amqp_set_rpc_timeout(state_.get(), &connect_timeout);

  // Client properties: a readable connection name plus the user's amqp.* options.
  std::vector<std::string> keys, values;
  keys.emplace_back("connection_name");
  values.push_back("herald " + role);
  for (const auto& [k, v] : o.client_properties) {
    if (k == "connection_name") {
      values[0] = v + " (" + role + ")";
      continue;
    }
    keys.push_back(k);
    values.push_back(v);
  }
  std::vector<amqp_table_entry_t> entries(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    entries[i].key = bytes_of(keys[i]);
    entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[i].value.value.bytes = bytes_of(values[i]);
  }
  amqp_table_t properties{static_cast<int>(entries.size()), entries.data()};

  amqp_rpc_reply_t login = amqp_login_with_properties(
      state_.get(), ep.vhost.c_str(), 0, o.frame_max, static_cast<int>(o.heartbeat.count()), &properties,
      AMQP_SASL_METHOD_PLAIN, ep.user.c_str(), ep.password.c_str());
  if (login.reply_type == AMQP_RESPONSE_NORMAL) {
    usable_ = true;
    return;
  }
  if (login.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && login.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_connection_close_t*>(login.reply.decoded);
    throw ConfigError("rabbitmq: " + where_ + " refused the login of user '" + ep.user + "' to vhost '" + ep.vhost +
                      "': " + (m ? std::to_string(m->reply_code) + " " + to_string(m->reply_text) : "no reason given"));
  }
  // With TLS 1.3 the broker refuses a client certificate after the client
  // finished its handshake: the refusal (its alert) surfaces at login.
  if (ep.tls && login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    std::string why = tls_failure_reason();
    // A clean close came from a broker that accepted the handshake; a reset
    // (a socket or SSL error) is what can swallow an alert.
    if (why.empty() && login.library_error != AMQP_STATUS_CONNECTION_CLOSED)
      why = tls_refusal_by_probe(settings, host, where_);
    if (!why.empty())
      throw ConfigError("rabbitmq: " + where_ + " refused the TLS connection: " + why +
                        " (the broker checks the client certificate: options 'tls_cert'/'tls_key')");
  }
  if (login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && login.library_error == AMQP_STATUS_CONNECTION_CLOSED)
    throw ConfigError("rabbitmq: " + where_ + " closed the connection during login of user '" + ep.user +
                      "' to vhost '" + ep.vhost + "' (wrong user/password, or no access to the vhost)");
  if (login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
    throw TransportError("rabbitmq: login to " + where_ + " failed: " + status_text(login.library_error));
  throw TransportError("rabbitmq: login to " + where_ + " failed");
}

Connection::~Connection() {
  if (!usable_) return;
  for (auto ch : std::set<amqp_channel_t>(open_channels_)) close_channel(ch);
  amqp_connection_close(state_.get(), AMQP_REPLY_SUCCESS);
}

int Connection::sockfd() const noexcept { return amqp_get_sockfd(state_.get()); }

amqp_channel_t Connection::next_channel() {
  if (last_channel_ >= 65'000) lost("opening a channel", "channel numbers exhausted on this connection");
  return ++last_channel_;
}

void Connection::open_channel(amqp_channel_t channel) {
  amqp_channel_open(state_.get(), channel);
  check(amqp_get_rpc_reply(state_.get()), channel, "opening channel " + std::to_string(channel));
  open_channels_.insert(channel);
}

void Connection::close_channel(amqp_channel_t channel) noexcept {
  if (!open_channels_.erase(channel) || !usable_) return;
  amqp_rpc_reply_t r = amqp_channel_close(state_.get(), channel, AMQP_REPLY_SUCCESS);
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) usable_ = false;
}

void Connection::check(const amqp_rpc_reply_t& reply, amqp_channel_t channel, const std::string& what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return;
    case AMQP_RESPONSE_NONE:
      lost(what, "no reply from the broker");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      lost(what, status_text(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      server_close(reply.reply.id, reply.reply.decoded, channel, what);
  }
  lost(what, "unknown reply");
}

void Connection::check_status(int status, const std::string& what) {
  if (status != AMQP_STATUS_OK) lost(what, status_text(status));
}

void Connection::on_close_method(const amqp_method_t& method, amqp_channel_t channel, const std::string& what) {
  server_close(method.id, method.decoded, channel, what);
}

void Connection::lost(const std::string& what, const std::string& why) {
  usable_ = false;
  throw ConnectionLost("rabbitmq: " + what + " on " + where_ + " failed: " + why);
}

void Connection::server_close(amqp_method_number_t id, const void* decoded, amqp_channel_t channel,
                              const std::string& what) {
  if (id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_connection_close_t*>(decoded);
    amqp_connection_close_ok_t ok{};
    amqp_send_method(state_.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    lost(what, "the broker closed the connection: " +
                   (m ? std::to_string(m->reply_code) + " " + to_string(m->reply_text) : std::string("no reason")));
  }
  if (id != AMQP_CHANNEL_CLOSE_METHOD) lost(what, std::string("unexpected method ") + amqp_method_name(id));
  const auto* m = static_cast<const amqp_channel_close_t*>(decoded);
  const int code = m ? m->reply_code : 0;
  const std::string text = m ? to_string(m->reply_text) : std::string();
  amqp_channel_close_ok_t ok{};
  if (amqp_send_method(state_.get(), channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) usable_ = false;
  open_channels_.erase(channel);
  const std::string message = "rabbitmq: " + what + " failed: the broker closed the channel: " + std::to_string(code) +
                              " " + text;
  if (code == reply_not_found) throw NotFoundError(message);
  if (code == reply_precondition_failed || code == reply_access_refused || code == reply_resource_locked)
    throw ConfigError(message);
  throw TransportError(message);
}

}  // namespace herald::rabbitmq
