// One libFuzzer executable per target: KEEL_FUZZ_TARGET names the function (fuzz_targets.hpp).
#include "fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return keel::fuzz::KEEL_FUZZ_TARGET(data, size);
}
