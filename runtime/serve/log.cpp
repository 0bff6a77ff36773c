#include "serve/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace keel::serve {

namespace {
LogFormat g_format = LogFormat::kText;
bool g_verbose = false;
std::mutex g_mutex;

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // room for any int fields: GCC checks the worst case
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}
}  // namespace

void Log::configure(LogFormat format, bool verbose) {
  g_format = format;
  g_verbose = verbose;
}

bool Log::verbose() { return g_verbose; }

void Log::write(const char* level, const std::string& event, const Fields& fields) {
  std::string line;
  if (g_format == LogFormat::kJson) {
    nlohmann::json j = {{"time", timestamp()}, {"level", level}, {"event", event}};
    for (const auto& [k, v] : fields) j[k] = v;
    // Names from the network may hold any bytes: replace what is not UTF-8.
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = timestamp() + " " + level + " " + event;
    for (const auto& [k, v] : fields) line += " " + k + "=" + v;
  }
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace keel::serve
