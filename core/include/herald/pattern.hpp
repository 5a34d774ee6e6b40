#pragma once
// Topic patterns with RabbitMQ semantics on every transport: words are
// separated by '.', '*' matches exactly one word, '#' matches zero or more.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

/// Throws ConfigError when `pattern` is not a valid pattern (empty words,
/// '*' or '#' mixed with other characters inside a word).
void validate_pattern(std::string_view pattern);

/// Throws ConfigError when `type` is not a valid event type (dot-separated
/// non-empty words without wildcards).
void validate_event_type(std::string_view type);

/// Reference matcher: clear and slow. Used by tests and one-off checks.
bool matches(std::string_view pattern, std::string_view type);

/// Whether some event type matches both patterns: `order.*` and `order.#`
/// intersect (`order.created`), `payment.*` and `order.#` do not. Both must
/// be valid patterns. O(words of a × words of b).
bool patterns_intersect(std::string_view a, std::string_view b);

/// A shortest event type that every pattern of `all_of` matches and no
/// pattern of `none_of` does, or nullopt when there is none. With
/// `none_of` it answers what one pattern intersection cannot: whether a route
/// can ever match after the routes before it (`find_type({route}, earlier)`),
/// and whether a subscription can receive what a route carries that earlier
/// routes do not take. `all_of` must not be empty; patterns must be valid.
/// Explores the patterns' automata together: fast for patterns of a
/// configuration (a few words each); throws ConfigError when the patterns
/// are too many or too long to decide within a bound.
std::optional<std::string> find_type(const std::vector<std::string>& all_of,
                                     const std::vector<std::string>& none_of = {});

/// A compiled set of patterns (a trie over words). Adding and removing is
/// not thread-safe; matching is, when nobody modifies the trie.
///
/// \code
///   PatternTrie trie;
///   trie.add("order.*", 1);
///   std::vector<int> hits;
///   trie.match("order.created", hits);   // hits == {1}
/// \endcode
class PatternTrie {
 public:
  PatternTrie();
  ~PatternTrie();
  PatternTrie(PatternTrie&&) noexcept;
  PatternTrie& operator=(PatternTrie&&) noexcept;

  void add(std::string_view pattern, int value);
  void remove(std::string_view pattern, int value);
  /// Appends each value whose pattern matches `type` (each once).
  void match(std::string_view type, std::vector<int>& out) const;
  bool empty() const noexcept;

  struct Node;  // implementation detail

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace herald
