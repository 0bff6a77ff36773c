#include "core/verbose.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace keel {
namespace {

const char* topic_name(VerboseTopic topic) {
  switch (topic) {
    case VerboseTopic::kDispatch: return "dispatch";
  }
  return "?";
}

bool listed(const std::string& list, const char* name) {
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(begin, end - begin);
    if (item == name || item == "all") return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

bool verbose_enabled(VerboseTopic topic) {
  static const std::string list = [] {
    const char* v = std::getenv("KEEL_VERBOSE");
    return std::string(v ? v : "");
  }();
  return !list.empty() && listed(list, topic_name(topic));
}

void verbose_print(VerboseTopic topic, std::string_view line) {
  static std::mutex mutex;  // whole lines, also from concurrent plans
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "keel: %s: %.*s\n", topic_name(topic), static_cast<int>(line.size()),
               line.data());
}

}  // namespace keel
