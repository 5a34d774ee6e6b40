#include "group_claim.hpp"

#include <map>
#include <mutex>
#include <utility>

#include "herald/errors.hpp"

namespace herald::kafka {

namespace {

struct Held {
  std::string pattern;
  int members = 0;
};

struct Claims {
  std::mutex mutex;
  std::map<std::pair<std::string, std::string>, Held> held;  // (brokers, group id) -> pattern
};

Claims& claims() {
  static Claims* c = new Claims;  // never destroyed: members may stop during static destruction
  return *c;
}

}  // namespace

GroupClaim::GroupClaim(std::string brokers, std::string group_id, std::string pattern)
    : brokers_(std::move(brokers)), group_id_(std::move(group_id)) {
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  Held& h = c.held[{brokers_, group_id_}];
  if (h.members > 0 && h.pattern != pattern)
    throw ConfigError("kafka: group '" + group_id_ + "' already reads pattern '" + h.pattern +
                      "' in this process; a member with pattern '" + pattern +
                      "' would share its partitions and each would skip the events only the other's pattern "
                      "matches (give the new subscription a group of its own)");
  h.pattern = std::move(pattern);
  ++h.members;
}

GroupClaim::~GroupClaim() {
  Claims& c = claims();
  std::lock_guard lock(c.mutex);
  auto it = c.held.find({brokers_, group_id_});
  if (it != c.held.end() && --it->second.members <= 0) c.held.erase(it);
}

}  // namespace herald::kafka
