#include "herald/pattern.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "herald/errors.hpp"

namespace herald {

namespace {

void split_into(std::string_view s, std::vector<std::string_view>& words) {
  words.clear();
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    words.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> words;
  split_into(s, words);
  return words;
}

// "#.#" matches what "#" matches: consecutive '#' words are one, which keeps
// the trie small and its walk short.
std::vector<std::string_view> pattern_words(std::string_view pattern) {
  std::vector<std::string_view> words = split(pattern);
  words.erase(std::unique(words.begin(), words.end(),
                          [](std::string_view a, std::string_view b) { return a == "#" && b == "#"; }),
              words.end());
  return words;
}

}  // namespace

void validate_pattern(std::string_view pattern) {
  if (pattern.empty()) throw ConfigError("pattern: must not be empty");
  for (auto w : split(pattern)) {
    if (w.empty()) throw ConfigError("pattern '" + std::string(pattern) + "': empty word");
    if (w.size() > 1 && w.find_first_of("*#") != std::string_view::npos)
      throw ConfigError("pattern '" + std::string(pattern) + "': '*' and '#' must be whole words");
  }
}

void validate_event_type(std::string_view type) {
  if (type.empty()) throw ConfigError("type: must not be empty");
  if (type.size() > 255) throw ConfigError("type '" + std::string(type.substr(0, 40)) + "...': longer than 255 bytes");
  // On every publish: one pass over a table, no allocation.
  static constexpr auto forbidden = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : {'*', '#', ' ', '\t', '\r', '\n'}) t[c] = true;
    return t;
  }();
  bool bad = false;
  char previous = '.';
  for (char c : type) {
    bad |= forbidden[static_cast<unsigned char>(c)] | (c == '.' && previous == '.');
    previous = c;
  }
  if (!bad && previous != '.') return;
  if (type.find_first_of("*# \t\r\n") != std::string_view::npos)
    throw ConfigError("type '" + std::string(type) + "': wildcards and spaces are not allowed in a type");
  throw ConfigError("type '" + std::string(type) + "': empty word");
}

bool matches(std::string_view pattern, std::string_view type) {
  // reach[j]: the pattern words so far match the first j words of the type.
  // One row per pattern word: O(pattern × type), whatever the '#'s.
  const std::vector<std::string_view> p = split(pattern), t = split(type);
  std::vector<char> reach(t.size() + 1, 0), next(t.size() + 1);
  reach[0] = 1;
  for (std::string_view w : p) {
    std::fill(next.begin(), next.end(), 0);
    if (w == "#") {
      char any = 0;  // '#' takes zero or more words: reachable from any earlier j
      for (std::size_t j = 0; j <= t.size(); ++j) next[j] = any |= reach[j];
    } else {
      for (std::size_t j = 0; j < t.size(); ++j) next[j + 1] = reach[j] && (w == "*" || w == t[j]);
    }
    reach.swap(next);
  }
  return reach[t.size()];
}

bool patterns_intersect(std::string_view a, std::string_view b) {
  const std::vector<std::string_view> p = pattern_words(a), q = pattern_words(b);
  const std::size_t n = p.size(), m = q.size();
  // can[i][j]: some word sequence is matched by both p[i..] and q[j..].
  // Filled from the ends; a '#' either takes no word (i + 1) or takes the one
  // word the other side's word stands for and stays (j + 1). Two '#' facing
  // each other need no move of their own: either side's "no word" covers it.
  std::vector<std::vector<char>> can(n + 1, std::vector<char>(m + 1, 0));
  for (std::size_t i = n + 1; i-- > 0;) {
    for (std::size_t j = m + 1; j-- > 0;) {
      char ok = 0;
      const bool hash_p = i < n && p[i] == "#", hash_q = j < m && q[j] == "#";
      if (i == n && j == m) ok = 1;
      if (hash_p) ok |= can[i + 1][j] | (j < m && can[i][j + 1]);
      if (hash_q) ok |= can[i][j + 1] | (i < n && can[i + 1][j]);
      if (!hash_p && !hash_q && i < n && j < m)
        ok |= (p[i] == "*" || q[j] == "*" || p[i] == q[j]) && can[i + 1][j + 1];
      can[i][j] = ok;
    }
  }
  // A type has at least one word; only patterns of '#' alone share the empty
  // sequence, and they share every one-word type too.
  return can[0][0];
}

