// URL and store URL parsing, and redaction: any text either parses or throws
// ConfigError, redact_url never throws; and a password put into a URL (in
// the userinfo, percent-encoded or pasted raw, or as a credential option)
// never comes out of redact_url or of any error about that URL.

#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

using namespace herald;

namespace {

// Everything core prints about `url`.
std::vector<std::string> messages_for(const std::string& url) {
  std::vector<std::string> out;
  try {
    out.push_back(redact_url(url));
  } catch (const std::exception& ex) {
    FUZZ_CHECK(false, ex.what());
  }
  auto capture = [&](auto&& fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      out.emplace_back(e.what());
    } catch (const std::exception& ex) {
      FUZZ_CHECK(false, ex.what());  // only ConfigError may come out
    }
  };
  capture([&] { (void)Url::parse(url); });
  capture([&] { (void)BusConfig::from_url(url); });
  capture([&] { (void)StoreUrl::parse(url); });
  return out;
}

std::string replace(std::string text, const std::string& what, const std::string& with) {
  return text.replace(text.find(what), what.size(), with);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // Any text at all.
  std::string text = in.ConsumeRandomLengthString(256);
  (void)messages_for(text);

  // A password in every place a user may put one.
  static const char* const shapes[] = {
      "amqp://app:{}@127.0.0.1:5672/vh?heartbeat=5", "kafka://app:{}@b1:9092,b2:9092?acks=all",
      "postgresql://app:{}@db:5432/x?sslmode=disable", "amqps://app:{}@[::1]:5671/",
      "postgresql://app@db/x?password={}&schema=s",     "kafka://b:9092?sasl.password={}",
      "kafka://b:9092?kafka.ssl.key.password={}",       "nats://app:{}@h:99999/"};
  std::string shape = shapes[in.ConsumeIntegralInRange<std::size_t>(0, std::size(shapes) - 1)];
  std::string password = in.ConsumeRandomLengthString(40);
  std::string skeleton = replace(shape, "{}", "***");
  if (password.size() < 6 || skeleton.find(password) != std::string::npos) return 0;
  // A password that is part of what is printed anyway ("***@db", "bad port").
  for (const auto& message : messages_for(replace(shape, "{}", "Qz9xW")))
    if (message.find(password) != std::string::npos) return 0;
  std::vector<std::string> urls = {replace(shape, "{}", percent_encode(password))};
  // Pasted raw into the userinfo: any byte but '?' (which a query would claim).
  if (shape.find(":{}@") != std::string::npos && password.find('?') == std::string::npos)
    urls.push_back(replace(shape, "{}", password));
  for (const auto& url : urls)
    for (const auto& message : messages_for(url)) {
      FUZZ_CHECK(message.find(password) == std::string::npos, message.c_str());
      FUZZ_CHECK(message.find(percent_encode(password)) == std::string::npos, message.c_str());
    }
  return 0;
}
