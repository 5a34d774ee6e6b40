#include "herald/config.hpp"
#include "harness.hpp"

namespace herald::test {

std::string url_of(const BusConfig& config) {
  std::string url = config.url;
  char separator = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [key, value] : config.options) {
    url += separator + percent_encode(key) + "=" + percent_encode(value);
    separator = '&';
  }
  return url;
}

std::vector<std::string> consumer_command(const std::string& url, const std::string& store_url) {
  return {HERALD_CONFORMANCE_CONSUMER, url, store_url.empty() ? "-" : store_url};
}

}  // namespace herald::test
