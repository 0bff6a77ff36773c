// The server's log: one line per event (model load and unload, errors, life cycle), as text
// or as one JSON object per line; none per successful request unless verbose.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace keel::serve {

enum class LogFormat { kText, kJson };

class Log {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  static void configure(LogFormat format, bool verbose);
  static bool verbose();
  // level: "info", "warning", "error".
  static void write(const char* level, const std::string& event, const Fields& fields = {});
};

}  // namespace keel::serve
