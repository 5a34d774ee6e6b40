#include <catch2/catch.hpp>

#include "producer.hpp"

using herald::kafka::retriable;

TEST_CASE("a write is tried again only for errors that may clear", "[kafka][unit][producer]") {
  // Broker away, leader moving, queue full, timeout: the next try may work.
  for (auto err : {RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL,
                   RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                   RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT}) {
    INFO(rd_kafka_err2name(err));
    CHECK(retriable(err));
  }
  // Too large, not authorized, fatal: every try fails the same way.
  for (auto err : {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
                   RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
                   RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION}) {
    INFO(rd_kafka_err2name(err));
    CHECK_FALSE(retriable(err));
  }
}
