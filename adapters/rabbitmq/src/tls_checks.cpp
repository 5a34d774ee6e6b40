#include "tls_checks.hpp"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>

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

std::string time_text(const ASN1_TIME* t) {
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (!out || ASN1_TIME_print(out.get(), t) != 1) return "?";
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return n > 0 && data ? std::string(data, static_cast<std::size_t>(n)) : std::string("?");
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

std::string client_certificate_problem(const std::string& cert_file) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> in(std::fopen(cert_file.c_str(), "r"), std::fclose);
  if (!in) return {};
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_X509(in.get(), nullptr, nullptr, nullptr), X509_free);
  // Nothing of this may reach the handshake's reason.
  ERR_clear_error();
  if (!cert) return {};
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0)
    return "certificate expired on " + time_text(X509_get0_notAfter(cert.get()));
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0)
    return "certificate not valid before " + time_text(X509_get0_notBefore(cert.get()));
  return {};
}

}  // namespace herald::rabbitmq
