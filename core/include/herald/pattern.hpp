#pragma once
// Topic patterns with RabbitMQ semantics on every transport: words are
// separated by '.', '*' matches exactly one word, '#' matches zero or more.

#include <memory>
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
