// Diagnostics chosen by the environment: KEEL_VERBOSE is a comma-separated list of topics
// ("dispatch": each implementation choice at plan time, with the reasons of the declines;
// "all": every topic). Lines go to stderr, prefixed "keel: <topic>: ".
#pragma once

#include <string_view>

namespace keel {

enum class VerboseTopic { kDispatch };

// Read once, on first use.
bool verbose_enabled(VerboseTopic topic);
void verbose_print(VerboseTopic topic, std::string_view line);

}  // namespace keel
