#pragma once
// What rabbitmq-c 0.11 leaves out of TLS: it checks the broker's host name
// only against DNS names (so amqps://127.0.0.1 is refused even by a
// certificate made for IP 127.0.0.1), and its errors never say why a
// handshake failed ("SSL peer cert verification failed"). Both are done here
// on the socket's OpenSSL context.

#include <string>

#include "amqp.hpp"

namespace herald::rabbitmq {

/// Before connecting `socket` (an amqp_ssl_socket) to `host`: with
/// `verify_hostname`, OpenSSL itself checks the certificate names `host` (a
/// DNS name or an IP address) and rabbitmq-c's own check is switched off;
/// every certificate check failure is remembered for tls_failure_reason().
void prepare_tls(amqp_socket_t* socket, const std::string& host, bool verify_hostname);

/// Forgets the calling thread's last TLS failure (call before connecting).
void reset_tls_failure();

/// Why the last TLS handshake on the calling thread failed: OpenSSL's verdict
/// on the broker's certificate ("certificate has expired") or the broker's
/// alert ("tlsv13 alert certificate required"); empty when nothing is known.
std::string tls_failure_reason();

/// Why the client certificate in PEM file `cert_file` cannot be used now
/// ("certificate expired on Jan  1 00:00:00 2020 GMT", "certificate not valid
/// before ..."); empty when it is valid now or cannot be read here (loading it
/// reports that). Checked before connecting, because a broker refusing it
/// under TLS 1.3 does so after the handshake, where its alert can be lost.
std::string client_certificate_problem(const std::string& cert_file);

}  // namespace herald::rabbitmq
