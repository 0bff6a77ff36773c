#include "kernels/global_average_pool.hpp"

#include <algorithm>

#include "exec/parallel.hpp"

namespace keel {

void global_average_pool(const float* x, int64_t batch, int64_t pixels, int64_t channels,
                         bool channels_last, float* y) {
  const auto d_pixels = static_cast<double>(pixels);
  if (!channels_last) {
    parallel_for(batch * channels, pixels, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        double s = 0.0;
        for (int64_t i = 0; i < pixels; ++i) s += x[q * pixels + i];
        y[q] = static_cast<float>(s / d_pixels);
      }
    });
    return;
  }
  // One task per (image, block of 32 channels): EfficientNet's 32 to 1152 are multiples of 16,
  // most of 32.
  constexpr int64_t kBlock = 32;
  const int64_t blocks = (channels + kBlock - 1) / kBlock;
  parallel_for(batch * blocks, pixels * kBlock, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / blocks, c0 = (t % blocks) * kBlock;
      const int64_t len = std::min(kBlock, channels - c0);
      double s[kBlock] = {};
      add_channel_sums(x + n * pixels * channels + c0, pixels, channels, len, s);
      for (int64_t k = 0; k < len; ++k)
        y[n * channels + c0 + k] = static_cast<float>(s[k] / d_pixels);
    }
  });
}

}  // namespace keel
