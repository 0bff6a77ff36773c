// The Conv factory: parse the node once (conv_descriptor.hpp), take the first implementation of
// the ordered list that runs it (or the one the execution options force), and wrap it with the
// fused parts it does not take itself:
//   residual  (residual_after.hpp)  when R's shape differs from Y's or the kernel has no epilogue
//             for it: the conv without activation, then one pass adding R and activating
//   gate      (gate_before.hpp)     X * G into scratch first, unless the kernel scales weights
//   pooling   (pool_after.hpp)      the means after the conv, unless the kernel sums its rows
// The choice and the reason each earlier entry declined go to PrepareContext::dispatch.
#include <memory>
#include <string>

#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/gate_before.hpp"
#include "kernels/conv/pool_after.hpp"
#include "kernels/conv/residual_after.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

// The order is the preference: the special forms first, each general kernel of a layout last.
constexpr const ConvImplementation* kList[] = {
    &kConvNhwcBf16,     &kConvNhwcExpandDepthwise, &kConvNhwc1x1,  &kConvNhwcDepthwise,
    &kConvNhwcWinograd, &kConvNhwcDirect,          &kConvNhwcGemm, &kConvNchwDepthwise,
    &kConvNchw1x1,      &kConvNchwIm2col,
};

// The entry for `d`, with the declines before it in ctx.dispatch.
Result<const ConvImplementation*> choose(PrepareContext& ctx, const ConvDescriptor& d) {
  const ExecutionOptions& options = ctx.options;
  if (!options.conv_implementation.empty()) {
    const ConvImplementation* forced = find_conv_implementation(options.conv_implementation);
    if (forced == nullptr) {
      return invalid_argument(ctx.node.describe() + ": no Conv implementation named '" +
                              options.conv_implementation + "'");
    }
    const std::string why = forced->declines(d, options);
    if (!why.empty()) {
      return ctx.unsupported_case(std::string("the forced implementation ") + forced->name +
                                  " declines: " + why);
    }
    ctx.dispatch = std::string(forced->name) + " (forced)";
    return forced;
  }
  std::string declined;
  for (const ConvImplementation* impl : kList) {
    const std::string why = impl->declines(d, options);
    if (why.empty()) {
      ctx.dispatch = impl->name;
      if (!declined.empty()) ctx.dispatch += "; declined: " + declined;
      return impl;
    }
    declined += (declined.empty() ? "" : "; ") + std::string(impl->name) + ": " + why;
  }
  return ctx.unsupported_case("no Conv implementation runs this conv: " + declined);
}

Result<std::unique_ptr<Kernel>> make_conv(PrepareContext& ctx) {
  KEEL_ASSIGN_OR_RETURN(const ConvDescriptor d, parse_conv(ctx));
  KEEL_ASSIGN_OR_RETURN(const ConvImplementation* impl, choose(ctx, d));
  ConvBuild build;
  build.act = d.act;
  // A residual of Y's own shape goes into the kernel's epilogue where it has one; otherwise
  // the conv runs without activation and a second pass adds R and activates.
  build.residual = d.residual && d.residual_shape == d.y_shape && impl->takes_residual(d);
  const bool residual_after = d.residual && !build.residual;
  if (residual_after) build.act = ActParams{};
  build.gate = d.gate && impl->takes_gate(d);
  build.pool = d.pooled && !d.residual && impl->takes_pool(d);
  ctx.set_output(0, DataType::kFloat32, d.out_shape);
  if (d.pooled) {
    const ConvShapes& cs = d.shapes;
    ctx.set_output(ConvResult::kPooled, DataType::kFloat32,
                   d.nhwc() ? Shape{cs.batch, 1, 1, cs.cout} : Shape{cs.batch, cs.cout, 1, 1});
  }
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> conv, impl->make(ctx, d, build));
  if (residual_after) {
    conv =
        make_conv_residual_after(std::move(conv), d.y_shape, d.residual_shape, d.out_shape, d.act);
  }
  if (d.gate && !build.gate) conv = make_conv_gate_before(std::move(conv), d.x_shape, d.x_layout);
  if (d.pooled && !build.pool) {
    conv = make_conv_pool_after(std::move(conv), d.shapes.batch, d.g.out_size(), d.shapes.cout,
                                d.layout);
  }
  return conv;
}

}  // namespace

std::span<const ConvImplementation* const> conv_implementations() { return kList; }

const ConvImplementation* find_conv_implementation(const std::string& name) {
  for (const ConvImplementation* impl : kList) {
    if (name == impl->name) return impl;
  }
  return nullptr;
}

std::string declines_nhwc(const ConvDescriptor& d, bool x_nchw_ok) {
  if (!d.nhwc()) return "layout is NCHW";
  if (d.expand) return "a fused 1x1 expansion (conv_nhwc_expand_depthwise runs it)";
  if (!d.const_w) return "non-constant weights W (NHWC weights are packed at plan time)";
  if (!x_nchw_ok && d.x_nchw()) return "X is NCHW (read in place only by conv_nhwc_direct)";
  return "";
}

GemmEpilogue nhwc_conv_epilogue(const float* bias, const float* residual, int64_t ld_residual,
                                const ConvActivation& act) {
  GemmEpilogue ep;
  if (bias != nullptr) {
    ep.bias_kind = GemmBias::kPerCol;
    ep.bias = bias;
  }
  ep.residual = residual;
  ep.ld_residual = ld_residual;
  ep.act = act;
  return ep;
}

Status conv_packing_failed(const PrepareContext& ctx) {
  return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing the weights");
}

void register_conv_kernels(KernelRegistry& r) {
  r.add("Conv", &make_conv, 1);
  r.add(kFusedConv, &make_conv, 1, kNewestVettedOpset, kKeelDomain);
}

}  // namespace keel
