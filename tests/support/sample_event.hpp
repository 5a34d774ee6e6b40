#pragma once
// An event with every attribute of the table set, and a fixed id and time so
// that the bytes a codec writes for it can be compared with golden ones.

#include <string>

#include "herald/envelope.hpp"
#include "herald/ext/attributes.hpp"

namespace herald::test {

inline Envelope every_attribute_event() {
  Envelope e = Envelope::make("order.created", {{"order_id", "42"}}, "svc/orders");
  e.id = "0190f2a4-1c2b-7d3e-8f40-5a6b7c8d9e0f";
  e.time = parse_time("2026-11-23T09:30:00.123456Z");
  e.subject = "orders/42";
  e.dataschema = "https://herald.dev/schemas/order.created.v2.json";
  e.dataversion = 2;
  e.partitionkey = "42";
  e.aggregatetype = "order";
  e.aggregateid = "42";
  e.correlationid = "c-1";
  e.causationid = "c-0";
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.actor = "user:7";
  e.extensions["tenant"] = "acme";
  e.extensions["priority"] = 3;
  return e;
}

/// Sets `a` on `e` to a value of its kind that is not Envelope's default.
inline void set_sample_value(Envelope& e, const ext::Attribute& a) {
  switch (a.kind) {
    case ext::AttributeKind::timestamp: e.*a.time = parse_time("2031-02-03T04:05:06.000007Z"); break;
    case ext::AttributeKind::integer: e.*a.integer = a.absent + 41; break;
    case ext::AttributeKind::media_type: e.*a.text = "application/vnd.sample+json"; break;
    default: e.*a.text = "sample-" + std::string(a.name); break;
  }
}

}  // namespace herald::test
