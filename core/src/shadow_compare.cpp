#include "shadow_compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_map>

namespace herald {

namespace {

// 64-bit FNV-1a: stable across builds and machines, so two processes (or a
// report and a later run) agree on a digest.
class Fnv1a {
 public:
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ULL;
    }
  }
  // Length first, so that field boundaries count ("ab","c" is not "a","bc").
  void field(std::string_view bytes) {
    add(std::to_string(bytes.size()));
    add(":");
    add(bytes);
  }
  std::string hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(i)] = digits[(hash_ >> (60 - 4 * i)) & 0xf];
    return out;
  }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

std::string canonical_data(const std::string& data) {
  if (data.empty()) return data;
  try {
    return nlohmann::json::parse(data).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const nlohmann::json::exception&) {
    return data;  // not JSON: compared byte for byte
  }
}

}  // namespace

std::string event_digest(const Envelope& e) {
  Fnv1a h;
  h.field(e.type);
  h.field(e.source);
  h.field(e.subject);
  h.field(std::to_string(e.dataversion));
  h.field(e.partitionkey);
  // Without data the content type is not on the wire (CloudEvents), and
  // absent it means JSON: neither may make two copies differ.
  h.field(e.data.empty() || e.datacontenttype.empty() ? std::string_view("application/json")
                                                      : std::string_view(e.datacontenttype));
  h.field(canonical_data(e.data));
  return h.hex();
}

bool ShadowReport::clean() const noexcept {
  return only_old.count == 0 && only_new.count == 0 && mismatched.count == 0 && reordered.count == 0 &&
         old_side.duplicates.count == 0 && new_side.duplicates.count == 0;
}

namespace {

nlohmann::json finding_json(const ShadowFinding& f) { return {{"count", f.count}, {"ids", f.ids}}; }

nlohmann::json side_json(const ShadowSide& s) {
  return {{"name", s.name},
          {"received", s.received},
          {"events", s.events},
          {"duplicates", finding_json(s.duplicates)},
          {"lag_ms", {{"samples", s.lag.samples}, {"p50", s.lag.p50_ms}, {"p99", s.lag.p99_ms}}}};
}

}  // namespace

nlohmann::json ShadowReport::to_json() const {
  return {{"clean", clean()},
          {"pattern", pattern},
          {"collected_ms", collected_for.count()},
          {"compared", compared},
          {"outside_window", outside_window},
          {"old", side_json(old_side)},
          {"new", side_json(new_side)},
          {"only_old", finding_json(only_old)},
          {"only_new", finding_json(only_new)},
          {"mismatched", finding_json(mismatched)},
          {"reordered", finding_json(reordered)},
          {"lag_difference_ms", {{"p50", lag_difference_p50_ms}, {"p99", lag_difference_p99_ms}}}};
}

namespace detail {

namespace {

// One event as one side carried it: its first delivery, and how many.
struct Seen {
  const ShadowReceipt* first = nullptr;
  std::size_t position = 0;  // among the side's distinct events, in arrival order
  std::size_t copies = 0;
};

struct SideIndex {
  std::unordered_map<std::string, Seen> by_id;
  std::vector<const ShadowReceipt*> order;  // first deliveries, in arrival order

  explicit SideIndex(const std::vector<ShadowReceipt>& receipts) {
    by_id.reserve(receipts.size());
    for (const ShadowReceipt& r : receipts) {
      Seen& s = by_id[r.id];
      if (s.copies++ == 0) {
        s.first = &r;
        s.position = order.size();
        order.push_back(&r);
      }
    }
  }
  const Seen* find(const std::string& id) const {
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : &it->second;
  }
};

void note(ShadowFinding& f, const std::string& id, std::size_t max_listed) {
  if (f.count++ < max_listed) f.ids.push_back(id);
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

ShadowLag lag_of(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return {.samples = samples.size(), .p50_ms = percentile(samples, 0.50), .p99_ms = percentile(samples, 0.99)};
}

double millis(Timestamp from, Timestamp to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

ShadowReport compare_shadow(const std::vector<ShadowReceipt>& old_receipts,
                            const std::vector<ShadowReceipt>& new_receipts, const ShadowWindow& window,
                            const ShadowVerifyOptions& options) {
  const SideIndex olds(old_receipts), news(new_receipts);
  ShadowReport report;
  report.pattern = options.pattern;
  report.old_side.name = options.old_name;
  report.new_side.name = options.new_name;
  report.old_side.received = old_receipts.size();
  report.new_side.received = new_receipts.size();

  // An event belongs to the window by its time (both copies carry the same
  // one; a copy without a time defers to the other) and by when it was
  // first seen on either side.
  auto in_window = [&](const std::string& id) {
    const Seen* o = olds.find(id);
    const Seen* n = news.find(id);
    Timestamp time = o && o->first->time.time_since_epoch().count() != 0 ? o->first->time : Timestamp{};
    if (time.time_since_epoch().count() == 0 && n) time = n->first->time;
    if (time.time_since_epoch().count() != 0 && time < window.start) return false;
    Timestamp first = Timestamp::max();
    if (o) first = std::min(first, o->first->received);
    if (n) first = std::min(first, n->first->received);
    // At the end too: the receipt that completes `events` ends the window
    // within the same microsecond it was stamped in.
    return first <= window.end;
  };

  const std::size_t max = options.max_listed;
  auto walk_side = [&](const SideIndex& self, const SideIndex& other, ShadowSide& side, ShadowFinding& only,
                       bool count_outside) {
    std::vector<double> lags;
    for (const ShadowReceipt* r : self.order) {
      if (!in_window(r->id)) {
        // Counted once: from the old side, or from the new side when the old never saw it.
        if (count_outside || !other.find(r->id)) ++report.outside_window;
        continue;
      }
      ++side.events;
      const Seen& seen = *self.find(r->id);
      if (seen.copies > 1) note(side.duplicates, r->id, max);
      if (r->time.time_since_epoch().count() != 0) lags.push_back(millis(r->time, r->received));
      if (!other.find(r->id)) note(only, r->id, max);
    }
    side.lag = lag_of(std::move(lags));
  };
  walk_side(olds, news, report.old_side, report.only_old, true);
  walk_side(news, olds, report.new_side, report.only_new, false);

  // Order per partition key, with the old side as the reference: walking
  // the new side's arrivals, an event is reordered when the new side gave
  // it after an event of its key that the old side gave after it.
  std::unordered_map<std::string, std::size_t> latest_old_position;
  for (const ShadowReceipt* r : news.order) {
    const Seen* o = olds.find(r->id);
    if (!o || !in_window(r->id)) continue;
    ++report.compared;
    if (o->first->digest != r->digest) note(report.mismatched, r->id, max);
    const std::string& key = o->first->key.empty() ? r->key : o->first->key;
    if (key.empty()) continue;  // no key, no order promised
    auto [it, fresh] = latest_old_position.try_emplace(key, o->position);
    if (fresh) continue;
    if (o->position < it->second) {
      note(report.reordered, r->id, max);
    } else {
      it->second = o->position;
    }
  }

  if (report.old_side.lag.samples > 0 && report.new_side.lag.samples > 0) {
    report.lag_difference_p50_ms = report.new_side.lag.p50_ms - report.old_side.lag.p50_ms;
    report.lag_difference_p99_ms = report.new_side.lag.p99_ms - report.old_side.lag.p99_ms;
  }
  return report;
}

}  // namespace detail

}  // namespace herald
