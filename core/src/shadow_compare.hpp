#pragma once
// The comparison behind ShadowVerifier, apart from its subscriptions so that
// it is a pure function of what each side received.

#include <string>
#include <vector>

#include "herald/envelope.hpp"
#include "herald/shadow_verify.hpp"

namespace herald::detail {

/// One delivery to the verifier, as it arrived.
struct ShadowReceipt {
  std::string id;
  std::string key;     // partitionkey
  std::string digest;  // event_digest
  Timestamp time{};    // the event's time (zero: it carries none)
  Timestamp received{};
};

/// The window: events whose time is at least `start` (or who carry no time)
/// and that either side received before `end`.
struct ShadowWindow {
  Timestamp start{};
  Timestamp end{};
};

/// Compares the deliveries of each side, each in arrival order.
ShadowReport compare_shadow(const std::vector<ShadowReceipt>& old_side, const std::vector<ShadowReceipt>& new_side,
                            const ShadowWindow& window, const ShadowVerifyOptions& options);

}  // namespace herald::detail
