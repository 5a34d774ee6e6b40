// The pattern trie against the reference matcher (differential): for any
// set of patterns, added and partly removed, the trie returns exactly the
// values whose pattern matches() the type. Words come from a small alphabet
// so that matches happen; long runs of '#' and '*' are welcome.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "herald/errors.hpp"
#include "herald/pattern.hpp"

using namespace herald;

namespace {

std::string words(FuzzedDataProvider& in, bool wildcards) {
  static const char* const plain[] = {"a", "b", "order", "x", "", "a.b"};
  std::string out;
  int n = in.ConsumeIntegralInRange(1, 40);
  for (int i = 0; i < n && in.remaining_bytes() > 0; ++i) {
    if (i) out += '.';
    int pick = in.ConsumeIntegralInRange(0, wildcards ? 8 : 5);
    if (pick == 6 || pick == 7) out += "#";
    else if (pick == 8) out += "*";
    else out += plain[pick];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  PatternTrie trie;
  std::vector<std::string> patterns;
  int n = in.ConsumeIntegralInRange(1, 12);
  for (int i = 0; i < n; ++i) {
    std::string p = in.ConsumeBool() ? words(in, true) : in.ConsumeRandomLengthString(64);
    try {
      trie.add(p, i);
      patterns.push_back(p);
    } catch (const ConfigError&) {
      patterns.emplace_back();  // refused: never matches
    }
  }
  for (int i = 0; i < n; ++i) {
    if (!patterns[static_cast<std::size_t>(i)].empty() && in.ConsumeIntegralInRange(0, 3) == 0) {
      trie.remove(patterns[static_cast<std::size_t>(i)], i);
      patterns[static_cast<std::size_t>(i)].clear();
    }
  }
  while (in.remaining_bytes() > 0) {
    std::string type = in.ConsumeBool() ? words(in, false) : in.ConsumeRandomLengthString(64);
    std::vector<int> got;
    trie.match(type, got);
    std::sort(got.begin(), got.end());
    FUZZ_CHECK(std::adjacent_find(got.begin(), got.end()) == got.end(), "a value returned twice");
    std::vector<int> expected;
    for (int i = 0; i < n; ++i)
      if (!patterns[static_cast<std::size_t>(i)].empty() && matches(patterns[static_cast<std::size_t>(i)], type))
        expected.push_back(i);
    FUZZ_CHECK(got == expected, type.c_str());
  }
  FUZZ_CHECK(trie.empty() == std::all_of(patterns.begin(), patterns.end(), [](auto& p) { return p.empty(); }),
             "empty() disagrees");
  return 0;
}
