#include "kernels/conv_pool.hpp"

#include "exec/parallel.hpp"
#include "kernels/channel_sums.hpp"

namespace keel {
namespace {

class ConvPoolAfter final : public Kernel {
 public:
  ConvPoolAfter(std::unique_ptr<Kernel> conv, int64_t batch, int64_t pixels, int64_t channels,
                Layout layout)
      : conv_(std::move(conv)),
        batch_(batch),
        pixels_(pixels),
        channels_(channels),
        nhwc_(layout == Layout::kNhwc) {}

  const char* name() const override { return conv_->name(); }
  size_t scratch_bytes() const override { return conv_->scratch_bytes(); }

  void run(const KernelRun& r) const override {
    KernelRun inner = r;
    inner.num_outputs = 1;
    conv_->run(inner);
    const float* y = r.out(0).as<float>();
    float* means = r.out(1).as<float>();
    const int64_t c = channels_, hw = pixels_;
    const auto d_hw = static_cast<double>(hw);
    if (nhwc_) {
      constexpr int64_t kBlock = 32;
      const int64_t blocks = (c + kBlock - 1) / kBlock;
      parallel_for(batch_ * blocks, hw * kBlock, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n = t / blocks, c0 = (t % blocks) * kBlock;
          const int64_t len = std::min(kBlock, c - c0);
          double s[kBlock] = {};
          add_channel_sums(y + n * hw * c + c0, hw, c, len, s);
          for (int64_t k = 0; k < len; ++k) means[n * c + c0 + k] = static_cast<float>(s[k] / d_hw);
        }
      });
      return;
    }
    parallel_for(batch_ * c, hw, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        double s = 0.0;
        for (int64_t i = 0; i < hw; ++i) s += y[q * hw + i];
        means[q] = static_cast<float>(s / d_hw);
      }
    });
  }

 private:
  std::unique_ptr<Kernel> conv_;
  int64_t batch_, pixels_, channels_;
  bool nhwc_;
};

}  // namespace

void pooled_means_from_rows(double* row_sums, int64_t batch, int64_t rows, int64_t pixels,
                            int64_t channels, float* means) {
  const auto d_pixels = static_cast<double>(pixels);
  for (int64_t n = 0; n < batch; ++n) {
    double* first = row_sums + n * rows * channels;  // the image's sums, accumulated in place
    for (int64_t r = 1; r < rows; ++r) {
      const double* row = first + r * channels;
      for (int64_t k = 0; k < channels; ++k) first[k] += row[k];
    }
    for (int64_t k = 0; k < channels; ++k) {
      means[n * channels + k] = static_cast<float>(first[k] / d_pixels);
    }
  }
}

std::unique_ptr<Kernel> make_conv_pool_after(std::unique_ptr<Kernel> conv, int64_t batch,
                                             int64_t pixels, int64_t channels, Layout layout) {
  return std::make_unique<ConvPoolAfter>(std::move(conv), batch, pixels, channels, layout);
}

}  // namespace keel
