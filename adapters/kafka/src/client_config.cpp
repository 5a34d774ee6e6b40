#include "client_config.hpp"

#include <openssl/x509.h>

#include <cstdio>

#include <cctype>

#include "herald/errors.hpp"

namespace herald::kafka {

bool is_secret_property(std::string_view name) {
  auto has = [&](std::string_view part) { return name.find(part) != std::string_view::npos; };
  return has("password") || has("secret") || has("oauthbearer.config") || has("sasl.jaas") ||
         (has("key") && has(".pem"));
}

Redactor::Redactor(const KafkaOptions& options) {
  if (!options.sasl_password.empty()) secrets_.push_back(options.sasl_password);
  for (const auto* props : {&options.properties, &options.producer_properties, &options.consumer_properties})
    for (const auto& [name, value] : *props)
      if (is_secret_property(name) && !value.empty()) secrets_.push_back(value);
}

std::string Redactor::operator()(std::string text) const {
  for (const auto& secret : secrets_) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3))
      text.replace(at, secret.size(), "***");
  }
  return text;
}

std::string describe(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")";
}

void ClientHooks::log(const char* client, const char* facility, const std::string& message, LogLevel level) const {
  if (!log_enabled(level)) return;
  herald::log(level, "herald.kafka",
              "[" + std::string(client ? client : "?") + "] " + (facility ? facility : "") + ": " + (*redactor_)(message));
}

void ClientHooks::log_client_line(const char* client, int level, const char* facility, const char* message) const {
  // syslog levels, as librdkafka gives them.
  const LogLevel mapped = level <= 3 ? LogLevel::error : level == 4 ? LogLevel::warn : level <= 6 ? LogLevel::info : LogLevel::debug;
  if (mapped == LogLevel::debug && debug_requested_.load()) {
    herald::write_log({now_micros(), mapped, "herald.kafka",
                       "[" + std::string(client ? client : "?") + "] " + (facility ? facility : "") + ": " +
                           (*redactor_)(message ? message : ""),
                       nullptr});
    return;
  }
  log(client, facility, message ? message : "", mapped);
}

void ClientHooks::on_error(rd_kafka_t* rk, rd_kafka_resp_err_t err, const std::string& reason) {
  // "1/1 brokers are down" would hide the reason they are: not kept.
  if (err == RD_KAFKA_RESP_ERR__SSL || err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
      err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
    std::lock_guard lock(errors_mutex_);
    last_broker_error_ = describe(err) + ": " + (*redactor_)(reason);
    // A refused certificate comes as _SSL or, on a reconnect, as _TRANSPORT
    // with librdkafka's short text: both get OpenSSL's verdict.
    bool about_certificate = err == RD_KAFKA_RESP_ERR__SSL || reason.find("certificate verify failed") != std::string::npos;
    if (about_certificate && !certificate_problem_.empty())
      last_broker_error_ += " (" + certificate_problem_ + ")";
  }
  // librdkafka reconnects by itself; these repeat every few seconds while a
  // broker is away and say nothing the caller's deadlines do not.
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
      err == RD_KAFKA_RESP_ERR__RESOLVE)
    return;
  log(rd_kafka_name(rk), "ERROR", describe(err) + ": " + reason, LogLevel::error);
}

std::string ClientHooks::last_broker_error() const {
  std::lock_guard lock(errors_mutex_);
  return last_broker_error_;
}

void ClientHooks::note_certificate_problem(std::string reason) {
  std::lock_guard lock(errors_mutex_);
  certificate_problem_ = std::move(reason);
}

std::string broker_error_suffix(rd_kafka_t* rk) {
  const auto* hooks = rk ? static_cast<const ClientHooks*>(rd_kafka_opaque(rk)) : nullptr;
  std::string last = hooks ? hooks->last_broker_error() : std::string();
  return last.empty() ? last : "; last broker error: " + last;
}

