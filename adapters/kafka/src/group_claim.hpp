#pragma once
// The members of one Kafka consumer group share its partitions, and each
// drops the records its pattern does not match: two patterns in one group
// would each silently skip events only the other wants. A claim holds a
// group for one pattern in this process; another pattern is refused.

#include <string>

namespace herald::kafka {

class GroupClaim {
 public:
  /// Claims group `group_id` on the cluster at `brokers` for `pattern`
  /// (more members with the same pattern are fine). Throws ConfigError
  /// naming the group and both patterns when it is held for another one.
  GroupClaim(std::string brokers, std::string group_id, std::string pattern);
  ~GroupClaim();
  GroupClaim(const GroupClaim&) = delete;
  GroupClaim& operator=(const GroupClaim&) = delete;

 private:
  const std::string brokers_;
  const std::string group_id_;
};

}  // namespace herald::kafka
