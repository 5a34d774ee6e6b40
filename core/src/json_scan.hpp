#pragma once
// A small validating JSON scanner: reads strings, skips values and returns
// their raw text, so the codec never builds a DOM for attributes or data.

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "herald/errors.hpp"

namespace herald::detail {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()), begin_(p_) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool at_end() {
    ws();
    return p_ == end_;
  }
  char peek() {
    ws();
    return p_ < end_ ? *p_ : '\0';
  }
  void expect(char c, const char* field) {
    ws();
    if (p_ >= end_ || *p_ != c) [[unlikely]]
      fail_expected(c, field);
    ++p_;
  }
  bool consume(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  /// Reads a JSON string (the opening quote must come next) into `out`.
  void string(std::string& out, const char* field) {
    ws();
    if (p_ >= end_ || *p_ != '"') fail(field, "expected a string");
    ++p_;
    out.clear();
    const char* run = p_;
    while (true) {
      p_ = plain_run(p_, end_);
      if (p_ >= end_) fail(field, "unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out.append(run, p_);
        ++p_;
        return;
      }
      if (c < 0x20) fail(field, "control character in string");
      if (c == '\\') {
        out.append(run, p_);
        ++p_;
        escape(out, field);
        run = p_;
        continue;
      }
      if (c >= 0x80) {
        utf8_sequence(field);
        continue;
      }
      ++p_;
    }
  }

  /// Skips one value and returns its raw text.
  std::string_view value(const char* field, int depth = 0) {
    ws();
    const char* start = p_;
    if (p_ >= end_) fail(field, "expected a value");
    if (depth > 64) fail(field, "nesting too deep");
    switch (*p_) {
      case '{': {
        ++p_;
        if (!consume('}')) {
          do {
            skip_string(field);
            expect(':', field);
            value(field, depth + 1);
          } while (consume(','));
          expect('}', field);
        }
        break;
      }
      case '[': {
        ++p_;
        if (!consume(']')) {
          do value(field, depth + 1);
          while (consume(','));
          expect(']', field);
        }
        break;
      }
      case '"': skip_string(field); break;
      case 't': literal("true", field); break;
      case 'f': literal("false", field); break;
      case 'n': literal("null", field); break;
      default: number(field); break;
    }
    return {start, static_cast<std::size_t>(p_ - start)};
  }

  /// Reads an integer value (a JSON number without fraction).
  long long integer(const char* field) {
    std::string_view raw = value(field);
    long long v = 0;
    bool neg = false;
    std::size_t i = 0;
    if (!raw.empty() && raw[0] == '-') neg = true, i = 1;
    if (i == raw.size()) fail(field, "expected an integer");
    for (; i < raw.size(); ++i) {
      if (raw[i] < '0' || raw[i] > '9') fail(field, "expected an integer");
      v = v * 10 + (raw[i] - '0');
      if (v > (1LL << 53)) fail(field, "integer out of range");
    }
    return neg ? -v : v;
  }

  // Out of line and cold: a call site is then a compare and a branch, so the
  // scanner's small steps (expect, string) stay cheap to inline.
  [[noreturn, gnu::cold, gnu::noinline]] void fail(const char* field, std::string_view what) const {
    std::string f = field ? field : "";
    throw DecodeError(f, (f.empty() ? std::string("envelope") : f) + ": " + std::string(what) + " at offset " +
                             std::to_string(p_ - begin_));
  }
  [[noreturn, gnu::cold, gnu::noinline]] void fail_expected(char c, const char* field) const {
    fail(field, std::string("expected '") + c + "'");
  }

 private:
  // The end of the run of bytes from `p` that a string holds as they are
  // (printable ASCII other than '"' and '\\'): strings are mostly such runs,
  // and testing eight bytes at once makes them cheap to pass.
  static const char* plain_run(const char* p, const char* end) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      // Bytes >= 0x80 (the high bit), < 0x20 (x - 0x20 borrows into the high
      // bit of a byte that had none), '"' and '\\'. A borrow only runs
      // upwards, so the lowest flag marks the first such byte exactly: the
      // word gives the position, and most strings, shorter than a word,
      // never reach the byte loop below (which was most of a decode).
      std::uint64_t flags =
          (w & highs) | ((w - ones * 0x20) & ~w & highs) | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'));
      if (flags) {
        static_assert(std::endian::native == std::endian::little, "the first byte is the lowest");
        return p + std::countr_zero(flags) / 8;
      }
      p += 8;
    }
    while (p < end) {
      auto c = static_cast<unsigned char>(*p);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++p;
    }
    return p;
  }

  void skip_string(const char* field) {
    ws();
    if (p_ >= end_ || *p_ != '"') fail(field, "expected a string");
    ++p_;
    while (true) {
      p_ = plain_run(p_, end_);
      if (p_ >= end_) fail(field, "unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return;
      }
      if (c < 0x20) fail(field, "control character in string");
      if (c == '\\') {
        ++p_;
        if (p_ >= end_) fail(field, "unterminated escape");
        char e = *p_;
        if (e == 'u') {
          // Decoded into a scratch buffer: the same surrogate checks as string().
          scratch_.clear();
          escape(scratch_, field);
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
          fail(field, "bad escape");
      }
      if (c >= 0x80) {
        utf8_sequence(field);
        continue;
      }
      ++p_;
    }
  }

  // One multi-byte UTF-8 sequence starting at p_ (a byte >= 0x80): no
  // overlong forms, no encoded surrogates, nothing above U+10FFFF — what
  // nlohmann::json (payload(), dump) would refuse later.
  void utf8_sequence(const char* field) {
    auto byte = [&](std::ptrdiff_t k) { return static_cast<unsigned char>(p_[k]); };
    unsigned char c = byte(0);
    int n;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c == 0xED) n = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c == 0xF4) n = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else fail(field, "invalid UTF-8");
    if (end_ - p_ < n) fail(field, "invalid UTF-8");
    if (byte(1) < lo || byte(1) > hi) fail(field, "invalid UTF-8");
    for (int k = 2; k < n; ++k)
      if (byte(k) < 0x80 || byte(k) > 0xBF) fail(field, "invalid UTF-8");
    p_ += n;
  }

  static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  unsigned hex4(const char* field) {
    if (end_ - p_ < 4) fail(field, "bad \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      int h = hexval(p_[k]);
      if (h < 0) fail(field, "bad \\u escape");
      v = v * 16 + static_cast<unsigned>(h);
    }
    p_ += 4;
    return v;
  }

  void escape(std::string& out, const char* field) {
    if (p_ >= end_) fail(field, "unterminated escape");
    char e = *p_++;
    switch (e) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': {
        unsigned cp = hex4(field);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') fail(field, "lone surrogate in \\u escape");
          p_ += 2;
          unsigned lo = hex4(field);
          if (lo < 0xDC00 || lo > 0xDFFF) fail(field, "bad surrogate pair");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          fail(field, "lone surrogate in \\u escape");
        }
        utf8(out, cp);
        return;
      }
      default: fail(field, "bad escape");
    }
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  void literal(const char* word, const char* field) {
    for (const char* w = word; *w; ++w, ++p_)
      if (p_ >= end_ || *p_ != *w) fail(field, "bad literal");
  }

  void number(const char* field) {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_) fail(field, "bad number");
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      fail(field, "unexpected character");
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ >= end_ || *p_ < '0' || *p_ > '9') fail(field, "bad number");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    bool exponent = false;
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      exponent = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || *p_ < '0' || *p_ > '9') fail(field, "bad number");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ == start) fail(field, "bad number");
    // nlohmann (payload()) refuses a number whose value is beyond a double:
    // refuse it here too, or the event decodes and throws later. Only an
    // exponent or some 300 digits can get there; other numbers (129.95) skip
    // the conversion, which was a tenth of a decode.
    if (exponent || p_ - start > 300) {
      std::string text(start, p_);  // strtod needs the terminator; scratch_ may hold a key
      if (!std::isfinite(std::strtod(text.c_str(), nullptr))) fail(field, "number out of range");
    }
  }

  const char* p_;
  const char* end_;
  const char* begin_;
  std::string scratch_;
};

/// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF), as nlohmann::json requires.
inline bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Events are mostly ASCII: eight bytes at a time while no high bit is
    // set (this check ran on every attribute of every publish, byte by byte,
    // and was a third of the memory transport's inline publish).
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if (word & 0x8080808080808080ULL) break;
      p += 8;
    }
    if (p == end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c == 0xED) n = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c == 0xF4) n = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else return false;
    if (end - p < n || p[1] < lo || p[1] > hi) return false;
    for (int k = 2; k < n; ++k)
      if (p[k] < 0x80 || p[k] > 0xBF) return false;
    p += n;
  }
  return true;
}

/// The high bits of `s`'s bytes, ORed: zero when `s` is all ASCII. Word
/// at a time and branch-free, for checking many short strings at once.
inline std::uint64_t high_bits(std::string_view s) noexcept {
  std::uint64_t acc = 0;
  const char* p = s.data();
  const char* end = p + s.size();
  for (; end - p >= 8; p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    acc |= word;
  }
  for (; p < end; ++p) acc |= static_cast<unsigned char>(*p);
  return acc & 0x8080808080808080ULL;
}

/// Appends `s` as a JSON string literal.
inline void write_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  const char* run = s.data();
  const char* end = s.data() + s.size();
  for (const char* p = run; p < end; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(run, p);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
    run = p + 1;
  }
  out.append(run, end);
  out += '"';
}

}  // namespace herald::detail
