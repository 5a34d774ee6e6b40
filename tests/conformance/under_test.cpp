// The transport this conformance binary tests: HERALD_CONFORMANCE_TRANSPORT
// is an expression over the functions of harness.hpp, set per target in
// CMakeLists.txt (`rabbitmq_transport()`, `outbox_over(memory_transport())`).

#include "harness.hpp"

namespace herald::test {

TransportUnderTest transport_under_test() { return HERALD_CONFORMANCE_TRANSPORT; }

}  // namespace herald::test
