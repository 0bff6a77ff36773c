#include "kernels/conv/conv_descriptor.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "kernels/broadcast.hpp"
#include "kernels/conv/gate_before.hpp"

namespace keel {
namespace {

// A depthwise FusedConv carrying the 1x1 expansion before it (kernels/conv/expand_depthwise.hpp):
// X is the expansion's input [N, H, W, C_in], the expansion's W [C, C_in, 1, 1] and optional
// bias, then the depthwise W [C, 1, kH, kW] and bias.
Status parse_expansion(PrepareContext& ctx, ConvDescriptor& d) {
  if (d.layout != Layout::kNhwc || ctx.node.decisions.has_input_layout) {
    return ctx.invalid("an expanded depthwise conv needs NHWC data");
  }
  if (ctx.num_inputs() > ConvOperand::kCount || d.residual || d.gate) {
    return ctx.invalid("an expanded depthwise conv takes X, W, B, the expansion's W and B");
  }
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kX, {DataType::kFloat32}, 4, 4));
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kW, {DataType::kFloat32}, 4, 4));
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kExpandW, {DataType::kFloat32}, 4, 4));
  const Shape& x = ctx.input(ConvOperand::kX).shape;
  const Shape& wds = ctx.input(ConvOperand::kW).shape;
  const Shape& wes = ctx.input(ConvOperand::kExpandW).shape;
  const int64_t c = wds[0];
  KEEL_ASSIGN_OR_RETURN(const int64_t group, ctx.node.attr_int("group", 1));
  if (c < 1 || wds[1] != 1 || wds[2] < 1 || wds[3] < 1 || group != c || wes[0] != c ||
      wes[1] != x[3] || wes[2] != 1 || wes[3] != 1) {
    return ctx.invalid("expansion W " + shape_to_string(wes) + " and depthwise W " +
                       shape_to_string(wds) + " (group " + std::to_string(group) +
                       ") do not fit X " + shape_to_string(x));
  }
  for (size_t i : {size_t{ConvOperand::kBias}, size_t{ConvOperand::kExpandBias}}) {
    if (!ctx.has_input(i)) continue;
    KEEL_RETURN_IF_ERROR(ctx.check_input(i, {DataType::kFloat32}, 1, 1));
    if (ctx.input(i).shape[0] != c) {
      return ctx.invalid(std::string(i == ConvOperand::kBias ? "bias " : "expansion bias ") +
                         shape_to_string(ctx.input(i).shape) + " must have " + std::to_string(c) +
                         " values");
    }
  }
  if (x[1] < 1 || x[2] < 1) {
    return ctx.unsupported_case("empty spatial input " + shape_to_string(x));
  }
  ConvShapes& cs = d.shapes;
  cs.batch = x[0];
  cs.cin = cs.cout = cs.group = c;
  cs.cin_g = cs.cout_g = 1;
  cs.in_spatial = {x[1], x[2]};
  cs.kernel = {wds[2], wds[3]};
  cs.has_bias = ctx.has_input(ConvOperand::kBias);
  d.expand_cin = x[3];
  d.const_expand_w = ctx.input(ConvOperand::kExpandW).value != nullptr;
  d.expand_act = ctx.node.decisions.expand_activation;
  return Status::ok();
}

}  // namespace

