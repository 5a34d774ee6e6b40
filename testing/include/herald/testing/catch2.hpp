#pragma once
// A Catch2 (v2) listener giving every test case a broker namespace of its own
// (herald/testing/brokers.hpp), dropped when the test case ends. Include it
// after <catch2/catch.hpp> in one source file of the test binary and register
// it there (Catch2 declares listeners only with CATCH_CONFIG_EXTERNAL_INTERFACES
// or in the file that defines its main):
//
//   #define CATCH_CONFIG_EXTERNAL_INTERFACES
//   #include <catch2/catch.hpp>
//   #include "herald/testing/catch2.hpp"
//   using herald::testing::NamespacePerTestCase;   // the macro takes a plain name
//   CATCH_REGISTER_LISTENER(NamespacePerTestCase)
//
// Tests then call herald::testing::current_test_namespace(). GoogleTest: call
// begin_test_namespace / end_test_namespace from a ::testing::EmptyTestEventListener's
// OnTestStart / OnTestEnd (docs/testing.md).

#include "herald/testing/brokers.hpp"

namespace herald::testing {

struct NamespacePerTestCase : Catch::TestEventListenerBase {
  using Catch::TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override { begin_test_namespace(info.name); }
  void testCaseEnded(const Catch::TestCaseStats&) override { end_test_namespace(); }
};

}  // namespace herald::testing
