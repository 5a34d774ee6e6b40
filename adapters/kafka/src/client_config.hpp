#pragma once
// librdkafka client configuration: herald's defaults, the pass-through
// properties, and the hooks (logs, errors) every client shares. Secrets are
// redacted here, once, before anything is logged or thrown.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "handles.hpp"
#include "herald/kafka/options.hpp"
#include "herald/log.hpp"

namespace herald::kafka {

/// Replaces every known secret value (SASL password, key passwords, ...) in
/// a text with `***`. Immutable once built; shared by the bus's clients.
class Redactor {
 public:
  explicit Redactor(const KafkaOptions& options);
  std::string operator()(std::string text) const;

 private:
  std::vector<std::string> secrets_;
};

/// Whether a librdkafka property holds a secret (its value is never printed).
bool is_secret_property(std::string_view name);

/// "Local: Broker transport failure (_TRANSPORT)".
std::string describe(rd_kafka_resp_err_t err);

/// What a client's opaque points at: logs go through the redactor to
/// herald's log hook (herald/log.hpp, logger "herald.kafka"), errors to
/// on_error(). Owners (producer, group member) derive from it; it must
/// outlive the rd_kafka_t it is given to.
class ClientHooks {
 public:
  explicit ClientHooks(std::shared_ptr<const Redactor> redactor) : redactor_(std::move(redactor)) {}
  virtual ~ClientHooks() = default;
  ClientHooks(const ClientHooks&) = delete;
  ClientHooks& operator=(const ClientHooks&) = delete;

  /// Called on librdkafka's threads. The default logs the error, except the
  /// transient connection errors librdkafka recovers from by itself.
  virtual void on_error(rd_kafka_t* rk, rd_kafka_resp_err_t err, const std::string& reason);
  void log(const char* client, const char* facility, const std::string& message,
           LogLevel level = LogLevel::warn) const;
  /// librdkafka's own line at its syslog `level` (0 emergency … 7 debug).
  void log_client_line(const char* client, int level, const char* facility, const char* message) const;
  /// The client was given `debug` contexts: its debug lines were asked for
  /// and pass whatever HERALD_LOG_LEVEL says.
  void set_debug_requested(bool requested) noexcept { debug_requested_.store(requested); }
  const Redactor& redactor() const noexcept { return *redactor_; }

  /// The latest failure of a broker connection (TLS handshake, authentication,
  /// transport), with why the broker's certificate was refused when it was;
  /// empty when there was none. librdkafka retries such failures by itself,
  /// so callers only see a timeout: this is what names the cause.
  std::string last_broker_error() const;
  /// Called on librdkafka's threads when the broker's certificate fails a check.
  void note_certificate_problem(std::string reason);

 private:
  std::shared_ptr<const Redactor> redactor_;
  std::atomic<bool> debug_requested_{false};
  mutable std::mutex errors_mutex_;
  std::string last_broker_error_;
  std::string certificate_problem_;
};

/// "; last broker error: <...>" from the hooks of `rk`, or empty: appended to
/// errors that are only a timeout on the surface.
std::string broker_error_suffix(rd_kafka_t* rk);

enum class ClientRole { producer, consumer, reader };

/// A configuration for one client: herald's defaults for `role`, then
/// KafkaOptions::properties, then the role's own pass-through, then `fixed`
/// (what herald must decide, such as group.id). Installs the log and error
/// callbacks with `hooks` as opaque. Throws ConfigError naming the property.
ConfPtr make_conf(const KafkaOptions& options, ClientRole role, ClientHooks& hooks,
                  const std::map<std::string, std::string>& fixed = {});

/// rd_kafka_new with ownership of `conf` passed on success. Throws
/// ConfigError (librdkafka refuses the combination of properties).
KafkaPtr make_client(rd_kafka_type_t type, ConfPtr conf, const Redactor& redactor);

}  // namespace herald::kafka
