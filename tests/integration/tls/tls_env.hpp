#pragma once
// Where the TLS tests find the brokers' TLS listeners and the certificates
// scripts/brokers/certs made for them (scripts/test exports these).

#include <string>

#include "test_options.hpp"

namespace herald::test {

/// HERALD_TEST_TLS_DIR, default <repo>/.state/tls (what the broker scripts use).
inline std::string tls_dir() { return env_or("HERALD_TEST_TLS_DIR", std::string(HERALD_SOURCE_DIR) + "/.state/tls"); }
inline std::string tls_file(const std::string& name) { return tls_dir() + "/" + name; }

/// The RabbitMQ TLS listener (mutual TLS: it requires a client certificate).
inline std::string amqps_url() { return env_or("HERALD_TEST_AMQPS_URL", "amqps://guest:guest@127.0.0.1:5671/"); }

/// The Kafka SSL listener (mutual TLS: it requires a client certificate).
inline std::string kafka_ssl_brokers() { return env_or("HERALD_TEST_KAFKA_SSL_BROKERS", "127.0.0.1:9094"); }

}  // namespace herald::test
