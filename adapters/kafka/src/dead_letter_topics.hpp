#pragma once
// Dead letters live in the `<topic>.dlq` topics, shared by every group; each
// record carries the core dead-letter record in `x-herald-dl-*` headers.
// Listing reads them with a throw-away reader from where the group's
// `<group id>.dlq-replay` consumer group has committed. Replaying or purging
// a letter appends a marker record (`x-herald-dl-done` = the letter's
// offset) after it in the same partition, so it is not listed again, and
// moves that committed offset past every letter the group has finished.
//
// A letter with reason forward_error was written in place of a record its
// retry or dead-letter topic refused for good (too large, not authorized):
// the event's attributes without its data. It is listed but not replayed;
// the original record is where the letter's topic, partition and offset say.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bus_services.hpp"
#include "herald/dead_letter.hpp"

namespace herald::kafka {

class DeadLetterTopics {
 public:
  explicit DeadLetterTopics(BusServices& bus) : bus_(bus) {}

  /// The group's letters, oldest failure first. Blocks for broker round trips.
  std::vector<DeadLetter> list(const std::string& group, std::size_t limit);
  /// Writes the group's letters (or the one with event id `id`) to the
  /// group's retry topic with a fresh attempt count; only that group sees
  /// them again. Returns how many.
  std::size_t replay(const std::string& group, const std::optional<std::string>& id);
  std::size_t purge(const std::string& group);
  /// Calls `hand` with each of the group's letters (or the one with event
  /// id `id`) that carries a whole event, then marks those it returned for
  /// as moved. Returns how many.
  std::size_t hand_over(const std::string& group, const std::optional<std::string>& id,
                        const std::function<void(const DeadLetter&)>& hand);

 private:
  struct Found;
  struct Scan;
  Scan scan(const std::string& group);
  void finish(Scan& scan, const std::vector<const Found*>& done, const char* action);

  BusServices& bus_;
};

}  // namespace herald::kafka
