#include "herald/typed.hpp"

namespace herald {

void Upcasters::add(std::string type, int from_version, Fn fn) {
  std::lock_guard lock(mutex_);
  steps_[{std::move(type), from_version}] = std::move(fn);
}

nlohmann::json Upcasters::lift(const std::string& type, int version, nlohmann::json payload, int target) const {
  if (version > target)
    throw DecodeError("dataversion", "dataversion: " + type + " v" + std::to_string(version) +
                                         " is newer than this service understands (v" + std::to_string(target) + ")");
  while (version < target) {
    Fn step;
    {
      std::lock_guard lock(mutex_);
      auto it = steps_.find({type, version});
      if (it == steps_.end())
        throw DecodeError("dataversion", "dataversion: no upcaster for " + type + " from v" +
                                             std::to_string(version) + " to v" + std::to_string(version + 1));
      step = it->second;
    }
    payload = step(std::move(payload));
    ++version;
  }
  return payload;
}

Upcasters& Upcasters::global() {
  static Upcasters registry;
  return registry;
}

}  // namespace herald
