// Standard Webhooks signatures (https://www.standardwebhooks.com): the key is
// the secret's base64 after the "whsec_" prefix; the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>".

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "herald/errors.hpp"
#include "herald/webhook.hpp"
#include "signing_key.hpp"

namespace herald::webhook_detail {

namespace {

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::vector<unsigned char> decode_key(const std::string& secret) {
  std::string b64 = secret.rfind("whsec_", 0) == 0 ? secret.substr(6) : secret;
  if (b64.empty() || b64.size() % 4 != 0) throw ConfigError("webhook: the secret is not base64 (whsec_<base64>)");
  std::vector<unsigned char> key(3 * b64.size() / 4);
  int n = EVP_DecodeBlock(key.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) throw ConfigError("webhook: the secret is not base64 (whsec_<base64>)");
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  for (auto it = b64.rbegin(); it != b64.rend() && *it == '=' && size > 0; ++it) --size;
  key.resize(size);
  if (key.empty()) throw ConfigError("webhook: the secret's key is empty");
  return key;
}

}  // namespace

SigningKey::SigningKey(const std::string& secret) : key_(decode_key(secret)) {}

std::string SigningKey::sign(const std::string& id, long long timestamp, const std::string& body) const {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(content.data()),
            content.size(), mac, &size))
    throw Error(ErrorCode::config, "webhook: HMAC-SHA256 failed");
  return "v1," + base64(mac, size);
}

std::string sign(const std::string& secret, const std::string& id, long long timestamp, const std::string& body) {
  return SigningKey(secret).sign(id, timestamp, body);
}

}  // namespace herald::webhook_detail
