#include "core/npy.hpp"
#include "fuzz_targets.hpp"

namespace keel::fuzz {

int npy(const uint8_t* data, size_t size) {
  auto tensor = parse_npy(data, size, "fuzz input");
  if (tensor.is_ok() && tensor->numel() > 0) {
    // Touch every byte the reader says it owns (ASan checks the bounds).
    const auto* bytes = static_cast<const volatile uint8_t*>(tensor->data());
    uint8_t sum = 0;
    for (size_t i = 0; i < tensor->nbytes(); ++i) sum = static_cast<uint8_t>(sum + bytes[i]);
    (void)sum;
  }
  return 0;
}

}  // namespace keel::fuzz
