#include "tls_checks.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace herald::rabbitmq {

namespace {

// A connection is opened on one thread, start to end: the reason lives there.
thread_local std::string t_certificate_problem;

// Records OpenSSL's verdict and changes nothing: rabbitmq-c decides from
// SSL_get_verify_result() after the handshake, as before.
int remember_verdict(int ok, X509_STORE_CTX* store) {
  if (!ok && t_certificate_problem.empty()) {
    t_certificate_problem = std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(store))) +
                            " (broker certificate at depth " + std::to_string(X509_STORE_CTX_get_error_depth(store)) +
                            ")";
  }
  return ok;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

void prepare_tls(amqp_socket_t* socket, const std::string& host, bool verify_hostname) {
  auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
  if (!ctx) return;
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), remember_verdict);
  amqp_ssl_socket_set_verify_hostname(socket, 0);
  if (!verify_hostname) return;
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  }
}

void reset_tls_failure() {
  t_certificate_problem.clear();
  ERR_clear_error();
}

std::string tls_failure_reason() {
  if (!t_certificate_problem.empty()) return t_certificate_problem;
  // The broker's alert (or a local handshake error) as OpenSSL queued it.
  std::string reason;
  while (unsigned long e = ERR_get_error()) {
    if (const char* text = ERR_reason_error_string(e)) reason = text;
  }
  return reason;
}

}  // namespace herald::rabbitmq
