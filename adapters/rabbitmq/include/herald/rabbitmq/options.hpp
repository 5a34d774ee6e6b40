#pragma once
// Options of the RabbitMQ transport (amqp://, amqps://). Every field has a
// URL query / BusConfig option of the same name; docs/rabbitmq.md lists them.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace herald::rabbitmq {

/// TLS settings for amqps:// URLs. Peer verification is on by default and then
/// needs a CA bundle: there is no silent fallback to "trust anything".
struct TlsOptions {
  std::string ca_file;         // tls_ca: PEM bundle the broker's certificate must chain to
  std::string cert_file;       // tls_cert: client certificate (PEM), with tls_key
  std::string key_file;        // tls_key: client private key (PEM)
  bool verify_peer = true;     // tls_verify
  bool verify_hostname = true; // tls_verify_hostname (only with tls_verify)
};

enum class QueueType { classic, quorum };

/// What happens to an event no queue is bound for.
enum class Unroutable {
  keep,   // exchange has an alternate exchange; the event waits in `<exchange>.unroutable`
  error,  // mandatory flag: publish throws PublishError naming the routing key
  drop,   // the broker discards it (plain AMQP behaviour)
};

/// amqp://user:pass@host:5672/vhost?exchange=orders&queue_type=quorum
struct RabbitOptions {
  /// Durable topic exchange every event is published to (routing key = type).
  std::string exchange = "herald.events";
  /// Queue of group G is `<queue_prefix>G`; its retry queues `<queue>.retry.<n>`,
  /// its dead letters `<queue>.dlq`.
  std::string queue_prefix;
  /// Type of the group queues; retry and dead-letter queues are always classic.
  QueueType queue_type = QueueType::classic;
  /// Only one member of a group consumes at a time (strict order per queue).
  bool single_active_consumer = false;
  /// Group queues (and their redelivered queues) are deleted by the broker
  /// after being unused this long, with their messages (0: never). For
  /// tests, demos and throwaway groups.
  std::chrono::milliseconds queue_expires{0};
  /// The same for the queues where messages wait without a consumer: delay
  /// (retry), dead-letter and unroutable queues. Deletes dead letters and
  /// waiting retries (0: never). For tests only.
  std::chrono::milliseconds dead_letter_expires{0};
  Unroutable unroutable = Unroutable::keep;
  /// x-max-length of `<exchange>.unroutable`; beyond it unroutable publishes fail.
  long long unroutable_max = 100'000;

  /// Publishes sent and not yet confirmed by the broker, per bus.
  int confirm_window = 256;
  /// How long publish waits for the broker's confirm (also while reconnecting).
  std::chrono::milliseconds publish_timeout{30'000};
  /// basic.qos prefetch = subscription concurrency × prefetch_multiplier.
  int prefetch_multiplier = 4;

  std::chrono::milliseconds connect_timeout{10'000};
  /// Reconnect backoff: first delay, doubled up to the maximum.
  std::chrono::milliseconds reconnect_delay{100};
  std::chrono::milliseconds reconnect_max_delay{5'000};
  /// AMQP heartbeat interval (0: off).
  std::chrono::seconds heartbeat{30};
  int frame_max = 131'072;

  TlsOptions tls;
  /// `amqp.<name>` options, sent as client properties (e.g. amqp.connection_name).
  std::map<std::string, std::string> client_properties;
};

}  // namespace herald::rabbitmq
