#pragma once
// A Standard Webhooks key, decoded once from its secret: a webhook signs
// every event with it, and decoding base64 per event would be wasted work.

#include <string>
#include <vector>

namespace herald::webhook_detail {

class SigningKey {
 public:
  /// "whsec_<base64>" or the base64 alone; throws ConfigError naming
  /// neither the secret nor the key.
  explicit SigningKey(const std::string& secret);
  /// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>".
  std::string sign(const std::string& id, long long timestamp, const std::string& body) const;

 private:
  std::vector<unsigned char> key_;
};

}  // namespace herald::webhook_detail
