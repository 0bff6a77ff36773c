#include "keel/version.hpp"

namespace keel {

const char* version() { return KEEL_VERSION_STRING; }

}  // namespace keel
