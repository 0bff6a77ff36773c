#pragma once

namespace keel {

// "MAJOR.MINOR.PATCH" of this build.
const char* version();

}  // namespace keel
