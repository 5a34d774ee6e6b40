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

TEST_CASE("two patterns intersect when some type matches both", "[pattern][intersect]") {
  CHECK(patterns_intersect("order.*", "order.#"));
  CHECK_FALSE(patterns_intersect("payment.*", "order.#"));
  CHECK(patterns_intersect("#", "#"));
  CHECK(patterns_intersect("#.failed.#", "order.*"));
  CHECK_FALSE(patterns_intersect("*", "*.*"));
  CHECK(patterns_intersect("#.x", "x.#"));
  CHECK_FALSE(patterns_intersect("order.*.created", "order.created"));
  CHECK(find_type({"#", "#"}) == "x");  // a type has at least one word
  CHECK(find_type({"order.#"}, {"order.*"}) == "order");
  CHECK(find_type({"a.#"}, {"a", "a.*.#"}) == std::nullopt);  // covered by the two together
  CHECK(find_type({"#.x"}, {"x.#"}) == "xx.x");  // "xx": a word neither pattern names
}

TEST_CASE("pattern intersection agrees with the reference matcher on random patterns and types",
          "[pattern][intersect][randomized]") {
  std::mt19937 rng(20261126);
  // Few words, so random patterns often overlap and random types often match.
  const std::vector<std::string> words = {"order", "created", "a"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto random_type = [&] {
    std::string t;
    int n = 1 + pick(5);
    for (int i = 0; i < n; ++i) t += (i ? "." : "") + words[static_cast<std::size_t>(pick(3))];
    return t;
  };
  auto random_pattern = [&] {
    std::string p;
    int n = 1 + pick(4);
    for (int i = 0; i < n; ++i) {
      int r = pick(8);
      p += (i ? "." : "") + (r < 2 ? std::string("*") : r < 4 ? std::string("#") : words[static_cast<std::size_t>(pick(3))]);
    }
    return p;
  };
  int intersecting = 0, shown_by_a_type = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::string a = random_pattern(), b = random_pattern();
    INFO(a << " and " << b);
    const bool meet = patterns_intersect(a, b);
    // The automaton search is a second, independent answer.
    const std::optional<std::string> witness = find_type({a, b});
    REQUIRE(meet == witness.has_value());
    if (meet) {
      ++intersecting;
      INFO("witness " << *witness);
      CHECK_NOTHROW(validate_event_type(*witness));
      CHECK(matches(a, *witness));
      CHECK(matches(b, *witness));
    }
    for (int i = 0; i < 40; ++i) {
      const std::string type = random_type();
      if (matches(a, type) && matches(b, type)) {
        INFO("both match " << type);
        REQUIRE(meet);
        ++shown_by_a_type;
        break;
      }
    }
  }
  // The generator must exercise both answers.
  CHECK(intersecting > 500);
  CHECK(intersecting < 2500);
  CHECK(shown_by_a_type > 300);
}

TEST_CASE("find_type names a type that matches every pattern of one list and none of the other",
          "[pattern][intersect][randomized]") {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"order", "created", "a"};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto random_pattern = [&] {
    std::string p;
    int n = 1 + pick(4);
    for (int i = 0; i < n; ++i) {
      int r = pick(8);
      p += (i ? "." : "") + (r < 2 ? std::string("*") : r < 4 ? std::string("#") : words[static_cast<std::size_t>(pick(3))]);
    }
    return p;
  };
  // Every type of up to 5 words over the alphabet plus one word no pattern names.
  std::vector<std::string> all_types;
  std::vector<std::string> level = {""};
  for (int len = 1; len <= 5; ++len) {
    std::vector<std::string> longer;
    for (const auto& t : level)
      for (const std::string w : {"order", "created", "a", "zzz"}) longer.push_back(t.empty() ? w : t + "." + w);
    all_types.insert(all_types.end(), longer.begin(), longer.end());
    level = std::move(longer);
  }
  int found = 0, none = 0;
  for (int round = 0; round < 400; ++round) {
    std::vector<std::string> all_of{random_pattern()}, none_of;
    for (int i = pick(4); i > 0; --i) none_of.push_back(random_pattern());
    std::string listed = all_of[0] + " minus";
    for (const auto& p : none_of) listed += " " + p;
    INFO(listed);
    auto wanted = [&](const std::string& type) {
      if (!matches(all_of[0], type)) return false;
      for (const auto& p : none_of)
        if (matches(p, type)) return false;
      return true;
    };
    const std::optional<std::string> type = find_type(all_of, none_of);
    if (type) {
      ++found;
      INFO("found " << *type);
      CHECK(wanted(*type));
    } else {
      ++none;
      // Patterns of at most 4 words differ within 5 words if at all.
      for (const auto& t : all_types) {
        INFO("but " << t << " is one");
        REQUIRE_FALSE(wanted(t));
      }
    }
  }
  CHECK(found > 50);
  CHECK(none > 50);
}