Status check_conv_inputs(PrepareContext& ctx, bool transpose, Layout x_layout, ConvShapes& cs) {
  // A FusedConv carries the operands fusions added (graph/fused_ops.hpp); a standard Conv or
  // ConvTranspose X, W and an optional B. The expansion's operands are
  // parse_expansion's.
  const bool fused = ctx.node.op_type == kFusedConv;
  const size_t max_inputs = fused ? ConvOperand::kGate + 1 : ConvOperand::kBias + 1;
  if (ctx.num_inputs() < 2 || ctx.num_inputs() > max_inputs) {
    return ctx.invalid("expected 2 to " + std::to_string(max_inputs) + " inputs, got " +
                       std::to_string(ctx.num_inputs()));
  }
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kX, {DataType::kFloat32}, 3, 64));
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kW, {DataType::kFloat32}, 3, 64));
  const Shape& x = ctx.input(ConvOperand::kX).shape;
  const Shape& w = ctx.input(ConvOperand::kW).shape;
  const bool nhwc = x_layout == Layout::kNhwc;
  if (nhwc && x.size() != 4) {
    return ctx.invalid("X " + shape_to_string(x) + " must have rank 4 in the NHWC layout");
  }
  if (w.size() != x.size()) {
    return ctx.invalid("W " + shape_to_string(w) + " and X " + shape_to_string(x) +
                       " must have the same rank");
  }
  const size_t nsp = x.size() - 2;
  if (nsp > kMaxSpatial) {
    return ctx.unsupported_case(std::to_string(nsp) + "-D convolution (at most 3-D supported)");
  }
  KEEL_ASSIGN_OR_RETURN(cs.group, ctx.node.attr_int("group", 1));
  if (cs.group < 1) return ctx.invalid("group " + std::to_string(cs.group) + " must be >= 1");
  cs.batch = x[0];
  // NHWC: channels last, spatial dims in between.
  cs.cin = nhwc ? x[3] : x[1];
  if (cs.cin % cs.group != 0) {
    return ctx.invalid("X has " + std::to_string(cs.cin) + " channels, not divisible by group " +
                       std::to_string(cs.group));
  }
  cs.cin_g = cs.cin / cs.group;
  if (!transpose) {
    if (w[0] % cs.group != 0 || w[1] != cs.cin_g) {
      return ctx.invalid("W " + shape_to_string(w) + " does not match X " + shape_to_string(x) +
                         " with group " + std::to_string(cs.group) +
                         " (expected W[1] = C/group and W[0] divisible by group)");
    }
    cs.cout = w[0];
    cs.cout_g = w[0] / cs.group;
  } else {
    if (w[0] != cs.cin) {
      return ctx.invalid("W " + shape_to_string(w) + " must have X's channel count " +
                         std::to_string(cs.cin) + " as its first dim");
    }
    cs.cout_g = w[1];
    cs.cout = w[1] * cs.group;
  }
  if (nhwc) {
    cs.in_spatial.assign(x.begin() + 1, x.end() - 1);
  } else {
    cs.in_spatial.assign(x.begin() + 2, x.end());
  }
  cs.kernel.assign(w.begin() + 2, w.end());
  for (int64_t v : cs.in_spatial) {
    if (v < 1) return ctx.unsupported_case("empty spatial input " + shape_to_string(x));
  }
  for (int64_t v : cs.kernel) {
    if (v < 1) return ctx.invalid("W " + shape_to_string(w) + " has an empty kernel dim");
  }
  if (cs.cout < 1 || cs.batch < 0) return ctx.invalid("empty W " + shape_to_string(w));
  std::vector<int64_t> attr_kernel;
  bool has_kernel_attr = false;
  KEEL_RETURN_IF_ERROR(read_kernel_shape(ctx, nsp, false, attr_kernel, has_kernel_attr));
  if (has_kernel_attr && attr_kernel != cs.kernel) {
    return ctx.invalid("kernel_shape " + ints_to_string(attr_kernel) +
                       " does not match W's spatial dims " + ints_to_string(cs.kernel));
  }
  cs.has_bias = ctx.has_input(ConvOperand::kBias);
  if (cs.has_bias) {
    KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kBias, {DataType::kFloat32}, 1, 1));
    if (ctx.input(ConvOperand::kBias).shape[0] != cs.cout) {
      return ctx.invalid("B " + shape_to_string(ctx.input(ConvOperand::kBias).shape) +
                         " must have " + std::to_string(cs.cout) + " values (output channels)");
    }
  }
  return Status::ok();
}

