// Window geometry shared by Conv, ConvTranspose and the pooling ops: attribute parsing
// (kernel_shape, strides, dilations, pads, auto_pad) with validation, output sizes, and the
// fixed 3-D form every kernel walks (one struct for convolutions and pools alike).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "kernels/kernel.hpp"

namespace keel {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowGeometry {
  std::vector<int64_t> in;      // input spatial dims
  std::vector<int64_t> kernel;  // kernel spatial dims
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  std::vector<int64_t> out;  // output spatial dims
  AutoPad auto_pad = AutoPad::kNotSet;

  size_t rank() const { return in.size(); }
};

// Reads auto_pad (NOTSET, SAME_UPPER, SAME_LOWER, VALID).
Result<AutoPad> read_auto_pad(const PrepareContext& ctx);

// Reads strides, dilations (when `dilations_allowed`) and pads for a window of `kernel` over
// `in`; checks sizes and ranges. Fills everything but `out`.
Status read_window(const PrepareContext& ctx, const std::vector<int64_t>& in,
                   const std::vector<int64_t>& kernel, bool dilations_allowed, WindowGeometry& g);

// Output sizes of a forward window (Conv, pools): resolves auto_pad into pads, applies
// ceil_mode (the last window must start inside the left-padded input) and checks every output
// dim is >= 1.
Status compute_forward_output(const PrepareContext& ctx, bool ceil_mode, WindowGeometry& g);

// Reads kernel_shape as a list of positive ints of `rank` entries (present must be true when
// the attribute is required).
Status read_kernel_shape(const PrepareContext& ctx, size_t rank, bool required,
                         std::vector<int64_t>& kernel, bool& present);

// [lo, hi): the output positions o with 0 <= o * stride + offset < in, clamped to [0, out).
void valid_output_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t& lo,
                        int64_t& hi);

std::string ints_to_string(const std::vector<int64_t>& v);

// At most 3 spatial dims (1-D to 3-D windows).
constexpr size_t kMaxSpatial = 3;

// Geometry padded to 3 spatial dims (leading dims of size 1, stride 1, no padding).
struct Geometry3 {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0},
      pe{0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};
Geometry3 to_geometry3(const WindowGeometry& g);

// The 2-D window of g (its last two dims; a Geometry3 or a pooling geometry, which name the
// fields alike) into a per-ISA ukernel's parameters, which name theirs alike too
// (DwConvParams, DirectConvParams, PoolParams).
template <class Params, class Geometry>
void set_window_2d(Params& p, const Geometry& g) {
  p.in_h = g.in[1];
  p.in_w = g.in[2];
  p.out_w = g.out[2];
  p.k_h = g.k[1];
  p.k_w = g.k[2];
  p.stride_h = g.s[1];
  p.stride_w = g.s[2];
  p.dil_h = g.d[1];
  p.dil_w = g.d[2];
  p.pad_t = g.pb[1];
  p.pad_l = g.pb[2];
}

// INVALID_MODEL when any shape has more than 2^40 elements (or overflows).
Status check_sizes(const PrepareContext& ctx, const std::vector<Shape>& shapes);

}  // namespace keel
