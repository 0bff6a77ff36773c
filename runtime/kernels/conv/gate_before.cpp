#include "kernels/conv/gate_before.hpp"

#include <algorithm>
#include <array>

#include "exec/parallel.hpp"

namespace keel {
namespace {

constexpr size_t kAlign = 64;

class ConvGateBefore final : public Kernel {
 public:
  ConvGateBefore(std::unique_ptr<Kernel> conv, const Shape& x_shape, Layout x_layout)
      : conv_(std::move(conv)),
        batch_(x_shape[0]),
        nhwc_(x_layout == Layout::kNhwc),
        channels_(nhwc_ ? x_shape[3] : x_shape[1]),
        pixels_(x_shape[2] * (nhwc_ ? x_shape[1] : x_shape[3])),
        x_bytes_((static_cast<size_t>(numel(x_shape)) * sizeof(float) + kAlign - 1) / kAlign *
                 kAlign) {}

  const char* name() const override { return conv_->name(); }
  size_t scratch_bytes() const override { return x_bytes_ + conv_->scratch_bytes(); }

  void run(const KernelRun& r) const override {
    auto* scratch = static_cast<std::byte*>(r.scratch);
    const float* x = r.in(0).as<float>();
    const float* g = r.in(ConvOperand::kGate).as<float>();
    float* xg = reinterpret_cast<float*>(scratch);
    const int64_t c = channels_, hw = pixels_;
    if (nhwc_) {
      // Rows of C channels times the row of their image's gate.
      parallel_for(batch_ * hw, c, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const float* gn = g + (p / hw) * c;
          for (int64_t k = 0; k < c; ++k) xg[p * c + k] = x[p * c + k] * gn[k];
        }
      });
    } else {
      // Planes of H*W pixels times one gate value each.
      parallel_for(batch_ * c, hw, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q) {
          const float gq = g[q];
          for (int64_t i = 0; i < hw; ++i) xg[q * hw + i] = x[q * hw + i] * gq;
        }
      });
    }
    std::array<TensorView, 8> inputs{};
    std::copy(r.inputs, r.inputs + std::min<size_t>(r.num_inputs, inputs.size()), inputs.begin());
    inputs[0].data = xg;
    KernelRun inner = r;
    inner.inputs = inputs.data();
    inner.scratch = scratch != nullptr ? scratch + x_bytes_ : nullptr;
    conv_->run(inner);
  }

 private:
  std::unique_ptr<Kernel> conv_;
  int64_t batch_;
  bool nhwc_;
  int64_t channels_, pixels_;
  size_t x_bytes_;
};

}  // namespace

Status check_conv_gate(PrepareContext& ctx, const ConvShapes& cs) {
  if (!ctx.has_input(ConvOperand::kGate)) return ctx.invalid("a gated conv without its gate");
  if (ctx.input(ConvOperand::kX).shape.size() != 4) {
    return ctx.invalid("a gated conv needs a 2-D X, got " +
                       shape_to_string(ctx.input(ConvOperand::kX).shape));
  }
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kGate, {DataType::kFloat32}, 4, 4));
  const Shape& g = ctx.input(ConvOperand::kGate).shape;
  const bool per_channel = g[0] == cs.batch && ((g[1] == cs.cin && g[2] == 1 && g[3] == 1) ||
                                                (g[1] == 1 && g[2] == 1 && g[3] == cs.cin));
  if (!per_channel) {
    return ctx.invalid("the gate " + shape_to_string(g) +
                       " must hold one value per image and input channel (" +
                       std::to_string(cs.batch) + " x " + std::to_string(cs.cin) + ")");
  }
  return Status::ok();
}

std::unique_ptr<Kernel> make_conv_gate_before(std::unique_ptr<Kernel> conv, const Shape& x_shape,
                                              Layout x_layout) {
  return std::make_unique<ConvGateBefore>(std::move(conv), x_shape, x_layout);
}

}  // namespace keel