std::string ConvDescriptor::why_not_unit_window() const {
  const auto ones = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 1; });
  };
  const auto zeros = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 0; });
  };
  if (!ones(window.kernel)) return "kernel " + ints_to_string(window.kernel);
  if (!ones(window.strides)) return "strides " + ints_to_string(window.strides);
  if (!zeros(window.pads_begin) || !zeros(window.pads_end)) {
    std::vector<int64_t> pads = window.pads_begin;
    pads.insert(pads.end(), window.pads_end.begin(), window.pads_end.end());
    return "pads " + ints_to_string(pads);
  }
  return "";
}

Result<ConvDescriptor> parse_conv(PrepareContext& ctx) {
  ConvDescriptor d;
  const Node& node = ctx.node;
  d.layout = node_layout(node);
  d.x_layout = node_input_layout(node);
  d.act = node.decisions.activation;
  d.precision = node.decisions.precision;
  d.residual = has_conv_operand(node, ConvOperand::kResidual);
  d.gate = has_conv_operand(node, ConvOperand::kGate);
  d.expand = has_conv_operand(node, ConvOperand::kExpandW);
  d.pooled = node.op_type == kFusedConv && node.has_output(ConvResult::kPooled);
  ConvShapes& cs = d.shapes;
  if (d.expand) {
    KEEL_RETURN_IF_ERROR(parse_expansion(ctx, d));
  } else {
    KEEL_RETURN_IF_ERROR(check_conv_inputs(ctx, false, d.x_layout, cs));
    // The one mixed case: a 2-D NHWC conv reading an NCHW X in place.
    if (d.x_layout != d.layout && (d.x_layout != Layout::kNchw || cs.in_spatial.size() != 2)) {
      return ctx.invalid(std::string("input layout ") + layout_name(d.x_layout) +
                         " needs a 2-D conv marked NHWC, got " + layout_name(d.layout) + " X " +
                         shape_to_string(ctx.input(ConvOperand::kX).shape));
    }
  }
  d.x_shape = ctx.input(ConvOperand::kX).shape;
  d.const_w = ctx.input(ConvOperand::kW).value != nullptr;
  KEEL_RETURN_IF_ERROR(read_window(ctx, cs.in_spatial, cs.kernel, true, d.window));
  KEEL_RETURN_IF_ERROR(compute_forward_output(ctx, false, d.window));
  d.g = to_geometry3(d.window);
  d.y_shape = {cs.batch};
  if (!d.nhwc()) d.y_shape.push_back(cs.cout);
  d.y_shape.insert(d.y_shape.end(), d.window.out.begin(), d.window.out.end());
  if (d.nhwc()) d.y_shape.push_back(cs.cout);
  // The second shape is the im2col buffer of the NCHW fallback (or the expanded image).
  const Shape work = d.expand ? Shape{cs.batch, cs.in_spatial[0], cs.in_spatial[1], cs.cout}
                              : Shape{cs.cin_g, d.g.k_size(), d.g.out_size()};
  KEEL_RETURN_IF_ERROR(check_sizes(ctx, {d.y_shape, work}));
  d.out_shape = d.y_shape;
  if (d.gate) KEEL_RETURN_IF_ERROR(check_conv_gate(ctx, cs));
  const size_t max_outputs = d.pooled ? ConvResult::kCount : ConvResult::kPooled;
  if (node.outputs.size() > max_outputs) {
    return ctx.invalid("expected " + std::string(d.pooled ? "2 outputs" : "1 output") + ", got " +
                       std::to_string(node.outputs.size()));
  }
  if (d.pooled && d.y_shape.size() != 4) return ctx.invalid("a pooled result needs a 2-D conv");
  if (d.residual) {
    KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kResidual, {DataType::kFloat32}));
    d.residual_shape = ctx.input(ConvOperand::kResidual).shape;
    const std::optional<Shape> out = broadcast_shapes(d.y_shape, d.residual_shape);
    if (!out) {
      return ctx.invalid("the residual " + shape_to_string(d.residual_shape) +
                         " does not broadcast with the convolution's output " +
                         shape_to_string(d.y_shape));
    }
    KEEL_RETURN_IF_ERROR(check_sizes(ctx, {*out}));
    d.out_shape = *out;
  }
  return d;
}

}  // namespace keel
