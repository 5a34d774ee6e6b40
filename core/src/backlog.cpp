// What a group has left on a transport, and moving its dead letters to
// another: the pieces of a cut-over (docs/migration.md).

#include "herald/bus.hpp"
#include "herald/errors.hpp"
#include "herald/ext/transport.hpp"

namespace herald {

namespace ext {

GroupBacklog Transport::do_backlog(const std::string&, const std::string&) { return {}; }

std::size_t Transport::do_hand_over_dead_letters(const std::string&, const std::optional<std::string>&,
                                                 const std::function<void(const DeadLetter&)>&) {
  throw ConfigError("dead letters: transport '" + features().name + "' cannot hand its dead letters over");
}

}  // namespace ext

std::size_t move_dead_letters(EventBus& from, EventBus& to, const std::string& group,
                              const std::optional<std::string>& id, const std::string& pattern) {
  const GroupBacklog there = to.backlog(group, pattern);
  // A transport that cannot tell is trusted (the operator named it); one
  // that can and has no trace of the group would drop or skip the letters.
  if (there.known && !there.exists)
    throw NotFoundError("dead letters: group '" + group + "' does not exist on '" + to.features().name +
                        "' (start its consumer there once, then move)");
  return from.hand_over_dead_letters(group, id, [&](const DeadLetter& letter) {
    Envelope event = letter.event;
    event.extensions[group_extension] = group;
    to.publish(std::move(event));
  });
}

}  // namespace herald
