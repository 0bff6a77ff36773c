#include "kernels/conv/pool_after.hpp"

#include "kernels/global_average_pool.hpp"

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
    global_average_pool(r.out(0).as<float>(), batch_, pixels_, channels_, nhwc_,
                        r.out(ConvResult::kPooled).as<float>());
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
