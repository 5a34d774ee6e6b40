#include "herald/ext/transport.hpp"

#include <map>
#include <mutex>

#include "registry.hpp"

namespace herald {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, TransportFactory> factories;
};

// Function-local so adapters' static initializers can use it in any order.
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_transport(const std::string& scheme, TransportFactory factory) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.factories[scheme] = std::move(factory);
}

std::vector<std::string> registered_transports() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> out;
  for (const auto& [k, _] : r.factories) out.push_back(k);
  return out;
}

TransportFactory detail::find_transport(const std::string& scheme) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.factories.find(scheme);
  return it == r.factories.end() ? TransportFactory{} : it->second;
}

}  // namespace herald
