#include "herald/envelope.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <random>

#include "herald/errors.hpp"

namespace herald {

namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  return engine;
}

int digits(std::string_view s, std::size_t pos, std::size_t n, const char* what) {
  if (pos + n > s.size()) throw DecodeError("time", std::string("time: truncated ") + what);
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') throw DecodeError("time", std::string("time: bad ") + what + " in '" + printable(s) + "'");
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

Timestamp min_time() noexcept {
  using namespace std::chrono;
  return time_point_cast<microseconds>(sys_days{year{0} / January / 1});
}

Timestamp max_time() noexcept {
  using namespace std::chrono;
  return time_point_cast<microseconds>(sys_days{year{9999} / December / 31}) + days{1} - microseconds{1};
}

Timestamp now_micros() { return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now()); }

Envelope Envelope::make(std::string type, const nlohmann::json& payload, std::string source) {
  Envelope e;
  e.id = uuid_v7();
  e.type = std::move(type);
  e.source = std::move(source);
  e.time = now_micros();
  if (!payload.is_null()) e.data = payload.dump();
  return e;
}

nlohmann::json Envelope::payload() const {
  if (data.empty()) return nullptr;
  try {
    return nlohmann::json::parse(data);
  } catch (const nlohmann::json::exception& ex) {
    throw DecodeError("data", std::string("data is not valid JSON: ") + ex.what());
  }
}

void Envelope::set_payload(const nlohmann::json& payload) { data = payload.is_null() ? std::string() : payload.dump(); }

std::string format_time(Timestamp t) {
  using namespace std::chrono;
  auto days = floor<std::chrono::days>(t);
  year_month_day ymd{days};
  auto rest = t - days;
  auto h = duration_cast<hours>(rest);
  rest -= h;
  auto m = duration_cast<minutes>(rest);
  rest -= m;
  auto s = duration_cast<seconds>(rest);
  rest -= s;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(h.count()),
                static_cast<int>(m.count()), static_cast<int>(s.count()));
  // Insert microseconds before the 'Z'.
  char out[48];
  std::snprintf(out, sizeof out, "%.19s.%06lldZ", buf, static_cast<long long>(rest.count()));
  return out;
}

Timestamp parse_time(std::string_view s) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (s.size() < 20) throw DecodeError("time", "time: '" + printable(s) + "' is not RFC 3339");
  int Y = digits(s, 0, 4, "year"), M = digits(s, 5, 2, "month"), D = digits(s, 8, 2, "day");
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
    throw DecodeError("time", "time: '" + printable(s) + "' is not RFC 3339");
  int h = digits(s, 11, 2, "hour"), mi = digits(s, 14, 2, "minute"), sec = digits(s, 17, 2, "second");
  year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) throw DecodeError("time", "time: '" + printable(s) + "' is out of range");
  std::size_t i = 19;
  long long micros = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 6) micros = micros * 10 + (s[i] - '0');
      ++n, ++i;
    }
    if (n == 0) throw DecodeError("time", "time: empty fraction in '" + printable(s) + "'");
    for (; n < 6; ++n) micros *= 10;
  }
  long long offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh = digits(s, i + 1, 2, "offset"), om = digits(s, i + 4, 2, "offset");
    offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    throw DecodeError("time", "time: '" + printable(s) + "' has no time zone (Z or +HH:MM)");
  }
  if (i != s.size()) throw DecodeError("time", "time: trailing characters in '" + printable(s) + "'");
  auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + microseconds{micros} - minutes{offset_min};
  Timestamp t = time_point_cast<microseconds>(tp);
  // format_time writes four-digit years: an offset must not leave them.
  if (t < min_time() || t > max_time()) throw DecodeError("time", "time: '" + printable(s) + "' is out of range");
  return t;
}

std::string uuid_v7() {
  using namespace std::chrono;
  // RFC 9562 method 3: 12 bits of sub-millisecond precision in rand_a keep ids
  // from one process ordered; a per-thread guard keeps them strictly increasing.
  thread_local std::uint64_t last = 0;
  std::uint64_t us = static_cast<std::uint64_t>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
  std::uint64_t ms = us / 1000;
  std::uint64_t frac = ((us % 1000) * 4096) / 1000;
  std::uint64_t stamp = (ms << 12) | frac;
  if (stamp <= last) stamp = last + 1;
  last = stamp;
  ms = stamp >> 12;
  frac = stamp & 0xfff;
  std::uint64_t hi = (ms << 16) | (0x7ULL << 12) | frac;
  std::uint64_t lo = (rng()() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t v, int nibbles) {
    for (int k = nibbles - 1; k >= 0; --k) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = hex[(v >> (k * 4)) & 0xf];
    }
  };
  put(hi, 16);
  put(lo, 16);
  return out;
}

}  // namespace herald