namespace {

// A pattern as a nondeterministic automaton over words: state i means the
// first i pattern words have matched; a set of states is a string of 0/1.
struct PatternAutomaton {
  std::vector<std::string_view> words;

  std::string close(std::string states) const {
    for (std::size_t i = 0; i < words.size(); ++i)
      if (states[i] && words[i] == "#") states[i + 1] = 1;  // '#' may take no word
    return states;
  }
  std::string start() const {
    std::string s(words.size() + 1, 0);
    s[0] = 1;
    return close(std::move(s));
  }
  std::string step(const std::string& states, std::string_view word) const {
    std::string next(words.size() + 1, 0);
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (!states[i]) continue;
      if (words[i] == "#") next[i] = 1;
      else if (words[i] == "*" || words[i] == word) next[i + 1] = 1;
    }
    return close(std::move(next));
  }
  static bool accepts(std::string_view states) { return states.back() != 0; }
};

}  // namespace

std::optional<std::string> find_type(const std::vector<std::string>& all_of,
                                     const std::vector<std::string>& none_of) {
  if (all_of.empty()) throw ConfigError("find_type: needs at least one pattern to match");
  std::vector<PatternAutomaton> automata;
  std::set<std::string_view> literals;
  for (const auto* list : {&all_of, &none_of}) {
    for (const auto& pattern : *list) {
      validate_pattern(pattern);
      automata.push_back({pattern_words(pattern)});
      for (auto w : automata.back().words)
        if (w != "*" && w != "#") literals.insert(w);
    }
  }
  // Words no pattern names behave alike: one of them stands for all.
  std::string fresh = "x";
  while (literals.count(fresh)) fresh += "x";
  std::vector<std::string_view> alphabet(literals.begin(), literals.end());
  alphabet.push_back(fresh);

  // A state of the product: each automaton's state set, joined with '|'.
  auto good = [&](const std::vector<std::string>& states) {
    for (std::size_t k = 0; k < automata.size(); ++k)
      if (PatternAutomaton::accepts(states[k]) != (k < all_of.size())) return false;
    return true;
  };
  auto key = [](const std::vector<std::string>& states) {
    std::string out;
    for (const auto& s : states) (out += s) += '|';
    return out;
  };
  struct Visit {
    std::string parent;  // key of the state it came from ("" for the start)
    std::string_view word;
  };
  constexpr std::size_t max_states = 200'000;
  std::unordered_map<std::string, Visit> seen;
  std::deque<std::vector<std::string>> queue;
  std::vector<std::string> first;
  for (const auto& a : automata) first.push_back(a.start());
  seen.emplace(key(first), Visit{});
  queue.push_back(std::move(first));
  while (!queue.empty()) {
    std::vector<std::string> states = std::move(queue.front());
    queue.pop_front();
    const std::string from = key(states);
    for (std::string_view word : alphabet) {
      std::vector<std::string> next;
      next.reserve(automata.size());
      for (std::size_t k = 0; k < automata.size(); ++k) next.push_back(automata[k].step(states[k], word));
      // Checked before the visited test: the start state, reached again
      // after a word, is a candidate too.
      if (good(next)) {
        std::vector<std::string_view> path{word};
        for (std::string at = from; !at.empty();) {
          const Visit& v = seen.at(at);
          if (v.parent.empty()) break;  // the start
          path.push_back(v.word);
          at = v.parent;
        }
        std::string type;
        for (auto it = path.rbegin(); it != path.rend(); ++it) (type += type.empty() ? "" : ".") += *it;
        return type;
      }
      std::string k = key(next);
      if (seen.count(k)) continue;
      if (seen.size() >= max_states)
        throw ConfigError("patterns: too many or too long to compare (over " + std::to_string(max_states) +
                          " automaton states)");
      seen.emplace(std::move(k), Visit{from, word});
      queue.push_back(std::move(next));
    }
  }
  return std::nullopt;
}

