#include "harness.hpp"

namespace herald::test {

// In process only: no foreign producer can reach it (it carries Envelope
// objects, not bytes) and no other process shares it.
TransportUnderTest memory_transport() {
  TransportUnderTest t;
  t.name = "memory";
  t.config = [](const std::string&) { return BusConfig::from_url("memory://?workers=4"); };
  return t;
}

}  // namespace herald::test
