#pragma once
// Topic creation off the threads that must not wait for the broker. A lane
// forwarding a record to a retry or dead-letter topic it has not seen before
// hands the write here and goes on with its next record; this thread makes
// the topic (an admin round trip: seconds when the broker is slow) and then
// lets the write go on. Subscriptions hear of new topics from here as well,
// so a publisher that created an event topic does not wait for them.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace herald::kafka {

/// Thread-safe. Its thread starts with the first job.
class TopicCreator {
 public:
  /// Gets what went wrong: empty when the topic exists.
  using Then = std::function<void(const std::string& error)>;
  /// What the creator asks of the cluster: TopicAdmin's known and ensure.
  struct Admin {
    std::function<bool(std::string_view topic)> known;
    /// Returns the topics it created; throws when it cannot.
    std::function<std::vector<std::string>(const std::vector<std::string>& topics)> ensure;
  };

  /// `created` runs on this creator's thread after it created topics (and
  /// after announce()).
  TopicCreator(Admin admin, std::function<void()> created);
  ~TopicCreator();
  TopicCreator(const TopicCreator&) = delete;
  TopicCreator& operator=(const TopicCreator&) = delete;

  /// Whether `topic` is known to exist: a write to it can go out at once.
  bool ready(std::string_view topic) const { return admin_.known(topic); }
  /// Runs `then` on this creator's thread once `topic` exists, or with why
  /// it could not be made. After stop() it runs at once with an error.
  void when_ready(std::string topic, Then then);
  /// Runs `created` on this creator's thread (topics were made elsewhere).
  void announce();
  /// Lets the job in progress finish, runs the queued ones with an error
  /// (creating nothing more) and joins. Idempotent.
  void stop();

  static constexpr const char* closing = "the bus is closing";

 private:
  struct Job {
    std::string topic;  // empty: an announcement
    Then then;
  };
  void loop();
  void start_locked();

  const Admin admin_;
  const std::function<void()> created_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace herald::kafka
