#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <random>

#include "herald/errors.hpp"
#include "herald/pattern.hpp"

using namespace herald;

TEST_CASE("the reference matcher follows RabbitMQ topic rules", "[pattern]") {
  CHECK(matches("order.*", "order.created"));
  CHECK_FALSE(matches("order.*", "order.item.added"));
  CHECK_FALSE(matches("order.*", "order"));
  CHECK(matches("order.#", "order"));
  CHECK(matches("order.#", "order.item.added"));
  CHECK(matches("#", "anything.at.all"));
  CHECK(matches("#.failed.#", "payment.failed"));
  CHECK(matches("#.failed.#", "order.failed.create"));
  CHECK(matches("*.*.create", "order.before.create"));
  CHECK_FALSE(matches("order.created", "order.created.v2"));
}

TEST_CASE("invalid patterns and types are refused", "[pattern]") {
  CHECK_THROWS_AS(validate_pattern(""), ConfigError);
  CHECK_THROWS_AS(validate_pattern("order..created"), ConfigError);
  CHECK_THROWS_AS(validate_pattern("order.cre*"), ConfigError);
  CHECK_NOTHROW(validate_pattern("#.*.x"));
  CHECK_THROWS_AS(validate_event_type("order.*"), ConfigError);
  CHECK_THROWS_AS(validate_event_type("order."), ConfigError);
  CHECK_NOTHROW(validate_event_type("order.after.create"));
}

TEST_CASE("the trie agrees with the reference matcher on thousands of random cases", "[pattern][randomized]") {
  std::mt19937 rng(12345);
  const std::vector<std::string> words = {"order", "payment", "created", "failed", "a", "b"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto random_type = [&] {
    std::string t;
    int n = 1 + pick(4);
    for (int i = 0; i < n; ++i) t += (i ? "." : "") + words[static_cast<std::size_t>(pick(static_cast<int>(words.size())))];
    return t;
  };
  auto random_pattern = [&] {
    std::string p;
    int n = 1 + pick(4);
    for (int i = 0; i < n; ++i) {
      int r = pick(10);
      std::string w = r < 2 ? "*" : r < 4 ? "#" : words[static_cast<std::size_t>(pick(static_cast<int>(words.size())))];
      p += (i ? "." : "") + w;
    }
    return p;
  };
  for (int round = 0; round < 50; ++round) {
    PatternTrie trie;
    std::vector<std::string> patterns;
    for (int i = 0; i < 40; ++i) {
      patterns.push_back(random_pattern());
      trie.add(patterns.back(), i);
    }
    // Remove a few to exercise pruning.
    for (int i = 0; i < 5; ++i) {
      int victim = pick(40);
      if (patterns[static_cast<std::size_t>(victim)].empty()) continue;
      trie.remove(patterns[static_cast<std::size_t>(victim)], victim);
      patterns[static_cast<std::size_t>(victim)].clear();
    }
    for (int i = 0; i < 100; ++i) {
      std::string type = random_type();
      std::vector<int> got;
      trie.match(type, got);
      std::sort(got.begin(), got.end());
      std::vector<int> expected;
      for (int k = 0; k < 40; ++k)
        if (!patterns[static_cast<std::size_t>(k)].empty() && matches(patterns[static_cast<std::size_t>(k)], type))
          expected.push_back(k);
      INFO("type " << type);
      REQUIRE(got == expected);
    }
  }
}

TEST_CASE("patterns with many '#' words match in polynomial time", "[pattern][slow-pattern]") {
  // Every way of splitting 24 words among 12 '#' was tried before: ~10^9 paths.
  std::string pattern, type;
  for (int i = 0; i < 12; ++i) pattern += "#.";
  pattern += "x";
  for (int i = 0; i < 24; ++i) type += (i ? ".a" : "a");
  PatternTrie trie;
  trie.add(pattern, 1);
  trie.add("#.#.*.#.#.*.#.y", 2);
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(matches(pattern, type));
  std::vector<int> hits;
  trie.match(type, hits);
  CHECK(hits.empty());
  trie.match(type + ".x", hits);
  CHECK(hits == std::vector<int>{1});
  CHECK(matches(pattern, type + ".x"));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::milliseconds(200));
}
