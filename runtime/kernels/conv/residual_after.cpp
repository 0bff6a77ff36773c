#include "kernels/conv/residual_after.hpp"

#include <algorithm>
#include <array>

#include "exec/parallel.hpp"
#include "kernels/broadcast.hpp"

namespace keel {
namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// y[i] = act(c[i] + r[i]) over one broadcast run (c and r advance by their strides). Relu and
// Clip get loops of their own so they vectorize; the rest go through activate_scalar.
void add_activate(const float* c, int64_t cs, const float* r, int64_t rs, float* y, int64_t len,
                  const ActParams& act) {
  if (cs == 1 && rs == 1) {
    for (int64_t i = 0; i < len; ++i) y[i] = c[i] + r[i];
  } else if (cs == 1) {
    const float rv = r[0];
    for (int64_t i = 0; i < len; ++i) y[i] = c[i] + rv;
  } else if (rs == 1) {
    const float cv = c[0];
    for (int64_t i = 0; i < len; ++i) y[i] = cv + r[i];
  } else {
    const float v = c[0] + r[0];
    for (int64_t i = 0; i < len; ++i) y[i] = v;
  }
  switch (act.kind) {
    case ActKind::kNone: return;
    case ActKind::kRelu:
      for (int64_t i = 0; i < len; ++i) y[i] = std::max(y[i], 0.0f);
      return;
    case ActKind::kClip:
      for (int64_t i = 0; i < len; ++i) y[i] = std::min(std::max(y[i], act.lo), act.hi);
      return;
    default:
      for (int64_t i = 0; i < len; ++i) y[i] = activate_scalar(y[i], act);
  }
}

class ConvResidualAfter final : public Kernel {
 public:
  ConvResidualAfter(std::unique_ptr<Kernel> conv, const Shape& conv_shape, const Shape& r_shape,
                    const Shape& out_shape, const ActParams& act)
      : conv_(std::move(conv)),
        conv_shape_(conv_shape),
        to_scratch_(conv_shape != out_shape),
        conv_bytes_(to_scratch_ ? round_up(static_cast<size_t>(numel(conv_shape)) * 4) : 0),
        layout_(make_broadcast_layout<2>({&conv_shape_, &r_shape}, out_shape)),
        act_(act) {}

  const char* name() const override { return conv_->name(); }
  size_t scratch_bytes() const override { return conv_bytes_ + conv_->scratch_bytes(); }

  void run(const KernelRun& r) const override {
    auto* scratch = static_cast<std::byte*>(r.scratch);
    float* y = r.out(0).as<float>();
    float* c = to_scratch_ ? reinterpret_cast<float*>(scratch) : y;
    TensorView conv_out = r.out(0);
    conv_out.data = c;
    conv_out.shape = &conv_shape_;
    conv_out.numel = numel(conv_shape_);
    KernelRun inner = r;
    inner.outputs = &conv_out;
    inner.num_outputs = 1;
    inner.scratch = scratch != nullptr ? scratch + conv_bytes_ : nullptr;
    conv_->run(inner);
    const float* res = r.in(ConvOperand::kResidual).as<float>();
    const BroadcastLayout<2>& l = layout_;
    const int64_t cs = l.inner_stride(0), rs = l.inner_stride(1);
    parallel_for(l.numel, 1, [&](int64_t begin, int64_t end) {
      for_each_segment(l, begin, end, [&](int64_t o, const std::array<int64_t, 2>& in, int64_t n) {
        add_activate(c + in[0], cs, res + in[1], rs, y + o, n, act_);
      });
    });
  }

 private:
  std::unique_ptr<Kernel> conv_;
  Shape conv_shape_;
  bool to_scratch_;
  size_t conv_bytes_;
  BroadcastLayout<2> layout_;
  ActParams act_;
};

}  // namespace

std::unique_ptr<Kernel> make_conv_residual_after(std::unique_ptr<Kernel> conv,
                                                 const Shape& conv_shape, const Shape& r_shape,
                                                 const Shape& out_shape, const ActParams& act) {
  return std::make_unique<ConvResidualAfter>(std::move(conv), conv_shape, r_shape, out_shape, act);
}

}  // namespace keel
