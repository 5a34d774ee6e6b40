#include "topic_naming.hpp"

namespace herald::kafka {

namespace {

constexpr std::string_view retry_infix = ".retry.";
constexpr std::string_view dlq_suffix = ".dlq";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Escapes the characters of a topic name that mean something in librdkafka's regex.
std::string regex_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '.') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string topic_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      c = '_';
  return out;
}

TopicNaming::TopicNaming(const KafkaOptions& options)
    : prefix_(options.topic_prefix), rule_(options.topic_rule), single_(options.topic_prefix + options.topic) {}

std::string TopicNaming::event_topic(std::string_view type) const {
  if (rule_ == TopicRule::single) return single_;
  return prefix_ + topic_safe(type.substr(0, type.find('.')));
}

std::string TopicNaming::retry_topic(const std::string& event_topic, const std::string& group_id) const {
  return event_topic + std::string(retry_infix) + topic_safe(group_id);
}

std::string TopicNaming::dlq_topic(const std::string& event_topic) const { return event_topic + std::string(dlq_suffix); }

bool TopicNaming::is_event_topic(std::string_view topic) const {
  if (rule_ == TopicRule::single) return topic == single_;
  if (topic.size() <= prefix_.size() || topic.substr(0, prefix_.size()) != prefix_) return false;
  return topic.substr(prefix_.size()).find('.') == std::string_view::npos;
}

bool TopicNaming::is_dlq_topic(std::string_view topic) const {
  return ends_with(topic, dlq_suffix) && is_event_topic(topic.substr(0, topic.size() - dlq_suffix.size()));
}

TopicSelection TopicNaming::select(std::string_view pattern, const std::string& group_id) const {
  TopicSelection s;
  s.group_id = group_id;
  std::string_view first = pattern.substr(0, pattern.find('.'));
  if (rule_ == TopicRule::single) s.event_topic = single_;
  else if (first != "*" && first != "#") s.event_topic = event_topic(first);
  return s;
}

std::vector<std::string> TopicNaming::subscription(const TopicSelection& s) const {
  if (!s.event_topic.empty()) return {s.event_topic, retry_topic(s.event_topic, s.group_id)};
  // librdkafka treats names starting with '^' as regular expressions and
  // re-evaluates them at every metadata refresh.
  const std::string family = "^" + regex_escape(prefix_) + "[^.]+";
  return {family + "$", family + regex_escape(retry_infix) + regex_escape(topic_safe(s.group_id)) + "$"};
}

bool TopicNaming::selected(const TopicSelection& s, std::string_view topic) const {
  if (!s.event_topic.empty()) return topic == s.event_topic || topic == retry_topic(s.event_topic, s.group_id);
  if (is_event_topic(topic)) return true;
  const std::string suffix = std::string(retry_infix) + topic_safe(s.group_id);
  return ends_with(topic, suffix) && is_event_topic(topic.substr(0, topic.size() - suffix.size()));
}

}  // namespace herald::kafka
