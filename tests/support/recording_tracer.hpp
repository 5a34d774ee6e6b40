#pragma once
// A tracer that keeps every span it is given, for tests that check what core
// emits; TracerInstalled makes it the process's tracer for a scope.

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "herald/tracing.hpp"

namespace herald::test {

struct RecordedSpan {
  trace::SpanStart start;
  trace::Status status;
  bool ended = false;

  std::string attribute(const std::string& key) const {
    for (const auto& a : start.attributes)
      if (a.key == key) {
        if (auto s = std::get_if<std::string>(&a.value)) return *s;
        if (auto i = std::get_if<std::int64_t>(&a.value)) return std::to_string(*i);
      }
    return {};
  }
  bool has(const std::string& key) const {
    return std::any_of(start.attributes.begin(), start.attributes.end(), [&](const auto& a) { return a.key == key; });
  }
};

class RecordingTracer final : public trace::Tracer, public std::enable_shared_from_this<RecordingTracer> {
 public:
  std::unique_ptr<trace::Span> start_span(trace::SpanStart start) override {
    std::lock_guard lock(mutex_);
    spans_.push_back({std::move(start), {}, false});
    return std::make_unique<Handle>(shared_from_this(), spans_.size() - 1);
  }

  /// Ended spans of `trace_id` (hex), in the order they started.
  std::vector<RecordedSpan> ended(const std::string& trace_id) const {
    std::lock_guard lock(mutex_);
    std::vector<RecordedSpan> out;
    for (const auto& s : spans_)
      if (s.ended && s.start.context.trace_id_hex() == trace_id) out.push_back(s);
    return out;
  }

 private:
  class Handle final : public trace::Span {
   public:
    Handle(std::shared_ptr<RecordingTracer> t, std::size_t i) : tracer_(std::move(t)), index_(i) {}
    void set_attribute(trace::Attribute a) override {
      std::lock_guard lock(tracer_->mutex_);
      tracer_->spans_[index_].start.attributes.push_back(std::move(a));
    }
    void end(trace::Status status) noexcept override {
      std::lock_guard lock(tracer_->mutex_);
      tracer_->spans_[index_].status = std::move(status);
      tracer_->spans_[index_].ended = true;
    }

   private:
    std::shared_ptr<RecordingTracer> tracer_;
    std::size_t index_;
  };

  mutable std::mutex mutex_;
  std::vector<RecordedSpan> spans_;
};

/// `tracer` is the process's tracer while this lives; none afterwards.
class TracerInstalled {
 public:
  explicit TracerInstalled(std::shared_ptr<trace::Tracer> tracer) { trace::set_tracer(std::move(tracer)); }
  ~TracerInstalled() { trace::set_tracer(nullptr); }
  TracerInstalled(const TracerInstalled&) = delete;
  TracerInstalled& operator=(const TracerInstalled&) = delete;
};

}  // namespace herald::test