namespace {

// librdkafka's own message for a refused certificate is "certificate verify
// failed" with a hint about ssl.ca.location, whatever the reason; OpenSSL's
// verdict says which (expired, unknown issuer, host name mismatch). Same
// decision as without the callback: refuse exactly what OpenSSL refused.
int cert_verify_cb(rd_kafka_t* /*rk*/, const char* broker_name, int32_t /*broker_id*/, int* x509_error, int depth,
                   const char* /*buf*/, size_t /*size*/, char* errstr, size_t errstr_size, void* opaque) {
  if (*x509_error == X509_V_OK) return 1;
  std::string why = std::string(X509_verify_cert_error_string(*x509_error)) + " (certificate at depth " +
                    std::to_string(depth) + " presented by " + (broker_name ? broker_name : "the broker") + ")";
  std::snprintf(errstr, errstr_size, "%s", why.c_str());
  if (opaque) static_cast<ClientHooks*>(opaque)->note_certificate_problem(std::move(why));
  return 0;
}

bool verifies_certificates(const std::map<std::string, std::string>& props) {
  auto get = [&](const char* name) {
    auto it = props.find(name);
    return it == props.end() ? std::string() : it->second;
  };
  std::string protocol = get("security.protocol");
  for (auto& c : protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return protocol.find("ssl") != std::string::npos && get("enable.ssl.certificate.verification") != "false";
}

void log_cb(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  auto* hooks = static_cast<ClientHooks*>(rd_kafka_opaque(rk));
  // Without hooks there is no redactor: the facility only, never the text.
  if (hooks) hooks->log_client_line(rd_kafka_name(rk), level, facility, message);
  else herald::log(LogLevel::warn, "herald.kafka", facility ? facility : "");
}

void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  static_cast<ClientHooks*>(opaque)->on_error(rk, static_cast<rd_kafka_resp_err_t>(err), reason ? reason : "");
}

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value, const Redactor& redactor) {
  char errstr[512] = {0};
  rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
  if (res == RD_KAFKA_CONF_OK) return;
  if (res == RD_KAFKA_CONF_UNKNOWN)
    throw ConfigError("kafka: unknown librdkafka property '" + name + "' (options 'kafka." + name + "')");
  if (is_secret_property(name)) throw ConfigError("kafka: librdkafka refused the value of property '" + name + "'");
  throw ConfigError("kafka: librdkafka property '" + name + "' = '" + redactor(value) + "': " + redactor(errstr));
}

}  // namespace

ConfPtr make_conf(const KafkaOptions& options, ClientRole role, ClientHooks& hooks,
                  const std::map<std::string, std::string>& fixed) {
  std::map<std::string, std::string> props{{"bootstrap.servers", options.brokers}, {"client.id", "herald"}};
  if (!options.sasl_username.empty()) {
    props["security.protocol"] = "SASL_PLAINTEXT";
    props["sasl.mechanisms"] = "PLAIN";
    props["sasl.username"] = options.sasl_username;
    props["sasl.password"] = options.sasl_password;
  }
  switch (role) {
    case ClientRole::producer:
      props["enable.idempotence"] = "true";
      props["acks"] = "all";
      props["linger.ms"] = "5";
      break;
    case ClientRole::consumer:
      props["enable.auto.commit"] = "false";
      props["enable.auto.offset.store"] = "false";
      props["auto.offset.reset"] = "earliest";
      props["enable.partition.eof"] = "false";
      // A member joining or leaving is noticed within a heartbeat; the
      // librdkafka defaults (3 s, 45 s) make every rebalance slow.
      props["heartbeat.interval.ms"] = "1000";
      props["session.timeout.ms"] = "10000";
      // Pattern subscriptions (regex) see new topics at this interval;
      // herald also refreshes when it creates a topic itself.
      props["topic.metadata.refresh.interval.ms"] = "10000";
      // A partition that becomes fetchable while a fetch is parked on the
      // broker waits for that fetch to return: bound it (librdkafka: 500).
      props["fetch.wait.max.ms"] = "100";
      break;
    case ClientRole::reader:
      props["enable.auto.commit"] = "false";
      props["enable.auto.offset.store"] = "false";
      props["enable.partition.eof"] = "false";
      break;
  }
  if (options.low_latency) {
    // Small requests sent at once: Nagle would hold a lone record back for
    // the ack of the previous segment, and linger for a batch to form.
    props["socket.nagle.disable"] = "true";
    if (role == ClientRole::producer) props["linger.ms"] = "0";
    if (role == ClientRole::consumer) props["fetch.wait.max.ms"] = "10";
  }
  for (const auto& [k, v] : options.properties) props[k] = v;
  const auto& own = role == ClientRole::producer ? options.producer_properties : options.consumer_properties;
  for (const auto& [k, v] : own) props[k] = v;
  for (const auto& [k, v] : fixed) props[k] = v;

  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [k, v] : props) set(conf.get(), k, v, hooks.redactor());
  rd_kafka_conf_set_opaque(conf.get(), &hooks);
  auto debug = props.find("debug");
  hooks.set_debug_requested(debug != props.end() && !debug->second.empty());
  rd_kafka_conf_set_log_cb(conf.get(), log_cb);
  rd_kafka_conf_set_error_cb(conf.get(), error_cb);
  if (verifies_certificates(props)) {
    if (rd_kafka_conf_set_ssl_cert_verify_cb(conf.get(), cert_verify_cb) != RD_KAFKA_CONF_OK)
      throw ConfigError("kafka: librdkafka was built without SSL support, needed by security.protocol");
  }
  return conf;
}

KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf, const Redactor& redactor) {
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (!rk) throw ConfigError("kafka: cannot create the client: " + redactor(errstr));
  (void)conf.release();  // rd_kafka_new owns it now
  return KafkaPtr(rk);
}

}  // namespace herald::kafka
