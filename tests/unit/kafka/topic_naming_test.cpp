#include <catch2/catch.hpp>

#include "topic_naming.hpp"

using namespace herald::kafka;

TEST_CASE("the family rule maps a type to prefix plus its first word", "[kafka][unit][topics]") {
  KafkaOptions o;
  TopicNaming n(o);
  CHECK(n.event_topic("order.created") == "herald.order");
  CHECK(n.event_topic("order.item.added") == "herald.order");
  CHECK(n.event_topic("order") == "herald.order");
  CHECK(n.event_topic("bestellung.über") == "herald.bestellung");
  CHECK(n.event_topic("caf\xc3\xa9.opened") == "herald.caf__");
  CHECK(n.retry_topic("herald.order", "mail er/1") == "herald.order.retry.mail_er_1");
  CHECK(n.dlq_topic("herald.order") == "herald.order.dlq");
  CHECK(n.is_event_topic("herald.order"));
  CHECK_FALSE(n.is_event_topic("herald.order.dlq"));
  CHECK_FALSE(n.is_event_topic("other.order"));
  CHECK(n.is_dlq_topic("herald.order.dlq"));
  CHECK_FALSE(n.is_dlq_topic("herald.order.retry.g.dlq"));
}

TEST_CASE("a pattern reads its family topic, or every family when it starts with a wildcard", "[kafka][unit][topics]") {
  KafkaOptions o;
  o.topic_prefix = "shop.eu.";
  TopicNaming n(o);
  auto literal = n.select("order.#", "billing");
  CHECK(literal.event_topic == "shop.eu.order");
  CHECK(n.subscription(literal) == std::vector<std::string>{"shop.eu.order", "shop.eu.order.retry.billing"});
  CHECK(n.selected(literal, "shop.eu.order.retry.billing"));
  CHECK_FALSE(n.selected(literal, "shop.eu.order.retry.other"));
  CHECK_FALSE(n.selected(literal, "shop.eu.user"));

  auto open = n.select("#.failed", "ops.team");
  CHECK(n.is_open(open));
  CHECK(n.subscription(open) ==
        std::vector<std::string>{"^shop\\.eu\\.[^.]+$", "^shop\\.eu\\.[^.]+\\.retry\\.ops\\.team$"});
  CHECK(n.selected(open, "shop.eu.user"));
  CHECK(n.selected(open, "shop.eu.user.retry.ops.team"));
  CHECK_FALSE(n.selected(open, "shop.eu.user.dlq"));
  CHECK_FALSE(n.selected(open, "shop.eu.user.retry.other"));
}

TEST_CASE("the single rule puts every type in one topic", "[kafka][unit][topics]") {
  KafkaOptions o;
  o.topic_rule = TopicRule::single;
  o.topic = "all";
  TopicNaming n(o);
  CHECK(n.event_topic("order.created") == "herald.all");
  CHECK(n.event_topic("user.registered") == "herald.all");
  CHECK(n.select("*.created", "g").event_topic == "herald.all");
  CHECK(n.is_event_topic("herald.all"));
  CHECK_FALSE(n.is_event_topic("herald.order"));
  CHECK(n.is_dlq_topic("herald.all.dlq"));
}
