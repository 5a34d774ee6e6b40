#pragma once
#include "herald/ext/transport.hpp"

namespace herald::detail {
/// The factory for `scheme`, or an empty function.
TransportFactory find_transport(const std::string& scheme);
}  // namespace herald::detail
