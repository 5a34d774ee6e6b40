// Headers of foreign messages, without a broker. Found by fuzzing
// (tests/fuzz/fuzz_amqp_headers.cpp).

#include <catch2/catch.hpp>

#include "message.hpp"

using namespace herald::rabbitmq;

TEST_CASE("a header with an empty key does not stop the message's other headers from being read",
          "[rabbitmq][unit][headers]") {
  amqp_table_entry_t entries[2];
  entries[0].key = amqp_cstring_bytes("");
  entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[0].value.value.bytes = amqp_cstring_bytes("foreign");
  entries[1].key = amqp_cstring_bytes("x-herald-partitionkey");
  entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[1].value.value.bytes = amqp_cstring_bytes("42");
  amqp_basic_properties_t p{};
  p._flags = AMQP_BASIC_HEADERS_FLAG;
  p.headers = amqp_table_t{2, entries};

  Properties props = Properties::from(p);  // threw std::bad_alloc
  CHECK(props.headers.text(header::partitionkey) == "42");
  Properties copy = props;
  CHECK(copy.headers.text(header::partitionkey) == "42");
}
