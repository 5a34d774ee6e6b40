// Configuration and failure reporting: URLs, options, pass-through
// properties, secrets kept out of errors, delivery failures as exceptions.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "herald/errors.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("bad URLs and unknown options are refused with what is wrong", "[kafka][config]") {
  CHECK_THROWS_WITH(make_bus("kafka://"), Catch::Contains("names no broker"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:notaport"), Catch::Contains("bad port"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092/some/path"), Catch::Contains("must not have a path"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?topic_prefx=x."), Catch::Contains("topic_prefx"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?mode=xml"), Catch::Contains("mode"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?partitions=0"), Catch::Contains("partitions"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?topic_prefix=bad/prefix"), Catch::Contains("topic_prefix"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?kafka.group.id=mine"), Catch::Contains("group_prefix"));
  CHECK_THROWS_AS(make_bus("kafka://127.0.0.1:9092?retry_topic=maybe"), ConfigError);
}

TEST_CASE("librdkafka properties pass through and are checked by librdkafka", "[kafka][config]") {
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?kafka.no.such.property=1"),
                    Catch::Contains("unknown librdkafka property 'no.such.property'"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?kafka.producer.linger.ms=soon"), Catch::Contains("linger.ms"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?kafka.producer.compression.type=zip"),
                    Catch::Contains("compression.type"));
  CHECK_THROWS_WITH(make_bus("kafka://127.0.0.1:9092?kafka.consumer.session.timeout.ms=long"),
                    Catch::Contains("session.timeout.ms"));

  // Accepted properties take effect: lz4-compressed records still arrive.
  KafkaFixture f({{"kafka.producer.compression.type", "lz4"}, {"kafka.client.id", "herald-it"}});
  Recorder<std::string> got;
  auto sub = f.bus->subscribe({.pattern = "blob.*", .group = f.group("lz4")}, [&](const Envelope& e) { got.add(e.id); });
  Envelope e = Envelope::make("blob.stored", std::string(2000, 'a'));
  f.bus->publish(e);
  REQUIRE(got.wait_for(1, deadline));
  CHECK(got.items().front() == e.id);
}

TEST_CASE("SASL passwords never appear in errors", "[kafka][config][secrets]") {
  const std::string secret = "hunter2-very-secret";
  SECTION("from the URL") {
    try {
      make_bus("kafka://alice:" + secret + "@127.0.0.1:9092?kafka.sasl.mechanisms=NOPE");
      FAIL("a bad mechanism was accepted");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), !Catch::Contains(secret));
    }
    try {
      make_bus("kafka://alice:" + secret + "@127.0.0.1:9092?topic_prefx=x");
      FAIL("an unknown option was accepted");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Catch::Contains("topic_prefx"));
      CHECK_THAT(e.what(), !Catch::Contains(secret));
    }
  }
  SECTION("from a pass-through property") {
    BusConfig c = BusConfig::from_url("kafka://127.0.0.1:9092");
    c.options["kafka.sasl.password"] = secret;
    c.options["kafka.sasl.mechanisms"] = "NOPE";
    c.options["kafka.security.protocol"] = "SASL_PLAINTEXT";
    try {
      make_bus(c);
      FAIL("a bad mechanism was accepted");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), !Catch::Contains(secret));
    }
  }
}

namespace {

// Captures what the process writes to stderr (fd 2) while it lives.
class StderrCapture {
 public:
  StderrCapture() : path_("/tmp/" + unique_name("herald-stderr") + ".log") {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); std::remove(path_.c_str()); }
  std::string text() {
    restore();
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

}  // namespace

TEST_CASE("SASL passwords never appear in librdkafka's logs", "[kafka][config][secrets]") {
  const std::string secret = "correct-horse-battery-staple";
  StderrCapture capture;
  {
    // The broker speaks PLAINTEXT: the SASL handshake fails and is logged,
    // and debug=conf,security logs the whole configuration.
    BusConfig c = BusConfig::from_url("kafka://alice:" + secret + "@" + kafka_brokers());
    c.options["create_topics"] = "false";
    c.options["kafka.debug"] = "conf,security";
    c.options["kafka.producer.message.timeout.ms"] = "1500";
    auto bus = make_bus(c);
    CHECK_THROWS_AS(bus->publish(Envelope::make("order.created", {{"n", 1}})), PublishError);
  }
  std::string log = capture.text();
  CHECK_THAT(log, Catch::Contains("sasl"));  // it did log about SASL
  CHECK_THAT(log, !Catch::Contains(secret));
}

TEST_CASE("a record the broker cannot take fails the publish with a publish error", "[kafka][publish]") {
  KafkaFixture f({{"kafka.producer.message.max.bytes", "2000"}});
  Envelope big = Envelope::make("blob.stored", std::string(5000, 'x'));
  try {
    f.bus->publish(big);
    FAIL("an oversize record was accepted");
  } catch (const PublishError& e) {
    CHECK_THAT(e.what(), Catch::Contains("blob"));
    CHECK_FALSE(e.retriable());
  }
  f.bus->publish(Envelope::make("blob.stored", "small"));  // the bus carries on
}

TEST_CASE("without a broker a publish fails once its delivery times out", "[kafka][publish]") {
  BusConfig c = BusConfig::from_url("kafka://127.0.0.1:1");
  c.options["create_topics"] = "false";
  c.options["kafka.producer.message.timeout.ms"] = "500";
  c.options["kafka.log_level"] = "0";
  auto bus = make_bus(c);
  try {
    bus->publish(Envelope::make("order.created", {{"n", 1}}));
    FAIL("publish succeeded without a broker");
  } catch (const PublishError& e) {
    CHECK_THAT(e.what(), Catch::Contains("herald.order"));
    CHECK_THAT(e.what(), Catch::Contains("timed out"));
    CHECK(e.retriable());
  }
}

TEST_CASE("without a broker subscribe gives up after its timeout", "[kafka][subscribe]") {
  BusConfig c = BusConfig::from_url("kafka://127.0.0.1:1");
  c.options["create_topics"] = "false";
  c.options["subscribe_timeout"] = "1s";
  c.options["kafka.log_level"] = "0";
  auto bus = make_bus(c);
  CHECK_THROWS_AS(bus->subscribe({.pattern = "order.*", .group = "nobody"}, [](const Envelope&) {}), TimeoutError);
}

TEST_CASE("a publish of several events is sent at once, not after linger.ms", "[kafka][config][latency]") {
  // A batch is a batch already, and its caller waits for the reports: with
  // a linger of a minute the publish would take a minute if the producer
  // waited for more records to join it. One event does wait out the
  // linger (publishers of one event each batch together); it is not timed.
  KafkaFixture f({{"kafka.producer.linger.ms", "60000"}});
  std::vector<Envelope> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(Envelope::make("order.lingered", {{"n", i}}));
  f.bus->publish(std::vector<Envelope>(batch));  // topic creation and metadata out of the way
  auto start = std::chrono::steady_clock::now();
  f.bus->publish(std::move(batch));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}
