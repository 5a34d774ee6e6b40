#include "herald/pattern.hpp"

#include <algorithm>
#include <array>
#include <map>

#include "herald/errors.hpp"

namespace herald {

namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    words.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return words;
}

bool match_words(const std::vector<std::string_view>& p, std::size_t i, const std::vector<std::string_view>& t,
                 std::size_t j) {
  if (i == p.size()) return j == t.size();
  if (p[i] == "#") {
    for (std::size_t k = j; k <= t.size(); ++k)
      if (match_words(p, i + 1, t, k)) return true;
    return false;
  }
  if (j == t.size()) return false;
  if (p[i] == "*" || p[i] == t[j]) return match_words(p, i + 1, t, j + 1);
  return false;
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
  return match_words(split(pattern), 0, split(type), 0);
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
  for (auto w : split(pattern)) {
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
  auto words = split(pattern);
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

void collect(const PatternTrie::Node* n, const std::vector<std::string_view>& words, std::size_t i,
             std::vector<const PatternTrie::Node*>& done) {
  // '#' may swallow zero words: try its subtree at this same position.
  if (n->hash) {
    for (std::size_t k = i; k <= words.size(); ++k) collect(n->hash.get(), words, k, done);
  }
  if (i == words.size()) {
    done.push_back(n);
    return;
  }
  if (auto it = n->children.find(words[i]); it != n->children.end()) collect(it->second.get(), words, i + 1, done);
  if (n->star) collect(n->star.get(), words, i + 1, done);
}

}  // namespace

void PatternTrie::match(std::string_view type, std::vector<int>& out) const {
  std::vector<std::string_view> words = split(type);
  std::vector<const Node*> ends;
  collect(root_.get(), words, 0, ends);
  std::size_t first = out.size();
  for (const Node* n : ends)
    for (int v : n->values)
      if (std::find(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), v) == out.end()) out.push_back(v);
}

}  // namespace herald
