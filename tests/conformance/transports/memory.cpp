#include "harness.hpp"

namespace herald::test {

TransportUnderTest transport_under_test() {
  return {"memory", [](const std::string&) {
            BusConfig c = BusConfig::from_url("memory://?workers=4");
            return c;
          }};
}

}  // namespace herald::test