// A trie over pattern words. '#' nodes may consume zero or more words, so
// matching walks a small set of (node, position) states.
struct PatternTrie::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
  std::unique_ptr<Node> star;
  std::unique_ptr<Node> hash;
  std::vector<int> values;
  bool empty() const { return children.empty() && !star && !hash && values.empty(); }
};

PatternTrie::PatternTrie() : root_(std::make_unique<Node>()) {}
PatternTrie::~PatternTrie() = default;
PatternTrie::PatternTrie(PatternTrie&&) noexcept = default;
PatternTrie& PatternTrie::operator=(PatternTrie&&) noexcept = default;

void PatternTrie::add(std::string_view pattern, int value) {
  validate_pattern(pattern);
  Node* n = root_.get();
  for (auto w : pattern_words(pattern)) {
    std::unique_ptr<Node>* slot;
    if (w == "*") slot = &n->star;
    else if (w == "#") slot = &n->hash;
    else {
      auto it = n->children.find(w);
      if (it == n->children.end()) it = n->children.emplace(std::string(w), nullptr).first;
      slot = &it->second;
    }
    if (!*slot) *slot = std::make_unique<Node>();
    n = slot->get();
  }
  n->values.push_back(value);
}

void PatternTrie::remove(std::string_view pattern, int value) {
  auto words = pattern_words(pattern);
  // Walk down remembering the path, then prune empty nodes bottom-up.
  std::vector<std::unique_ptr<Node>*> path;
  Node* n = root_.get();
  for (auto w : words) {
    std::unique_ptr<Node>* slot = nullptr;
    if (w == "*") slot = &n->star;
    else if (w == "#") slot = &n->hash;
    else {
      auto it = n->children.find(w);
      if (it == n->children.end()) return;
      slot = &it->second;
    }
    if (!*slot) return;
    path.push_back(slot);
    n = slot->get();
  }
  auto it = std::find(n->values.begin(), n->values.end(), value);
  if (it == n->values.end()) return;
  n->values.erase(it);
  for (std::size_t i = path.size(); i-- > 0;) {
    if (!(*path[i])->empty()) break;
    path[i]->reset();
    Node* parent = i == 0 ? root_.get() : path[i - 1]->get();
    for (auto c = parent->children.begin(); c != parent->children.end();) {
      if (!c->second) c = parent->children.erase(c);
      else ++c;
    }
  }
}

bool PatternTrie::empty() const noexcept { return root_->empty(); }

namespace {

// A walk over (node, position) states. A node under '#' may also stay
// where it is and take one more word. Only those nodes can be reached twice
// (every other node has one way in: its parent), so only they are remembered:
// each state is visited once, and a match costs O(nodes × words).
struct Walk {
  const std::vector<std::string_view>& words;
  std::vector<const PatternTrie::Node*>& done;
  std::set<std::pair<const PatternTrie::Node*, std::size_t>> seen_hash;

  void visit(const PatternTrie::Node* n, bool under_hash, std::size_t i) {
    if (under_hash && !seen_hash.emplace(n, i).second) return;
    if (under_hash && i < words.size()) visit(n, true, i + 1);
    if (n->hash) visit(n->hash.get(), true, i);  // '#' may swallow zero words
    if (i == words.size()) {
      done.push_back(n);
      return;
    }
    if (auto it = n->children.find(words[i]); it != n->children.end()) visit(it->second.get(), false, i + 1);
    if (n->star) visit(n->star.get(), false, i + 1);
  }
};

}  // namespace

void PatternTrie::match(std::string_view type, std::vector<int>& out) const {
  // A Kafka lane matches every record: the scratch keeps its storage from
  // call to call (three allocations and frees a match before). The walk
  // calls nothing outside this file, so no match runs inside another.
  thread_local std::vector<std::string_view> words;
  thread_local std::vector<const Node*> ends;
  split_into(type, words);
  ends.clear();
  Walk{words, ends, {}}.visit(root_.get(), false, 0);
  std::size_t first = out.size();
  for (const Node* n : ends)
    for (int v : n->values)
      if (std::find(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), v) == out.end()) out.push_back(v);
}

}  // namespace herald
